"""OpenPGP in MIME, byte for byte. Pure: no gpg, no database.

RFC 3156 (PGP/MIME): an encrypted message is ``multipart/encrypted;
protocol="application/pgp-encrypted"`` with a version part and the armored data; a signed one is
``multipart/signed; protocol="application/pgp-signature"`` whose first part is signed exactly as
it travels, with CRLF line endings (section 5). The email package re-folds and re-encodes parts,
so the signed bytes are cut out of the raw message here, by the boundary rules of RFC 2046
section 5.1.1 (the line break before a delimiter belongs to the delimiter).

After opening, the message handed to the mail parser is the outer header (minus its Content-*
fields) above the inner entity: the parser and everything after it then treat a decrypted
message exactly like one sent in the clear (attachments inside become attachments, through
the usual checks). With "protected headers" (draft-autocrypt-lamps-protected-headers) the inner
Subject replaces the placeholder outside; From and the threading headers always stay the outer
ones, which the rest of the intake matches on.

Some mailing lists and mail programs wrap the PGP/MIME part in a ``multipart/mixed`` and add a
footer (or a header) as a part of its own beside it. ``wrapped_pgp_mime`` finds such a part, at
most ``MAX_WRAPPING`` levels of ``multipart/mixed`` down, and returns the parts around it
separately: they are opened as the unprotected remainder, never as part of what was signed or
encrypted.
"""

import re
import secrets
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import MIMEPart
from email.parser import BytesHeaderParser

ENCRYPTED = "encrypted"
SIGNED = "signed"
_OPENPGP_HINT = re.compile(rb"-----BEGIN PGP |application/pgp-", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"[!-9;-~]+:")  # a header field name and its colon (RFC 5322 section 2.2)
PUBLIC_KEY_BLOCK = re.compile(rb"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----", re.S)
INLINE_MESSAGE = re.compile(r"^-----BEGIN PGP MESSAGE-----[ \t]*$.*?^-----END PGP MESSAGE-----[ \t]*$", re.S | re.M)
INLINE_SIGNED = re.compile(r"^-----BEGIN PGP SIGNED MESSAGE-----[ \t]*$.*?^-----END PGP SIGNATURE-----[ \t]*$",
                           re.S | re.M)
MAX_KEY_PARTS = 3
MAX_WRAPPING = 3  # levels of multipart/mixed looked through for a PGP/MIME part
MAX_WRAPPED_PARTS = 50  # parts of one multipart/mixed level looked at
KEY_PART_MAX_BYTES = 1024 * 1024


class MimeBroken(ValueError):
    """The PGP/MIME structure is not what RFC 3156 says; the message says what is wrong."""


def may_carry_openpgp(raw: bytes | bytearray) -> bool:
    """A fast test for every received message: only these are looked at any further."""
    return _OPENPGP_HINT.search(raw) is not None


def split_entity(raw: bytes) -> tuple[bytes, bytes]:
    """(header block, body) of a MIME entity; an entity that starts with a blank line has no
    header block."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    found = _HEADER_END.search(raw)
    if found is None:
        return raw, b""
    return raw[: found.start()], raw[found.end():]


def _content_type(header_block: bytes):
    headers = BytesHeaderParser(policy=policy.default).parsebytes(header_block + b"\r\n\r\n")
    return headers.get_content_type(), headers.get_param("protocol", "") or "", headers.get_boundary() or ""


def pgp_mime_kind(raw: bytes) -> str | None:
    """``ENCRYPTED`` or ``SIGNED`` for an RFC 3156 entity, else None."""
    try:
        content_type, protocol, _ = _content_type(split_entity(raw)[0][:256 * 1024])
    except Exception:  # the header parser on hostile input; the mail parser reports it properly
        return None
    protocol = str(protocol).strip().lower()
    if content_type == "multipart/encrypted" and protocol == "application/pgp-encrypted":
        return ENCRYPTED
    if content_type == "multipart/signed" and protocol == "application/pgp-signature":
        return SIGNED
    return None


def multipart_parts(raw: bytes) -> list[bytes]:
    """The parts of a multipart entity, as raw bytes, split at its boundary."""
    header_block, body = split_entity(raw)
    _, _, boundary = _content_type(header_block)
    if not boundary:
        raise MimeBroken("The multipart message has no boundary.")
    delimiter = re.compile(rb"(?:\r?\n|^)--" + re.escape(boundary.encode("latin-1")) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts, start = [], None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start:match.start()])
        if match.group(1):
            return parts
        start = match.end()
    raise MimeBroken("The multipart message has no closing boundary.")


@dataclass(frozen=True)
class Wrapped:
    """A PGP/MIME part found inside ``multipart/mixed`` wrapping: the part itself, its kind, how
    many levels down it was, and the parts around it (raw, in order), which it does not cover."""

    entity: bytes
    kind: str
    depth: int
    outside: tuple[bytes, ...]


def is_blank_part(part: bytes) -> bool:
    head, body = split_entity(part)
    try:
        content_type = _content_type(head)[0] if head else "text/plain"
    except Exception:
        return False
    return content_type == "text/plain" and not body.strip()


def wrapped_pgp_mime(raw: bytes) -> Wrapped | None:
    """The PGP/MIME part of a ``multipart/mixed`` message whose only PGP/MIME part it is (first,
    or among text parts a list added), looking through at most ``MAX_WRAPPING`` levels of
    ``multipart/mixed`` (each entered through its first non-blank part). None when there is no
    such part. Raises ``MimeBroken`` when there are several side by side (which one would the
    signature status speak for?), or an encrypted part sits deeper than we look."""
    entity, outside = raw, []
    for depth in range(1, MAX_WRAPPING + 1):
        try:
            content_type = _content_type(split_entity(entity)[0][:256 * 1024])[0]
        except Exception:
            return None
        if content_type != "multipart/mixed":
            return None
        try:
            parts = multipart_parts(entity)
        except MimeBroken:
            return None  # the mail parser reports the broken structure in its own words
        if len(parts) > MAX_WRAPPED_PARTS:
            return None
        kinds = [pgp_mime_kind(part) for part in parts]
        found = [index for index, kind in enumerate(kinds) if kind is not None]
        if len(found) > 1:
            raise MimeBroken("The message holds several PGP/MIME parts side by side; vulndesk opens one per "
                             "message. Ask the sender to send them separately.")
        if found:
            index = found[0]
            return Wrapped(entity=parts[index], kind=kinds[index], depth=depth,
                           outside=tuple([*outside, *parts[:index], *parts[index + 1:]]))
        significant = [index for index, part in enumerate(parts) if not is_blank_part(part)]
        if not significant:
            return None
        index = significant[0]
        outside += [*parts[:index], *parts[index + 1:]]
        entity = parts[index]
    if b"application/pgp-encrypted" in entity.lower():
        raise MimeBroken(f"An encrypted part is wrapped in more than {MAX_WRAPPING} levels of multipart/mixed; "
                         "vulndesk does not look that deep. Read the original message.")
    return None


def outside_message(raw: bytes, parts: tuple[bytes, ...]) -> bytes:
    """The outer message's headers over a ``multipart/mixed`` of ``parts`` (the parts a wrapped
    PGP/MIME part does not cover), for the mail parser to read as any other message."""
    outer_fields = [value for name, value in _fields(split_entity(raw)[0])
                    if not name.startswith("content-") and name != "mime-version"]
    boundary = _boundary()
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + canonical(part) + b"\r\n" for part in parts)
    return (b"\r\n".join([*outer_fields, b"MIME-Version: 1.0",
                           f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode()])
            + b"\r\n\r\n" + body + b"--" + boundary.encode() + b"--\r\n")


def canonical(data: bytes) -> bytes:
    """CRLF line endings, as signed MIME is hashed (RFC 3156 section 5)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def _decoded_payload(part: bytes) -> bytes:
    payload = message_from_bytes(part, policy=policy.default).get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def encrypted_data(raw: bytes) -> bytes:
    """The armored OpenPGP message of a multipart/encrypted entity (its second part)."""
    parts = multipart_parts(raw)
    if len(parts) != 2:
        raise MimeBroken(f"A PGP/MIME encrypted message has two parts; this one has {len(parts)}.")
    control, data = (_content_type(split_entity(p)[0])[0] for p in parts)
    if control != "application/pgp-encrypted" or data != "application/octet-stream":
        raise MimeBroken("The PGP/MIME parts are not application/pgp-encrypted and application/octet-stream.")
    return _decoded_payload(parts[1])


def signed_data(raw: bytes) -> tuple[bytes, bytes]:
    """(the signed first part, exactly as signed; the armored signature) of multipart/signed."""
    parts = multipart_parts(raw)
    if len(parts) != 2:
        raise MimeBroken(f"A PGP/MIME signed message has two parts; this one has {len(parts)}.")
    if _content_type(split_entity(parts[1])[0])[0] != "application/pgp-signature":
        raise MimeBroken("The second part of the signed message is not application/pgp-signature.")
    return parts[0], _decoded_payload(parts[1])


def _fields(header_block: bytes) -> list[tuple[str, bytes]]:
    """Header fields as (lower-case name, raw bytes with folding), in order."""
    fields: list[tuple[str, bytes]] = []
    for line in canonical(header_block).split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        else:
            fields.append((line.split(b":", 1)[0].strip().lower().decode("latin-1"), line))
    return fields


def rebuild(outer: bytes, inner: bytes) -> bytes:
    """The outer message's headers over the inner entity (decrypted, or the signed part). Inner
    data without a header block (some clients encrypt bare text) is read as UTF-8 text."""
    if not _FIELD_START.match(inner):
        inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + inner
    outer_fields = [f for f in _fields(split_entity(outer)[0])
                    if not f[0].startswith("content-") and f[0] != "mime-version"]
    inner_head, inner_body = split_entity(inner)
    inner_fields = _fields(inner_head)
    content = [f for f in inner_fields if f[0].startswith("content-")]
    protected_subject = [f for f in inner_fields if f[0] == "subject"]
    content_type = next((value for name, value in content if name == "content-type"), b"")
    if protected_subject and b"protected-headers" in content_type.lower():
        outer_fields = [f for f in outer_fields if f[0] != "subject"] + protected_subject[:1]
    lines = [value for _, value in outer_fields] + [b"MIME-Version: 1.0"] + [value for _, value in content]
    return b"\r\n".join(lines) + b"\r\n\r\n" + canonical(inner_body)


def attached_key_blocks(entity: bytes) -> list[bytes]:
    """Public key blocks the sender attached (application/pgp-keys parts, or any part holding a
    key block), at most ``MAX_KEY_PARTS``: candidates for checking a signature."""
    blocks: list[bytes] = []
    try:
        message = message_from_bytes(entity, policy=policy.default)
        for part in message.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and len(payload) <= KEY_PART_MAX_BYTES:
                blocks += PUBLIC_KEY_BLOCK.findall(payload)
            if len(blocks) >= MAX_KEY_PARTS:
                break
    except Exception:  # noqa: S110 (a damaged part carries no key; the mail parser reports the damage)
        pass
    return blocks[:MAX_KEY_PARTS]


def is_key_or_signature(content: bytes) -> bool:
    """An attachment that is OpenPGP plumbing (a public key or a detached signature), not a file
    the reporter meant for the team: it is used (or ignored) as such, not filed."""
    head = content[:64].lstrip()
    return head.startswith((b"-----BEGIN PGP PUBLIC KEY BLOCK-----", b"-----BEGIN PGP SIGNATURE-----"))


# --- outbound (RFC 3156 sections 5 and 6.1: signed, then encrypted) -------------------------------

def _boundary() -> str:
    return f"vulndesk-pgp-{secrets.token_hex(12)}"


def protected_entity(*, body: str, headers: dict[str, str]) -> bytes:
    """The message text as a MIME entity carrying the real headers (protected headers): quoted-
    printable, so the signed bytes survive any 7-bit relay unchanged."""
    part = MIMEPart(policy=policy.SMTP)
    part.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    part.set_param("protected-headers", "v1")
    for name, value in headers.items():
        if value:
            part[name] = value
    return part.as_bytes(policy=policy.SMTP)


def signed_entity(content: bytes, signature: str, micalg: str) -> bytes:
    """multipart/signed around ``content`` (signed exactly as given, CRLF) and its signature."""
    boundary = _boundary()
    return b"".join([
        f'Content-Type: multipart/signed; micalg="{micalg}"; protocol="application/pgp-signature";\r\n'
        f' boundary="{boundary}"\r\n\r\n'
        "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n"
        f"--{boundary}\r\n".encode(),
        content,
        f"\r\n--{boundary}\r\n"
        'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        "Content-Description: OpenPGP digital signature\r\n"
        'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n'.encode(),
        canonical(signature.strip().encode("ascii")),
        f"\r\n--{boundary}--\r\n".encode(),
    ])
