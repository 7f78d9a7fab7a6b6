"""OpenPGP in received mail: open it before the mail intake reads it.

``mail_read`` takes a message the intake already parsed once (its outer headers are what the
intake threads and routes on) and returns what the intake should file instead, with a
``MailSecurity`` saying what was found:

* PGP/MIME encrypted (RFC 3156 section 4): decrypted with the organisation's key; the decrypted
  MIME entity becomes the message body, so its attachments go through the usual upload checks;
* PGP/MIME signed (section 5), also inside an encrypted message (section 6.1) or combined with
  the encryption (section 6.2): the signature is checked against the keys the reporter gave
  (earlier, for this report, or attached to this very message);
* either of those wrapped in ``multipart/mixed`` by a mailing list or mail program (a footer
  beside it): opened as at the top, and the parts around it are read separately and appended
  below a line that says they are not covered: the signature status speaks for the signed part
  only, and inline OpenPGP in the outside text is not opened (nor its keys used to verify);
* inline PGP in the text: ``-----BEGIN PGP MESSAGE-----`` blocks are decrypted and clear-signed
  blocks checked, each replaced by its text;
* public keys the sender attached (or pasted) are checked (``keys.public_key_inspect``) and
  returned for the report to keep; key and signature files are not filed as attachments.

What cannot be opened raises ``UnreadableMail`` (the intake quarantines the message with the
reason, and the raw message stays stored): nothing encrypted is ever filed as if it were text.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vulndesk.pgp import keys as pgp_keys
from vulndesk.pgp import mime, operations
from vulndesk.pgp.models import MessageSecurity, SignatureState
from vulndesk.pgp.operations import CandidateKeys, SignatureCheck, Undecryptable

may_carry_openpgp = mime.may_carry_openpgp  # the intake's fast test, before anything else here
MAX_INLINE_BLOCKS = 10
MAX_KEYS_PER_MAIL = 3
OUTSIDE_LINE = "-" * 40
SEVERITY = operations.SEVERITY


@dataclass
class MailSecurity:
    format: str = ""
    was_encrypted: bool = False
    was_decrypted: bool = False
    signature: SignatureCheck = field(default_factory=SignatureCheck)
    keys: list[pgp_keys.PublicKeyInfo] = field(default_factory=list)  # checked keys the sender gave
    reason: str = ""  # our words: what could not be done

    def add_signature(self, check: SignatureCheck) -> None:
        if self.signature.state == SignatureState.NOT_SIGNED or (
                SEVERITY.index(check.state) > SEVERITY.index(self.signature.state)):
            self.signature = check


class UnreadableMail(Exception):
    """Encrypted (or PGP/MIME-broken) mail that cannot be opened. ``str()`` says why."""

    def __init__(self, reason: str, security: MailSecurity):
        super().__init__(reason)
        self.security = security


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _open(organisation_id: int, data: bytes, candidates: CandidateKeys, *, encrypted: bool,
          keys_in: Callable[[bytes], list[bytes]]) -> operations.Opened:
    """Open OpenPGP data (unwrapping it first if encrypted); if the signer is unknown and the
    plaintext carries the signer's key, check again with it."""
    packets = operations.unwrap(organisation_id, data) if encrypted else data
    opened = operations.open_packets(packets, candidates)
    if opened.signature.state == SignatureState.UNKNOWN_KEY:
        attached = [block for block in keys_in(opened.plaintext) if block not in candidates.attached]
        if attached:
            candidates.attached += attached
            opened = operations.open_packets(packets, candidates)
    return opened


def _verify_signed(entity: bytes, candidates: CandidateKeys) -> tuple[bytes, SignatureCheck]:
    signed, signature = mime.signed_data(entity)
    candidates.attached += [block for block in mime.attached_key_blocks(signed) if block not in candidates.attached]
    return signed, operations.verify_detached(mime.canonical(signed), signature, candidates)


@dataclass
class _OpenedMime:
    message: bytes  # the outer headers over the opened entity
    outside: bytes | None = None  # the outer headers over the parts a wrapped PGP/MIME part does not cover


def _open_mime(organisation_id: int, raw: bytes, candidates: CandidateKeys,
               security: MailSecurity) -> _OpenedMime | None:
    kind = mime.pgp_mime_kind(raw)
    if kind is not None:
        return _OpenedMime(_open_entity(organisation_id, raw, raw, kind, candidates, security))
    wrapped = mime.wrapped_pgp_mime(raw)
    if wrapped is None:
        return None
    opened = _open_entity(organisation_id, raw, wrapped.entity, wrapped.kind, candidates, security)
    outside = [part for part in wrapped.outside if not mime.is_blank_part(part)]
    return _OpenedMime(opened, mime.outside_message(raw, tuple(outside)) if outside else None)


def _open_entity(organisation_id: int, raw: bytes, entity: bytes, kind: str, candidates: CandidateKeys,
                 security: MailSecurity) -> bytes:
    security.format = MessageSecurity.Format.PGP_MIME
    if kind == mime.ENCRYPTED:
        security.was_encrypted = True
        opened = _open(organisation_id, mime.encrypted_data(entity), candidates, encrypted=True,
                       keys_in=mime.attached_key_blocks)
        security.was_decrypted = True
        security.add_signature(opened.signature)
        entity = opened.plaintext
    if mime.pgp_mime_kind(entity) == mime.SIGNED:
        entity, check = _verify_signed(entity, candidates)
        security.add_signature(check)
    return mime.rebuild(raw, entity)


def _open_inline(organisation_id: int, text: str, candidates: CandidateKeys, security: MailSecurity) -> str:
    blocks = sorted([*mime.INLINE_MESSAGE.finditer(text), *mime.INLINE_SIGNED.finditer(text)],
                    key=lambda match: match.start())[:MAX_INLINE_BLOCKS]
    if not blocks:
        return text
    security.format = security.format or MessageSecurity.Format.INLINE
    pieces, end = [], 0
    for block in blocks:
        if block.start() < end:  # one block inside another (quoted armor): the outer one counts
            continue
        encrypted = block.group(0).startswith("-----BEGIN PGP MESSAGE-----")
        security.was_encrypted |= encrypted
        opened = _open(organisation_id, block.group(0).encode("utf-8"), candidates, encrypted=encrypted,
                       keys_in=lambda plaintext: mime.PUBLIC_KEY_BLOCK.findall(plaintext))
        security.was_decrypted |= encrypted
        security.add_signature(opened.signature)
        pieces += [text[end:block.start()], _decode(opened.plaintext).rstrip("\n")]
        end = block.end()
    return "".join([*pieces, text[end:]])


def _key_blocks(attachments: list[Any], text: str) -> list[bytes]:
    blocks = [block for attachment in attachments if mime.is_key_or_signature(attachment.content)
              for block in mime.PUBLIC_KEY_BLOCK.findall(attachment.content[: mime.KEY_PART_MAX_BYTES])]
    return list(dict.fromkeys(blocks + mime.PUBLIC_KEY_BLOCK.findall(text.encode("utf-8", "replace"))))


def keys_received(attachments: list[Any], text: str) -> tuple[list[pgp_keys.PublicKeyInfo], list[str], list[Any]]:
    """(checked public keys, notes on refused ones, the attachments that are real files) from a
    parsed mail's attachments (objects with ``.content``) and its text."""
    blocks = _key_blocks(attachments, text)
    files = [attachment for attachment in attachments if not mime.is_key_or_signature(attachment.content)]
    found: dict[str, pgp_keys.PublicKeyInfo] = {}
    notes = []
    for block in blocks[:MAX_KEYS_PER_MAIL]:
        try:
            key = pgp_keys.public_key_inspect(block.decode("ascii", "replace"))
        except pgp_keys.KeyRefused as refusal:
            notes.append(f"A public key in the e-mail was not used: {refusal.message}")
        else:
            found.setdefault(key.fingerprint, key)
    return list(found.values()), notes, files


def mail_read(*, organisation_id: int, raw: bytes, parsed: Any, on_file_keys: list[str],
              parse: Callable[[bytes], Any]) -> tuple[Any, MailSecurity]:
    """Open the OpenPGP layers of ``raw`` (already parsed once as ``parsed``) and return the
    parsed message to file (``parse`` reads the opened message) and what was found. Raises
    ``UnreadableMail``; ``parse`` may raise its own error for a broken decrypted message."""
    security = MailSecurity()
    candidates = CandidateKeys(on_file=list(on_file_keys))
    outside = None
    try:
        opened = _open_mime(organisation_id, raw, candidates, security)
        if opened is not None:
            parsed = parse(opened.message)
            outside = parse(opened.outside) if opened.outside is not None else None
        # Keys pasted into the text or attached as files may have signed inline blocks.
        candidates.attached += [block for block in _key_blocks(parsed.attachments, parsed.text)
                                if block not in candidates.attached][:MAX_KEYS_PER_MAIL]
        parsed.text = _open_inline(organisation_id, parsed.text, candidates, security)
    except (Undecryptable, mime.MimeBroken) as error:
        security.reason = str(error)[:300]
        raise UnreadableMail(security.reason, security) from None
    security.keys, notes, parsed.attachments = keys_received(parsed.attachments, parsed.text)
    parsed.notes = [*parsed.notes, *notes]
    if security.was_encrypted and security.was_decrypted:
        security.reason = "Decrypted with the organisation's key."
    if outside is not None:
        _append_outside(parsed, outside, security)
    return parsed, security


def _append_outside(parsed: Any, outside: Any, security: MailSecurity) -> None:
    """What came beside a wrapped PGP/MIME part (a list's footer): below a line saying it is not
    covered, so neither the signature status nor "decrypted" can be read as speaking for it.
    Its files are filed like any sent in clear; OpenPGP keys and signatures there are not used."""
    what = "encrypted" if security.was_encrypted else "signed"
    text = outside.text.strip("\n")
    files = [attachment for attachment in outside.attachments if not mime.is_key_or_signature(attachment.content)]
    if text:
        parsed.text = (f"{parsed.text}\n\n{OUTSIDE_LINE}\n[Not {what}: the text below came outside the {what} "
                       f"part of the e-mail, e.g. a mailing list's footer. Anyone on the way may "
                       f"have added or changed it.]\n\n{text}")
    parsed.attachments = [*parsed.attachments, *files]
    covered = "encryption or signature" if security.was_encrypted else "signature"
    parsed.notes = [*parsed.notes, *outside.notes,
                    f"The {what} part came wrapped in a larger message: the text and files beside it (below the "
                    f"line) are not covered by the {covered}."]
    security.reason = (f"{security.reason} " if security.reason else "") + (
        "Wrapped in multipart/mixed: the status covers the protected part only, not the text or files beside it.")
