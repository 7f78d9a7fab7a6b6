"""The IMAP side of polling an organisation's own mailbox: the rules for its settings (pure) and
one session with the server (``imap-tools`` over ``imaplib``). No database here: the poll
itself, which stores and then marks, is ``services.imap``.

What a session does to the organisation's mailbox, and only that:

* it reads with ``BODY.PEEK`` (the ``\\Seen`` flag people use stays as it was);
* it adds the keyword ``$VulndeskImported`` to each message once stored (and
  ``$VulndeskTooLarge`` to one over the size limit), and moves it to the processed folder when
  one is configured (IMAP ``MOVE``, RFC 6851);
* it never deletes or expunges (imap-tools' ``flag()`` expunges the folder, so the keyword
  is set with a plain ``UID STORE``).

Every failure reaches callers as ``ImapProblem`` with a short text in our own words: no server
response text (it may echo what we sent), no user name, no password.

Where a session may connect (SSRF, ASVS V1.3.6): an organisation's owner chooses the host, and
the connection leaves from the vulndesk server, inside its network. So the host is resolved once
per session and every answer must be a public address (``destination_addresses``: the block
list of ``core.egress`` plus ``is_global``, IPv4-mapped forms unwrapped), unless it lies
in a network the operator allowed (``MAIL_INTAKE_IMAP_ALLOWED_NETWORKS``, for their own internal
mail server). The socket then goes to that checked address, never to the name again, so a DNS
answer that changes between check and connect (rebinding) cannot redirect it; TLS still sends the
configured name as SNI and checks the certificate against it. The settings form checks the same
when the mailbox is saved, and every session checks again.

Memory is bounded: sizes are asked first (``RFC822.SIZE``), a message over the limit is never
fetched whole (only its header, itself bounded), and the client refuses any literal larger than
the limit, in case a server sends more than it announced.
"""

import contextlib
import imaplib
import ipaddress
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from imap_tools import BaseMailBox
from imap_tools.errors import (
    MailboxLoginError,
    MailboxStarttlsError,
    UnexpectedCommandStatusError,
)
from imap_tools.utils import encode_folder

from vulndesk.core.egress import (
    Resolver,
    address_refusal,
    is_loopback_address,
    system_resolver,
    unwrapped_address,
)
from vulndesk.core.errors import DomainError

logger = logging.getLogger(__name__)

IMPORTED_KEYWORD = "$VulndeskImported"
TOO_LARGE_KEYWORD = "$VulndeskTooLarge"
HEADER_MAX_BYTES = 64 * 1024
CERTIFICATE_MAX_CHARS = 20_000
DEFAULT_PORTS = {"tls": 993, "starttls": 143, "none": 143}
# Any port from 1 to 65535: the address check, not the port, keeps the poller out of internal
# networks. Behind it only public hosts (and networks the operator allowed) are reachable, which
# anyone can probe directly; providers and self-hosters do run IMAP on odd ports; mailboxes saved
# on them must keep working; and what staff see of a failure is our own words, never what the
# other side answered, so a port that is not IMAP tells them nothing but "failed".
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")
_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


# --- settings: pure rules -----------------------------------------------------------------------

class InvalidImapSetting(DomainError):
    code = "invalid_imap_setting"


def host_clean(value: str) -> str:
    """A host name or an IP address, nothing else: no scheme, port, path, user or spaces. Link-
    local (cloud metadata), multicast and unspecified addresses are refused: no IMAP server
    lives there, and they are where a forged setting would aim."""
    text = (value or "").strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text or len(text) > 253:
        raise InvalidImapSetting("Give the IMAP server's host name, e.g. imap.example.org.", field="host")
    if "%" in text:  # an IPv6 zone (fe80::1%eth0) names an interface of our server, not a mail server
        raise InvalidImapSetting("Give the host name or address without a %zone.", field="host")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_loopback and (address.is_link_local or address.is_multicast or address.is_unspecified
                                        or address.is_reserved):
            raise InvalidImapSetting("That address cannot be an IMAP server (link-local, multicast or reserved).",
                                     field="host")
        return str(address)
    labels = text.split(".")
    if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit() or re.fullmatch(r"[0-9a-fx.]+",
                                                                                                text):
        raise InvalidImapSetting("Give only the host name (letters, digits, dots and dashes), e.g. "
                                 "imap.example.org: no scheme, port, path or spaces.", field="host")
    return text


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return unwrapped_address(host).is_loopback
    except ValueError:
        return False


def security_check(*, host: str, security: str) -> None:
    if security not in DEFAULT_PORTS:
        raise InvalidImapSetting("Choose TLS, STARTTLS or none.", field="security")
    if security == "none" and not is_loopback_host(host):
        raise InvalidImapSetting("Without TLS the password and every report would cross the network in clear: "
                                 "choose TLS or STARTTLS (no encryption is only allowed to this machine, "
                                 "localhost or 127.0.0.1).", field="security")


def port_check(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidImapSetting("The port is a number from 1 to 65535 (993 for TLS, 143 for STARTTLS).",
                                 field="port")
    return port


# --- where a session may connect -----------------------------------------------------------------

class ImapDestinationRefused(InvalidImapSetting):
    """The host is, or resolves to, an address vulndesk may not connect to."""

    code = "imap_destination_refused"

    def __init__(self, message: str, *, reason: str):
        super().__init__(message, field="host")
        self.reason = reason  # for the log: the address and the network it fell in


def allowed_networks(values=None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The operator's ``MAIL_INTAKE_IMAP_ALLOWED_NETWORKS`` (CIDRs, or single addresses), parsed.
    A typo stops the poller with the entry named rather than silently allowing less, or more."""
    if values is None:
        values = getattr(settings, "MAIL_INTAKE_IMAP_ALLOWED_NETWORKS", [])
    if isinstance(values, str):
        values = [item for item in values.split(",") if item.strip()]
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=True))
        except ValueError:
            raise ImproperlyConfigured(
                f"MAIL_INTAKE_IMAP_ALLOWED_NETWORKS: {str(value)[:60]!r} is not a network in CIDR form with "
                "its host bits zero (e.g. 10.0.5.0/24, 192.168.1.25 or fd00:1::/64).") from None
    return tuple(networks)


def _address_refusal(address: str, allowed) -> str | None:
    """Why ``address`` may not be connected to, or None."""
    try:
        ip = unwrapped_address(address)
    except ValueError:
        return f"{address[:60]!r} is not an IP address"
    if ip.is_unspecified or ip.is_multicast:
        # Never a server, whatever the operator allowed (0.0.0.0 reaches this very machine).
        return f"{ip} is an unspecified or multicast address"
    if any(ip.version == network.version and ip in network for network in allowed):
        return None
    return address_refusal(str(ip))


def destination_addresses(host: str, port: int, *, allowed=None, resolver: Resolver = system_resolver
                          ) -> tuple[str, ...]:
    """The addresses a session to ``host`` may connect to: a literal address as it is, a name
    resolved once. Raises ``ImapDestinationRefused`` when any answer is not public and not in an
    allowed network (a name answering one public and one internal address would otherwise let
    the connection pick the internal one), ``socket.gaierror`` when the name does not resolve."""
    allowed = allowed_networks() if allowed is None else allowed
    try:
        addresses, literal = [str(unwrapped_address(host))], True
    except ValueError:
        answers = resolver(host, port)
        addresses, literal = list(dict.fromkeys(answer.split("%", 1)[0] for answer in answers)), False
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no address") from None
    for address in addresses:
        reason = _address_refusal(address, allowed)
        if reason:
            what = "That address" if literal else f"{host[:80]} resolves to an address that"
            raise ImapDestinationRefused(
                f"{what} is not on the public internet (loopback, private, link-local or reserved), so vulndesk "
                "does not connect to it. To poll a mail server on your own network, the administrator of "
                "this vulndesk installation allows its network with MAIL_INTAKE_IMAP_ALLOWED_NETWORKS.",
                reason=reason)
    return tuple(addresses)


def destination_check(*, host: str, port: int, security: str, allowed=None,
                      resolver: Resolver = system_resolver) -> tuple[str, ...]:
    """``destination_addresses``, and: without TLS, every address must be loopback (the name
    "localhost" or a loopback literal is not enough if the answer says otherwise)."""
    addresses = destination_addresses(host, port, allowed=allowed, resolver=resolver)
    if security == "none" and not all(is_loopback_address(address) for address in addresses):
        raise InvalidImapSetting("Without TLS only a server on this machine (loopback) may be used, and this "
                                 "host does not resolve to loopback only: choose TLS or STARTTLS.",
                                 field="security")
    return addresses


def folder_clean(value: str, *, field: str = "folder", required: bool = True) -> str:
    """An IMAP folder name as the server shows it ("INBOX", "Security/Processed"): any text
    without control characters or the LIST wildcards * and %, at most 200 characters."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidImapSetting("Give the folder to read, usually INBOX.", field=field)
        return ""
    if len(text) > 200 or _CONTROL.search(text) or "*" in text or "%" in text:
        raise InvalidImapSetting("A folder name has at most 200 characters, without control characters, "
                                 "* or %.", field=field)
    return text


def same_folder(first: str, second: str) -> bool:
    # INBOX is case-insensitive (RFC 3501 section 5.1); other names are compared as written.
    if first.upper() == "INBOX" or second.upper() == "INBOX":
        return first.upper() == second.upper()
    return first == second


def credential_clean(value: str, *, field: str, max_chars: int) -> str:
    """User names and passwords go into IMAP commands: a line break would start a command of the
    sender's choosing (ASVS V1.3.11), so control characters are refused outright."""
    text = value or ""
    if field == "username":
        text = text.strip()
    if not text or len(text) > max_chars or _CONTROL.search(text):
        what = "user name" if field == "username" else "password"
        raise InvalidImapSetting(f"Give the mailbox's {what} (at most {max_chars} characters, no line breaks or "
                                 "other control characters).", field=field)
    return text


def certificate_clean(value: str) -> str:
    """PEM certificates to trust for this server (its own self-signed certificate, or the CA of an
    internal one). Parsed now, so a paste error shows in the form, not at 3 a.m."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) > CERTIFICATE_MAX_CHARS:
        raise InvalidImapSetting(f"At most {CERTIFICATE_MAX_CHARS} characters of PEM certificates.",
                                 field="trusted_certificate")
    if "PRIVATE KEY" in text:
        raise InvalidImapSetting("That is a private key: paste only the certificate (-----BEGIN CERTIFICATE-----), "
                                 "and replace the key, as it is no longer secret.", field="trusted_certificate")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InvalidImapSetting("Paste the certificate in PEM form, starting with -----BEGIN CERTIFICATE-----.",
                                 field="trusted_certificate")
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError):
        raise InvalidImapSetting("That certificate could not be read; paste the whole PEM block.",
                                 field="trusted_certificate") from None
    return text + "\n"


def poll_due_at(*, last_poll_at: datetime | None, interval_seconds: int, consecutive_failures: int
                ) -> datetime | None:
    """When a mailbox is next polled (None: now). After failures the wait doubles, up to an hour
    (or the interval, if longer): a wrong password is not retried every minute, which could
    lock the account at the provider."""
    if last_poll_at is None:
        return None
    wait = interval_seconds * 2 ** min(consecutive_failures, 6)
    return last_poll_at + timedelta(seconds=min(wait, max(interval_seconds, 3600)))


def imap_date(day: date) -> str:
    """RFC 3501 date (``1-Feb-2026``), with English month names whatever the locale."""
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


# --- the session ----------------------------------------------------------------------------------

class ImapProblem(Exception):
    """What went wrong, in words fit for staff and for the mailbox's status. ``kind`` names the
    step for the logs (connect, tls, login, folder, fetch, mark, protocol)."""

    def __init__(self, message: str, *, kind: str):
        super().__init__(message)
        self.message, self.kind = message, kind


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str = ""
    trusted_certificate: str = ""
    timeout: float = 60.0


@dataclass(frozen=True)
class PendingMessage:
    uid: str
    size: int


class _BoundedLiterals:
    """imaplib reads a literal of whatever size the server announces; refuse what no message of
    ours can be (a server announcing 10 GB would otherwise be read into memory)."""

    max_literal_bytes = 0

    def read(self, size):
        if self.max_literal_bytes and size > self.max_literal_bytes:
            # The rest of the literal is still on the wire: the connection is of no further use.
            with contextlib.suppress(OSError):
                self.shutdown()
            raise ImapProblem("The server sent more data than the message size it announced; stopped reading.",
                              kind="protocol")
        return super().read(size)


class _Pinned:
    """TCP to the checked address, never to the name again. ``self.host`` stays the configured
    name, so imaplib's TLS (from the start, or after STARTTLS) sends it as SNI and checks the
    certificate against it."""

    def __init__(self, *args, address: str, **kwargs):
        self.pinned_address = address
        super().__init__(*args, **kwargs)

    def _pinned_socket(self, timeout) -> socket.socket:
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return socket.create_connection((self.pinned_address, self.port), timeout)


class _IMAP4(_Pinned, _BoundedLiterals, imaplib.IMAP4):
    def _create_socket(self, timeout):
        return self._pinned_socket(timeout)


class _IMAP4_SSL(_Pinned, _BoundedLiterals, imaplib.IMAP4_SSL):  # noqa: N801 (imaplib's spelling)
    def _create_socket(self, timeout):
        sock = self._pinned_socket(timeout)
        try:
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class _Mailbox(BaseMailBox):
    """imap-tools on our bounded imaplib clients, with the security chosen for the mailbox,
    connected to one of the checked ``addresses``."""

    def __init__(self, target: ImapTarget, *, addresses: tuple[str, ...], context: ssl.SSLContext | None,
                 max_literal_bytes: int):
        self._target, self._context, self._max_literal_bytes = target, context, max_literal_bytes
        self._addresses = addresses
        super().__init__()

    def _connect(self, address: str) -> imaplib.IMAP4:
        target = self._target
        if target.security == "tls":
            return _IMAP4_SSL(target.host, target.port, address=address, ssl_context=self._context,
                              timeout=target.timeout)
        return _IMAP4(target.host, target.port, address=address, timeout=target.timeout)

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        target = self._target
        for index, address in enumerate(self._addresses):
            try:
                client = self._connect(address)
                break
            except (ConnectionError, TimeoutError):
                # Another checked address of the same name may answer; a TLS failure is not
                # fixed by another address, so only these are tried again.
                if index == len(self._addresses) - 1:
                    raise
        client.max_literal_bytes = self._max_literal_bytes
        if target.security == "starttls":
            if "STARTTLS" not in client.capabilities:
                _close_quietly(client)
                raise ImapProblem("The server does not offer STARTTLS on this port: choose TLS (usually port 993).",
                                  kind="tls")
            try:
                result = client.starttls(ssl_context=self._context)
            except BaseException:
                _close_quietly(client)
                raise
            if result[0] != "OK":
                _close_quietly(client)
                raise MailboxStarttlsError(result, "OK")
        return client


def _close_quietly(client: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        client.shutdown()


def tls_context(trusted_certificate: str = "") -> ssl.SSLContext:
    """Certificate and host name checked, TLS 1.2 at least. A pasted certificate replaces the
    system's CAs (and may be the server's own, hence partial chains are accepted)."""
    if trusted_certificate:
        context = ssl.create_default_context(cadata=trusted_certificate)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@contextlib.contextmanager
def _explained(kind: str, what: str):
    """Turn library and network errors into ``ImapProblem`` in our words."""
    try:
        yield
    except ImapProblem:
        raise
    except ssl.SSLCertVerificationError as error:
        reason = (error.verify_message or "not verified").rstrip(".")[:120]
        raise ImapProblem(f"The server's certificate is not trusted ({reason}). If you run the server yourself, "
                          "paste its certificate or CA under \"Trust this certificate\".", kind="tls") from None
    except ssl.SSLError:
        raise ImapProblem("The TLS handshake failed: check that the security setting matches the port (TLS: "
                          "usually 993, STARTTLS: usually 143).", kind="tls") from None
    except socket.gaierror:
        raise ImapProblem("The host name could not be found (DNS).", kind="connect") from None
    except ConnectionRefusedError:
        raise ImapProblem("The server refused the connection: check the host and port.", kind="connect") from None
    except TimeoutError:
        raise ImapProblem(f"The server did not answer in time ({what}).", kind=kind) from None
    except MailboxLoginError:
        raise ImapProblem("The server refused the user name or password.", kind="login") from None
    except MailboxStarttlsError:
        raise ImapProblem("STARTTLS failed: the server did not switch to TLS.", kind="tls") from None
    except UnexpectedCommandStatusError:
        raise ImapProblem(f"The server refused a command ({what}).", kind=kind) from None
    except imaplib.IMAP4.readonly:
        raise ImapProblem("The folder opens read-only for this account: vulndesk must be able to mark what it "
                          "imported.", kind="folder") from None
    except (imaplib.IMAP4.abort, EOFError, ConnectionError):
        raise ImapProblem(f"The server closed the connection ({what}).", kind=kind) from None
    except imaplib.IMAP4.error:
        raise ImapProblem(f"The server answered something unexpected ({what}).", kind="protocol") from None
    except OSError as error:
        raise ImapProblem(f"Could not reach the server ({(error.strerror or type(error).__name__)[:80]}).",
                          kind="connect") from None


class ImapSession:
    """One logged-in connection with ``target.folder`` selected read-write. Use as a context
    manager; every method raises ``ImapProblem``."""

    def __init__(self, target: ImapTarget, *, max_bytes: int, resolver: Resolver = system_resolver):
        self.target, self.max_bytes, self.resolver = target, max_bytes, resolver
        self.mailbox: _Mailbox | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.keeps_keywords = True

    # -- connecting

    def __enter__(self) -> "ImapSession":
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open(self) -> None:
        target = self.target
        # The settings were checked when saved; checked again here, as the row may predate a
        # rule and a DNS answer may have changed since (the one that counts is this one).
        try:
            host_clean(target.host)
            port_check(target.port)
            security_check(host=target.host, security=target.security)
            with _explained("connect", "looking up the server"):
                addresses = destination_check(host=target.host, port=target.port, security=target.security,
                                              resolver=self.resolver)
        except ImapDestinationRefused as refusal:
            # ASVS V16.3.3: an SSRF refusal is a security event (addresses only, no credentials).
            logger.warning("imap destination refused: %s", refusal.reason, extra={"security_event": "ssrf_refused"})
            raise ImapProblem(refusal.message, kind="destination") from None
        except InvalidImapSetting as refusal:
            raise ImapProblem(refusal.message, kind="settings") from None
        except ImproperlyConfigured as error:
            logger.error("imap: %s", error)
            raise ImapProblem("This vulndesk installation's list of allowed internal networks is invalid: its "
                              "administrator must correct MAIL_INTAKE_IMAP_ALLOWED_NETWORKS.", kind="settings") from None
        context = tls_context(target.trusted_certificate) if target.security != "none" else None
        with _explained("connect", "connecting"):
            self.mailbox = _Mailbox(target, addresses=addresses, context=context,
                                    max_literal_bytes=self.max_bytes + HEADER_MAX_BYTES)
        try:
            self._login()
            self._select()
        except BaseException:
            self.close()
            raise

    def _login(self) -> None:
        client = self.mailbox.client
        if self.target.security == "none" and "LOGINDISABLED" in client.capabilities:
            raise ImapProblem("The server accepts passwords only over TLS: choose TLS or STARTTLS.", kind="login")
        with _explained("login", "logging in"):
            if self.target.username.isascii() and self.target.password.isascii():
                self.mailbox.login(self.target.username, self.target.password, initial_folder=None)
            elif "AUTH=PLAIN" in client.capabilities:
                try:
                    self.mailbox.login_utf8(self.target.username, self.target.password, initial_folder=None)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:  # imaplib's AUTHENTICATE raises this for a NO
                    raise ImapProblem("The server refused the user name or password.", kind="login") from None
            else:
                raise ImapProblem("The server cannot take a user name or password with non-ASCII characters "
                                  "(no AUTH=PLAIN).", kind="login")
        with _explained("login", "reading the server's capabilities"):
            status, data = client.capability()
        # imaplib keeps the greeting's list; after login servers announce more (MOVE, UIDPLUS).
        words = b" ".join(item for item in data if isinstance(item, bytes)).decode("ascii", "replace").upper()
        client.capabilities = tuple(words.split()) if status == "OK" and words else client.capabilities
        self.capabilities = frozenset(client.capabilities)

    def _select(self) -> None:
        client = self.mailbox.client
        with _explained("folder", "opening the folder"):
            status, _ = client.select(encode_folder(self.target.folder))
            if status != "OK":
                raise ImapProblem("The folder to read does not exist on the server (or this account cannot open "
                                  "it): check its name; most servers call the main one INBOX.", kind="folder")
            permanent = b" ".join(item for item in client.response("PERMANENTFLAGS")[1] if item)
        self.keeps_keywords = b"\\*" in permanent or IMPORTED_KEYWORD.encode() in permanent
        if not self.keeps_keywords and not self.target.processed_folder:
            raise ImapProblem("The server does not keep custom keywords in this folder, so vulndesk could not mark "
                              "what it imported: set a processed folder (imported mail is then moved there).",
                              kind="folder")
        if self.target.processed_folder:
            if "MOVE" not in self.capabilities:
                raise ImapProblem("The server cannot move messages (no IMAP MOVE): leave the processed folder empty, "
                                  "vulndesk then marks imported mail with a keyword instead.", kind="folder")
            with _explained("folder", "looking for the processed folder"):
                exists = self.mailbox.folder.exists(self.target.processed_folder)
            if not exists:
                raise ImapProblem("The processed folder does not exist on the server: create it there, or leave "
                                  "the field empty to keep imported mail in place.", kind="folder")

    def close(self) -> None:
        if self.mailbox is None:
            return
        client, self.mailbox = self.mailbox.client, None
        try:
            # LOGOUT alone: CLOSE would expunge what a person marked \Deleted in the folder.
            client.logout()
        except (OSError, imaplib.IMAP4.error, ImapProblem):
            _close_quietly(client)

    # -- reading

    def pending(self, *, since: date | None = None, limit: int = 1000) -> list[PendingMessage]:
        """Messages not imported yet (oldest first, at most ``limit``), with their sizes."""
        criteria = f"UNDELETED UNKEYWORD {IMPORTED_KEYWORD}"
        if since is not None:
            criteria += f" SINCE {imap_date(since)}"
        uids = self._search(criteria)[:limit]
        return self._sizes(uids)

    def imported_not_moved(self) -> list[str]:
        """Marked as imported but still here (the poller died between marking and moving)."""
        if not self.target.processed_folder or not self.keeps_keywords:
            return []
        return self._search(f"UNDELETED KEYWORD {IMPORTED_KEYWORD}")

    def _search(self, criteria: str) -> list[str]:
        with _explained("search", "searching the folder"):
            uids = self.mailbox.uids(criteria, charset=None)
        return sorted(uids, key=int)

    def _sizes(self, uids: list[str]) -> list[PendingMessage]:
        sizes: dict[str, int] = {}
        for start in range(0, len(uids), 200):
            chunk = uids[start:start + 200]
            with _explained("fetch", "asking message sizes"):
                status, data = self.mailbox.client.uid("FETCH", ",".join(chunk), "(UID RFC822.SIZE)")
            if status != "OK":
                raise ImapProblem("The server refused to tell message sizes.", kind="fetch")
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                if not isinstance(line, bytes):
                    continue
                uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
                if uid and size:
                    sizes[uid.group(1).decode()] = int(size.group(1))
        # A message expunged meanwhile (by a person) has no answer: nothing to import.
        return [PendingMessage(uid, sizes[uid]) for uid in uids if uid in sizes]

    def fetch(self, uid: str) -> bytes | None:
        """The whole message, or None if it is gone."""
        return self._fetch_part(uid, "BODY.PEEK[]")

    def fetch_header(self, uid: str) -> bytes | None:
        """The header of a message too large to fetch, bounded itself."""
        return self._fetch_part(uid, f"BODY.PEEK[HEADER]<0.{HEADER_MAX_BYTES}>")

    def _fetch_part(self, uid: str, part: str) -> bytes | None:
        with _explained("fetch", "fetching a message"):
            status, data = self.mailbox.client.uid("FETCH", uid, f"({part})")
        if status != "OK":
            raise ImapProblem("The server refused to send a message.", kind="fetch")
        # Each answer is (b'<seq> (UID <uid> BODY[] {<size>}', literal); unsolicited FETCH
        # answers about other messages (flag changes by a person) may come along.
        literals = [item for item in data if isinstance(item, tuple) and len(item) == 2]
        for line, literal in literals:
            found = _FETCH_UID.search(line or b"")
            if found and found.group(1).decode() == uid:
                return bytes(literal)
        return bytes(literals[0][1]) if len(literals) == 1 else None

    # -- marking

    def mark_imported(self, uids: list[str], *, too_large: list[str] = ()) -> None:
        """Keyword first, then the move: a poller that dies in between leaves the message
        marked in place, and the next poll moves it (``imported_not_moved``)."""
        if too_large:
            self._store(list(too_large), TOO_LARGE_KEYWORD)
        done = [*uids, *too_large]
        if self.keeps_keywords:
            self._store(done, IMPORTED_KEYWORD)
        self.move(done)

    def move(self, uids: list[str]) -> None:
        if not uids or not self.target.processed_folder:
            return
        with _explained("mark", "moving imported mail"):
            self.mailbox.move(uids, self.target.processed_folder, chunks=200)

    def _store(self, uids: list[str], keyword: str) -> None:
        for start in range(0, len(uids), 200):
            with _explained("mark", "marking imported mail"):
                status, _ = self.mailbox.client.uid("STORE", ",".join(uids[start:start + 200]), "+FLAGS.SILENT",
                                                    f"({keyword})")
            if status != "OK":
                raise ImapProblem("The server refused to mark imported mail.", kind="mark")

    def waiting_count(self, *, since: date | None = None) -> int:
        criteria = f"UNDELETED UNKEYWORD {IMPORTED_KEYWORD}"
        if since is not None:
            criteria += f" SINCE {imap_date(since)}"
        return len(self._search(criteria))

