"""What an uploaded file really is, decided by its content, never by its name or the browser's
Content-Type. Pure: reads from a file object in bounded chunks, touches no database.

Allowed (ASVS V5.1.1): plain text (logs, source, requests), PNG, JPEG, GIF, WebP, PDF, ZIP,
gzip (e.g. .tar.gz) and packet captures. Refused with a reason: executables, HTML/SVG/XML
documents, anything unrecognised, archives that would unpack past the limits (zip bombs),
nested archives, archives whose entries lie about their size, and polyglots (an image or PDF
that is also a ZIP).
"""

import codecs
import gzip
import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

from django.conf import settings

CHUNK = 1024 * 1024


class UploadRefused(ValueError):
    """The file cannot be accepted; the message says why and what to do instead."""


@dataclass(frozen=True)
class Inspection:
    kind: str  # text, png, jpeg, gif, webp, pdf, zip, gzip, pcap
    content_type: str  # what we record; files are always served as application/octet-stream


MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpeg", "image/jpeg"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
    (b"%PDF-", "pdf", "application/pdf"),
    (b"PK\x03\x04", "zip", "application/zip"),
    (b"PK\x05\x06", "zip", "application/zip"),  # an empty ZIP
    (b"\x1f\x8b", "gzip", "application/gzip"),
    (b"\xd4\xc3\xb2\xa1", "pcap", "application/vnd.tcpdump.pcap"),
    (b"\xa1\xb2\xc3\xd4", "pcap", "application/vnd.tcpdump.pcap"),
    (b"\x0a\x0d\x0d\x0a", "pcap", "application/vnd.tcpdump.pcap"),  # pcapng
]
REFUSED_MAGIC = [
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or macOS executable"),
    (b"#!", "a script with an interpreter line"),
    (b"Rar!", "a RAR archive (use ZIP or tar.gz)"),
    (b"7z\xbc\xaf", "a 7-Zip archive (use ZIP or tar.gz)"),
]
_MARKUP_START = re.compile(rb"^\s*(<!doctype\s+html|<html|<svg|<\?xml|<script|<head|<body|<iframe)", re.IGNORECASE)
_ZIP_END = b"PK\x05\x06"
ARCHIVE_KINDS = {"zip", "gzip"}


def inspect_upload(handle, size: int) -> Inspection:
    """Classify ``handle`` (a seekable binary file of ``size`` bytes) or raise UploadRefused."""
    if size == 0:
        raise UploadRefused("The file is empty.")
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise UploadRefused(f"The file is larger than {settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB.")
    handle.seek(0)
    head = handle.read(4096)
    for magic, what in REFUSED_MAGIC:
        if head.startswith(magic):
            raise UploadRefused(f"This file is {what}; it cannot be uploaded. Describe it in the report, or put it "
                                "in a password-protected ZIP and say so.")
    kind, content_type = next(((k, t) for magic, k, t in MAGIC if head.startswith(magic)), (None, None))
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        kind, content_type = "webp", "image/webp"
    if kind is None:
        _check_text(handle, head)
        return Inspection("text", "text/plain")
    if kind in {"png", "jpeg", "gif", "webp", "pdf"}:
        _check_not_polyglot(handle, size, kind)
    if kind == "zip":
        _check_zip(handle)
    elif kind == "gzip":
        _check_gzip(handle)
    return Inspection(kind, content_type)


def _check_text(handle, head: bytes) -> None:
    if _MARKUP_START.match(head.lstrip(b"\xef\xbb\xbf")):
        raise UploadRefused("HTML, SVG and XML documents cannot be uploaded: a browser could run them. Paste the "
                            "payload into the report text, or put the file in a ZIP.")
    handle.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    while chunk := handle.read(CHUNK):
        if b"\x00" in chunk:
            raise UploadRefused("This file type is not accepted. Allowed: text, PNG, JPEG, GIF, WebP, PDF, ZIP, "
                                "tar.gz and packet captures.")
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            raise UploadRefused("This file type is not accepted (not UTF-8 text, nor a known format). Allowed: "
                                "text, PNG, JPEG, GIF, WebP, PDF, ZIP, tar.gz and packet captures.") from None


def _check_not_polyglot(handle, size: int, kind: str) -> None:
    # A ZIP is read from its end, so an image or PDF with a ZIP appended is both at once
    # (GIFAR-style): refuse it rather than serve something that is two things.
    handle.seek(max(0, size - 65_557))  # the end-of-central-directory record lies in the last 64 KiB
    if _ZIP_END in handle.read():
        raise UploadRefused(f"This {kind.upper()} file also contains a ZIP archive (a polyglot) and is refused. "
                            "Upload the image and the archive separately.")


def _check_zip(handle) -> None:
    limits = settings.ATTACHMENT_ARCHIVE_LIMITS
    handle.seek(0)
    try:
        archive = zipfile.ZipFile(handle)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadRefused("The ZIP archive is damaged and cannot be read.") from None
    if len(entries) > limits["max_entries"]:
        raise UploadRefused(f"The archive has more than {limits['max_entries']} entries.")
    declared = sum(entry.file_size for entry in entries)
    if declared > limits["max_unpacked_bytes"]:
        raise UploadRefused("The archive would unpack to more than "
                            f"{limits['max_unpacked_bytes'] // (1024 * 1024)} MB (a possible zip bomb).")
    total = 0
    for entry in entries:
        if entry.compress_size and entry.file_size / entry.compress_size > limits["max_ratio"]:
            raise UploadRefused("The archive is compressed suspiciously well (a possible zip bomb) and is refused.")
        if entry.is_dir():
            continue
        # Declared sizes can lie: stream-decompress through a counter that stops at the cap.
        try:
            with archive.open(entry) as member:
                first = True
                while chunk := member.read(CHUNK):
                    if first and _is_archive(chunk):
                        raise UploadRefused("Archives inside archives are refused; upload them one by one.")
                    first = False
                    total += len(chunk)
                    if total > limits["max_unpacked_bytes"] or total > declared:
                        raise UploadRefused("The archive unpacks to more than it declares (a zip bomb) and is refused.")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError):
            raise UploadRefused("The ZIP archive is damaged, encrypted with an unsupported method, or lies about "
                                "its contents.") from None


def _check_gzip(handle) -> None:
    limits = settings.ATTACHMENT_ARCHIVE_LIMITS
    handle.seek(0)
    total = 0
    try:
        with gzip.GzipFile(fileobj=handle) as stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > limits["max_unpacked_bytes"]:
                    raise UploadRefused("The archive would unpack to more than "
                                        f"{limits['max_unpacked_bytes'] // (1024 * 1024)} MB (a possible gzip bomb).")
    except (OSError, EOFError, zlib.error):
        raise UploadRefused("The gzip file is damaged and cannot be read.") from None


def _is_archive(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf"))


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\"'`<>:|?*;\\/]")


def safe_filename(name: str) -> str:
    """A name safe to show and to put in Content-Disposition: no directories, no control or
    bidirectional-override characters (the "gpj.exe" trick), no quotes, at most 100 chars."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cf", "Cc", "Zl", "Zp"})
    name = _UNSAFE_NAME_CHARS.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    if not name:
        return "attachment"
    if len(name) > 100:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: 95 - len(extension)] + dot + extension) if dot and len(extension) <= 10 else name[:100]
    return name


def image_reencoded(handle, kind: str) -> io.BytesIO | None:
    """Re-encode an image with Pillow: drops EXIF/GPS metadata and anything hidden after the
    image data. Returns None for non-images."""
    if kind not in {"png", "jpeg", "gif", "webp"}:
        return None
    from PIL import Image, UnidentifiedImageError

    handle.seek(0)
    try:
        with Image.open(handle) as image:
            if image.width * image.height > 50_000_000:
                raise UploadRefused("The image is too large in pixels (over 50 megapixels).")
            image.load()
            output = io.BytesIO()
            fmt = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}[kind]
            if fmt == "JPEG" and image.mode not in {"RGB", "L"}:
                image = image.convert("RGB")
            image.save(output, format=fmt)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError, SyntaxError):
        raise UploadRefused("The image is damaged and cannot be read.") from None
    output.seek(0)
    return output
