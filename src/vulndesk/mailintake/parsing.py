"""What an inbound e-mail says, read from its raw bytes. Pure: no database, no network.

Every message is hostile input. It is decoded once, here (ASVS V1.1.1): RFC 2047 encoded words
in headers, RFC 2231 file names, base64 and quoted-printable bodies, and the declared charset
(ISO-8859-1 read as windows-1252 and Shift_JIS as cp932, as browsers do, since mailers label
them that way). Nothing later decodes again: a subject ``=?utf-8?q?%252e%252e%252f?=`` stays the
literal text ``%252e%252e%252f``. HTML is never rendered: it is turned into plain text by a
parser that keeps only text and link targets (``html_to_text``).

``parse_mail`` raises ``Unparseable`` for a message whose MIME structure is broken (missing
boundaries) or nested deeper than ``MAX_MIME_DEPTH`` (no mail program nests so deep; the walks
over the parts would otherwise exhaust the stack), which carries no mail headers at all, or on
which the parser itself fails; the caller keeps such a message in quarantine for a person to read.
"""

import re
from dataclasses import dataclass, field
from email import errors, message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser

from vulndesk.mailintake.addresses import InvalidAddress, address_normalise, message_ids, one_line

# MIME structure we cannot trust to have split the message correctly.
FATAL_DEFECTS = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
)
# WHATWG Encoding Standard labels: mail labelled Latin-1 is in practice windows-1252 (curly
# quotes in 0x80-0x9F), and Shift_JIS is cp932 (Windows' superset, NEC/IBM extensions).
CHARSET_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252", "shift_jis": "cp932", "shift-jis": "cp932", "x-sjis": "cp932", "sjis": "cp932",
    "windows-31j": "cp932", "ms_kanji": "cp932", "cp932": "cp932",
}
MAX_MIME_DEPTH = 20  # multipart levels; real mail has a handful (mixed > alternative > related)
_TOO_DEEP = f"The MIME structure is nested more than {MAX_MIME_DEPTH} levels deep; a person must read it."
PRECEDENCE_AUTOMATIC = {"bulk", "list", "junk", "auto_reply"}
AUTOMATIC_SENDERS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}
_AUTH_FAILURE = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*(fail|softfail|permerror)\b", re.IGNORECASE)


class Unparseable(ValueError):
    """The message cannot be read reliably; ``str(error)`` says why, in our words only."""


@dataclass(frozen=True)
class MailAttachment:
    name: str  # as the sender gave it (decoded once); the attachments app sanitises it
    content: bytes


@dataclass
class ParsedMail:
    message_id: str = ""  # "<id@host>" or ""
    references: list[str] = field(default_factory=list)  # In-Reply-To and References, oldest first
    subject: str = ""  # one line, decoded
    sender_address: str = ""  # normalised From address, or the envelope sender, or ""
    sender_name: str = ""
    text: str = ""  # the plain-text body (or the HTML body as text)
    body_was_html: bool = False
    attachments: list[MailAttachment] = field(default_factory=list)
    automatic_reason: str = ""  # why this is machine mail (auto-reply, bounce, list), or ""
    authentication_failures: list[str] = field(default_factory=list)  # e.g. ["dkim=fail", "spf=fail"]
    notes: list[str] = field(default_factory=list)  # things staff should know (charset fallbacks...)
    # What OpenPGP found (``pgp.inbound.MailSecurity``), set by services.inbound when the message
    # was encrypted, signed or carried a key; parsing itself knows nothing of OpenPGP.
    openpgp: object | None = None


def parse_mail(raw: bytes | bytearray, *, envelope_from: str = "") -> ParsedMail:
    """Read ``raw`` (the message as received). ``envelope_from`` is the SMTP MAIL FROM ("<>"
    for bounces), used for loop detection and as the sender when From is unusable."""
    if not raw or not raw.strip():
        raise Unparseable("The message is empty.")
    try:
        message = message_from_bytes(raw, policy=policy.default)
        if mime_depth(message) > MAX_MIME_DEPTH:
            raise Unparseable(_TOO_DEEP)
        return _read(message, envelope_from)
    except Unparseable:
        raise
    except RecursionError:  # the email package's own parser recurses per level
        raise Unparseable(_TOO_DEEP) from None
    except Exception as error:  # the parser on hostile input: any failure means "a person reads it"
        raise Unparseable(f"The mail parser failed ({type(error).__name__}).") from None


def mime_depth(message: EmailMessage) -> int:
    """How many multipart levels deep the message goes (1: not multipart). Iterative, so the
    measure itself cannot exhaust the stack; stops counting past ``MAX_MIME_DEPTH``."""
    deepest, stack = 0, [(message, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_MIME_DEPTH:
            break
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            stack += [(sub, depth + 1) for sub in part.get_payload() if isinstance(sub, EmailMessage)]
    return deepest


def _read(message: EmailMessage, envelope_from: str) -> ParsedMail:
    present = {name.lower() for name in message.keys()}
    if not present & {"from", "subject", "date", "message-id", "to"}:
        raise Unparseable("The message has no mail headers (From, To, Subject, Date or Message-ID).")
    ancestors = _ancestors(message)
    for part in [message, *(p for chain in ancestors.values() for p in chain), *_leaves(message)]:
        fatal = [type(defect).__name__ for defect in part.defects if isinstance(defect, FATAL_DEFECTS)]
        if fatal:
            raise Unparseable(f"The MIME structure is broken ({', '.join(sorted(set(fatal)))}).")

    parsed = ParsedMail()
    # Token headers (ids, machine-mail markers, authentication results) are read raw: they are
    # ASCII by definition and need no RFC 2047 decoding; only Subject and From are decoded.
    raw = RawHeaders(message)
    parsed.message_id = next(iter(message_ids(raw.first("Message-ID"))), "")
    parsed.references = message_ids(" ".join([*raw.all("References"), *raw.all("In-Reply-To")]))
    parsed.subject = one_line(_header(message, "Subject"), limit=998)
    parsed.sender_name, parsed.sender_address = _sender(message, envelope_from)
    parsed.automatic_reason = automatic_reason(message, envelope_from, raw)
    parsed.authentication_failures = authentication_failures(raw.all("Authentication-Results"),
                                                             raw.all("Received-SPF"))
    body = _body_part(message)
    texts, parsed.attachments = [], []
    if body is not None:
        text = part_text(body, parsed.notes)
        if body.get_content_subtype() == "html":
            text, parsed.body_was_html = html_to_text(text), True
        texts.append(text)
    for number, part in enumerate(_leaves(message), 1):
        if part is body or _is_alternative_of(part, body, ancestors):
            continue
        if _is_inline_text(part):
            extra = part_text(part, parsed.notes)
            texts.append(html_to_text(extra) if part.get_content_subtype() == "html" else extra)
            continue
        content = _part_bytes(part)
        if content:
            parsed.attachments.append(MailAttachment(name=_part_name(part, number), content=content))
    parsed.text = clean_text("\n\n".join(t for t in texts if t.strip()))
    return parsed


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded text; raw 8-bit headers (not RFC 2047 encoded) read as UTF-8, else
    windows-1252. A header the parser cannot decode reads as empty, never as an exception."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= char <= "\udcff" for char in text):
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", "replace")
    return text


def _sender(message: EmailMessage, envelope_from: str) -> tuple[str, str]:
    name, address = "", ""
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", ()) if header is not None else ()
    except Exception:
        addresses = ()
    if addresses:
        name = one_line(addresses[0].display_name or "", limit=200)
        address = addresses[0].addr_spec or ""
    for candidate in (address, envelope_from):
        try:
            return name, address_normalise(candidate.strip("<>"))
        except InvalidAddress:
            continue
    return name, ""


class RawHeaders:
    """Header values as written (unfolded, whitespace collapsed), without the email package's
    per-access parsing; names case-insensitive."""

    def __init__(self, message: EmailMessage):
        self.values: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            text = value if isinstance(value, str) else str(value)
            self.values.setdefault(name.lower(), []).append(" ".join(text.split()))

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def first(self, name: str) -> str:
        return next(iter(self.all(name)), "")

    def has(self, name: str) -> bool:
        return name.lower() in self.values


def automatic_reason(message: EmailMessage, envelope_from: str, raw: RawHeaders | None = None) -> str:
    """Why this message was sent by a machine (RFC 3834 and common practice), or "" for a
    person. Machine mail never files a report and is never answered: no mail loops."""
    raw = raw or RawHeaders(message)
    if envelope_from.strip() in {"", "<>"}:
        return "Empty envelope sender (a bounce)."
    if raw.has("Return-Path") and raw.first("Return-Path").strip() in {"", "<>"}:
        return "Empty Return-Path (a bounce)."
    auto_submitted = raw.first("Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {one_line(auto_submitted, 40)}."
    precedence = raw.first("Precedence").strip().lower()
    if precedence in PRECEDENCE_AUTOMATIC:
        return f"Precedence: {precedence}."
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if raw.has(name):
            return f"{name} header."
    if raw.has("List-Id"):
        return "Mailing-list traffic (List-Id)."
    content_type = message.get_content_type()
    if content_type == "multipart/report" or content_type.startswith("message/delivery-status"):
        report_type = (message.get_param("report-type") or "").lower()
        return f"Delivery or read report ({one_line(report_type, 40) or 'multipart/report'})."
    local = envelope_from.strip("<>").rpartition("@")[0].lower()
    if local in AUTOMATIC_SENDERS:
        return "Sent by a mail system account."
    return ""


def authentication_failures(results: list, received_spf: list) -> list[str]:
    """SPF, DKIM and DMARC failures reported by the receiving MTA (RFC 8601). A hint for staff:
    such mail is flagged, never dropped (a forged "fail" only hurts the forger)."""
    found = {f"{method.lower()}={verdict.lower()}" for text in results
             for method, verdict in _AUTH_FAILURE.findall(str(text))}
    for text in received_spf:
        verdict = str(text).strip().split(" ", 1)[0].lower()
        if verdict in {"fail", "softfail", "permerror"}:
            found.add(f"spf={verdict}")
    return sorted(found)


def _leaves(part: EmailMessage):
    """Leaf parts in order; an attached message (message/rfc822) is one leaf, not descended."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaves(sub)
    else:
        yield part


def _body_part(message: EmailMessage) -> EmailMessage | None:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None and body.get_content_subtype() == "plain" and not _part_bytes(body).strip():
        html = message.get_body(preferencelist=("html",))
        body = html if html is not None else body
    return body


def _ancestors(message: EmailMessage) -> dict[int, list[EmailMessage]]:
    """For each part (by id), its multipart ancestors, nearest first. The email package keeps
    no parent links, so they are collected once per message."""
    found: dict[int, list[EmailMessage]] = {id(message): []}

    def visit(part, chain):
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            for sub in part.iter_parts():
                found[id(sub)] = [part, *chain]
                visit(sub, [part, *chain])

    visit(message, [])
    return found


def _is_alternative_of(part: EmailMessage, body: EmailMessage | None, ancestors: dict) -> bool:
    """The other renderings of the body (the HTML twin of a text/plain body, inside the same
    multipart/alternative) are not content of their own."""
    if body is None:
        return False
    alternative = next((a for a in ancestors.get(id(body), []) if a.get_content_subtype() == "alternative"), None)
    return alternative is not None and any(a is alternative for a in ancestors.get(id(part), []))


def _is_attachment(part: EmailMessage) -> bool:
    return (part.get_content_disposition() or "") == "attachment"


def _is_inline_text(part: EmailMessage) -> bool:
    return (part.get_content_type() in {"text/plain", "text/html"} and not part.get_filename()
            and not _is_attachment(part))


def _part_bytes(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        try:
            return inner.as_bytes(policy=policy.default.clone(linesep="\r\n")) if hasattr(inner, "as_bytes") else b""
        except Exception:
            return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


_EXTENSIONS = {"text/plain": ".txt", "text/html": ".html.txt", "image/png": ".png", "image/jpeg": ".jpg",
               "image/gif": ".gif", "application/pdf": ".pdf", "application/zip": ".zip", "message/rfc822": ".eml"}


def _part_name(part: EmailMessage, number: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return one_line(name, limit=200) or f"part-{number}{_EXTENSIONS.get(part.get_content_type(), '.bin')}"


def part_text(part: EmailMessage, notes: list[str] | None = None) -> str:
    """A text part's content as str, decoded once with its declared charset (aliases as in
    ``CHARSET_ALIASES``). Mis-labelled or unknown charsets fall back to UTF-8, then
    windows-1252, and leave a note, never an exception."""
    payload = _part_bytes(part)
    declared = (part.get_content_charset() or "us-ascii").lower()
    candidates = [CHARSET_ALIASES.get(declared, declared)]
    if declared in {"us-ascii", "ascii"}:
        candidates.insert(0, "utf-8")  # 8-bit text under a default label is most often UTF-8
    for charset in candidates:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    if notes is not None:
        notes.append(f"A text part did not decode as its declared charset ({one_line(declared, 40)}); "
                     "it was read as UTF-8 with replacement characters.")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("utf-8", "replace")


# Unicode categories Cc (C0, DEL, C1) except tab and newline, and Cs (lone surrogates).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Line endings as LF; NUL and other C0/C1 controls (except tab and newline) and lone
    surrogates removed: they break databases and terminals and carry no meaning in a report.
    Nothing else changes (trailing spaces stay: "-- " and format=flowed depend on them)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text).strip("\n")


# --- HTML to text -------------------------------------------------------------------------------

_BLOCK = {"address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset", "figcaption",
          "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
          "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "math", "object", "iframe", "embed",
         "applet", "frameset", "select", "option"}
_VOID = {"br", "img", "hr", "input", "meta", "link", "area", "base", "col", "wbr", "source", "track"}


class _TextExtractor(HTMLParser):
    """Keeps text, line structure, list bullets, blockquote quoting and link targets (as
    text). Scripts, styles and the like are dropped with their content; nothing is executed,
    fetched or kept as markup."""

    def __init__(self):
        super().__init__(convert_charrefs=True)  # character references decoded once, here
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0
        self.quote = 0
        self.links: list[tuple[str, int]] = []

    def _newline(self):
        self.out.append("\n" + "> " * self.quote)

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            if tag not in _VOID:
                self.skipping += 1
            return
        if self.skipping:
            return
        if tag == "br":
            self._newline()
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag == "li":
            self._newline()
            self.out.append("- ")
        elif tag in {"td", "th"}:
            self.out.append(" ")
        elif tag == "pre":
            self.pre += 1
            self._newline()
        elif tag in _BLOCK:
            self._newline()
        elif tag == "img":
            alt = one_line(dict(attrs).get("alt") or "", 100)
            if alt:
                self.out.append(f"[image: {alt}]")
        if tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.links.append((href, len(self.out)))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)

    def handle_endtag(self, tag):
        if tag in _SKIP and tag not in _VOID:
            self.skipping = max(0, self.skipping - 1)
            return
        if self.skipping:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.out[start:]).strip()
            # Only ordinary link schemes are shown, as text: a javascript: or data: URL is noise.
            if re.match(r"^(https?:|mailto:)", href, re.IGNORECASE) and href.removeprefix("mailto:") != shown:
                self.out.append(f" <{one_line(href, 2000)}>")
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self._newline()
        elif tag in _BLOCK and tag != "li":
            self._newline()

    def handle_data(self, data):
        if self.skipping:
            return
        if self.pre:
            self.out.append(data.replace("\n", "\n" + "> " * self.quote))
        else:
            self.out.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines: list[str] = []
        for line in "".join(self.out).split("\n"):
            line = line.rstrip()
            line = line[1:] if line.startswith(" ") and not line.startswith("  ") else line
            if not line.strip(" >"):  # blank, or a quote marker alone: one empty line per run
                if lines and lines[-1] != "":
                    lines.append("")
                continue
            lines.append(line)
        return "\n".join(lines).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body. The result is text to be escaped on output like
    any other report text; it is never rendered as HTML."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # HTMLParser is lenient; if it still fails, fall back to dropping tags
        return clean_text(re.sub(r"<[^>]*>", " ", html))
    return clean_text(extractor.text())


def best_effort_text(raw: bytes, limit: int = 20_000) -> str:
    """Something readable from a message that could not be parsed, for the person converting it
    by hand: the bytes as UTF-8 (else windows-1252), controls removed, bounded."""
    try:
        text = raw[: limit * 4].decode("utf-8")
    except UnicodeDecodeError:
        text = raw[: limit * 4].decode("cp1252", "replace")
    return clean_text(text)[:limit]
