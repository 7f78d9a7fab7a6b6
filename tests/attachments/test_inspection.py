"""Upload validation by content: each refusal names its reason; nothing is judged by name."""

import gzip
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from vulndesk.attachments.inspection import UploadRefused, image_reencoded, inspect_upload, safe_filename


def _inspect(data: bytes):
    return inspect_upload(io.BytesIO(data), len(data))


def _png(size=(4, 4), exif: bytes | None = None, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    if exif is not None:
        image.save(buffer, format=fmt, exif=exif)
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("data", "kind"), [
    (b"GET /search?q=' OR 1=1-- HTTP/1.1\nHost: example.org\n", "text"),
    ("Unicode text: Grüße, 日本語\n".encode(), "text"),
    (b"log line with <script>alert(1)</script> in the middle\n", "text"),
    (_png(), "png"),
    (_png(fmt="JPEG"), "jpeg"),
    (_png(fmt="GIF"), "gif"),
    (_png(fmt="WEBP"), "webp"),
    (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "pdf"),
    (_zip({"poc.py": b"print('poc')\n"}), "zip"),
    (gzip.compress(b"tar contents" * 10, mtime=0), "gzip"),
    (b"\xd4\xc3\xb2\xa1" + b"\x00" * 20, "pcap"),
])
def test_allowed_types_are_recognised_by_content(data, kind):
    assert _inspect(data).kind == kind


@pytest.mark.parametrize(("data", "reason"), [
    (b"MZ\x90\x00" + b"\x00" * 100, "Windows executable"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "Linux executable"),
    (b"#!/bin/sh\nrm -rf /\n", "interpreter line"),
    (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML, SVG and XML"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "HTML, SVG and XML"),
    (b"\xef\xbb\xbf<html><body>x</body></html>", "HTML, SVG and XML"),
    (b"\x00\x01\x02binary blob", "not accepted"),
    (b"\xff\xfe\xfa invalid utf-8 \xc3\x28", "not accepted"),
    (b"", "empty"),
])
def test_refused_types_give_a_reason(data, reason):
    with pytest.raises(UploadRefused, match=reason):
        _inspect(data)


def test_a_renamed_executable_is_refused_whatever_its_name():
    # The name plays no part: the content is a PE executable.
    with pytest.raises(UploadRefused, match="executable"):
        inspect_upload(io.BytesIO(b"MZ" + b"\x00" * 500), 502)


def test_an_oversized_file_is_refused(settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(UploadRefused, match="larger than"):
        _inspect(b"a" * 1001)


def test_a_png_with_a_zip_appended_is_refused_as_a_polyglot():
    with pytest.raises(UploadRefused, match="polyglot"):
        _inspect(_png() + _zip({"payload.class": b"x"}))


def test_a_classic_zip_bomb_is_refused_quickly():
    bomb = _zip({f"zeros{i}.bin": b"\x00" * (30 * 1024 * 1024) for i in range(10)})
    assert len(bomb) < 1024 * 1024
    with pytest.raises(UploadRefused, match="zip bomb"):
        _inspect(bomb)


def test_a_highly_compressed_entry_is_refused_by_ratio():
    with pytest.raises(UploadRefused, match="zip bomb"):
        _inspect(_zip({"zeros.bin": b"\x00" * (5 * 1024 * 1024)}))


def _zip_lying_about_size(real: bytes, declared: int) -> bytes:
    """A one-entry ZIP whose headers declare ``declared`` bytes but whose data inflates to ``real``."""
    data = zlib.compress(real)[2:-4]  # raw deflate
    name = b"a.txt"
    crc = zlib.crc32(real)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), declared, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), declared,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def test_a_zip_that_lies_about_its_unpacked_size_is_refused():
    liar = _zip_lying_about_size(b"A" * 200_000 + bytes(range(256)) * 100, declared=10)
    with pytest.raises(UploadRefused):
        _inspect(liar)


def test_an_archive_inside_an_archive_is_refused():
    inner = _zip({"x.txt": b"hello" * 10})
    with pytest.raises(UploadRefused, match="inside archives"):
        _inspect(_zip({"inner.zip": inner}, compression=zipfile.ZIP_STORED))


def test_a_zip_with_too_many_entries_is_refused(settings):
    settings.ATTACHMENT_ARCHIVE_LIMITS = {**settings.ATTACHMENT_ARCHIVE_LIMITS, "max_entries": 5}
    with pytest.raises(UploadRefused, match="more than 5 entries"):
        _inspect(_zip({f"f{i}.txt": b"x" for i in range(6)}))


def test_a_gzip_bomb_is_refused(settings):
    settings.ATTACHMENT_ARCHIVE_LIMITS = {**settings.ATTACHMENT_ARCHIVE_LIMITS, "max_unpacked_bytes": 1024 * 1024}
    with pytest.raises(UploadRefused, match="gzip bomb"):
        _inspect(gzip.compress(b"\x00" * (3 * 1024 * 1024)))


def test_a_damaged_zip_is_refused():
    with pytest.raises(UploadRefused, match="damaged"):
        _inspect(b"PK\x03\x04" + b"\x00" * 40)


@pytest.mark.parametrize(("name", "expected"), [
    ("../../settings.py", "settings.py"),
    ("..\\..\\windows\\system32\\evil.dll", "evil.dll"),
    ("/etc/passwd", "passwd"),
    ("a\r\nX-Injected: y\".txt", "aX-Injected_ y_.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"),
    ("%252e%252e%252fetc", "%252e%252e%252fetc"),
    ("", "attachment"),
    ("...", "attachment"),
    ("x" * 300 + ".txt", "x" * 92 + ".txt"),
])
def test_filenames_are_sanitised(name, expected):
    assert safe_filename(name) == expected


def test_reencoding_a_jpeg_drops_its_gps_exif():
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (59.0, 54.0, 0.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"  # Make
    original = _png(size=(8, 8), exif=exif.tobytes(), fmt="JPEG")
    assert b"PhoneMaker" in original
    cleaned = image_reencoded(io.BytesIO(original), "jpeg").getvalue()
    assert b"PhoneMaker" not in cleaned
    assert Image.open(io.BytesIO(cleaned)).getexif().get(0x8825) is None
