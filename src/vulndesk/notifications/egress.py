"""The one egress path for user-given URLs (webhooks): the SSRF rules of ASVS V1.3.6.

``webhook_target(url)`` accepts only ``https`` URLs on port 443 or 8443, without credentials,
whose host is either a literal public address or a fully qualified name that resolves *only* to
public addresses. It resolves once and returns the checked addresses; ``webhook_post`` then
connects to one of those addresses (never resolving again), with SNI and certificate check
and ``Host`` taken from the name, so a DNS answer that changes between check and connect
(rebinding) cannot redirect the request. Callers check again at every delivery.

Which addresses are public is ``core.egress``'s rule, shared with the IMAP poller.
Numeric host forms that resolvers read differently (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``127.1``) are refused outright. Redirects are never followed (ASVS V15.3.2): a 3xx counts as a
failed delivery.

Resolution is a parameter (``resolver(host, port) -> [address, ...]``), so tests check DNS
answers (private, mixed, rebinding) without touching DNS.
"""

import http.client
import ipaddress
import logging
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from vulndesk.core.egress import Resolver, address_refusal, is_loopback_address, system_resolver
from vulndesk.core.errors import DomainError
from vulndesk.notifications.config import setting

logger = logging.getLogger(__name__)

ALLOWED_PORTS = frozenset({443, 8443})
URL_MAX_CHARS = 2000

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")


class UnsafeWebhookURL(DomainError):
    code = "unsafe_url"

    def __init__(self, message: str):
        super().__init__(message, field="url")


@dataclass(frozen=True)
class WebhookTarget:
    host: str  # lower-case name, or the address of a literal
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # checked, in resolver order

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"


def _inet_aton_value(text: str) -> int | None:
    """What ``inet_aton`` (and many URL parsers) make of a numeric host: 1-4 parts, each
    decimal, octal (leading 0) or hex (0x). None if it is not such a form."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not _NUMERIC_HOST.match(text):
        return None
    values = []
    for part in parts:
        try:
            if part.startswith(("0x", "0X")):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for v in head:
        value = value * 256 + v
    return value * 256 ** (4 - len(head)) + last


def webhook_target(url: str, *, resolver: Resolver = system_resolver, allow_loopback: bool | None = None
                   ) -> WebhookTarget:
    """Check ``url`` and resolve its host once; raise ``UnsafeWebhookURL`` (and log) if refused."""
    if allow_loopback is None:
        allow_loopback = bool(setting("NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_FOR_TESTS"))
    try:
        return _check(url, resolver, allow_loopback)
    except UnsafeWebhookURL as refusal:
        # ASVS V16.3.3: SSRF refusals are security events. The URL itself may carry a
        # receiver's token, so only the reason is logged (addresses and our own words).
        logger.warning("webhook URL refused: %s", refusal.message, extra={"security_event": "ssrf_refused"})
        raise


def _check(url: str, resolver: Resolver, allow_loopback: bool) -> WebhookTarget:
    if not isinstance(url, str) or not url or len(url) > URL_MAX_CHARS:
        raise UnsafeWebhookURL(f"Give an https URL of at most {URL_MAX_CHARS} characters.")
    if not url.isascii() or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise UnsafeWebhookURL("The URL may not contain spaces, control or non-ASCII characters "
                               "(write international names in their xn-- form).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookURL("This is not a valid URL.") from None
    if parts.scheme != "https":
        raise UnsafeWebhookURL("Webhook URLs must use https.")
    if "@" in parts.netloc:
        raise UnsafeWebhookURL("Webhook URLs may not contain a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeWebhookURL("The URL has no host.")
    if parts.fragment:
        raise UnsafeWebhookURL("Webhook URLs may not have a #fragment.")
    port = port if port is not None else 443
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    if parts.netloc.startswith("["):
        if "%" in host:
            raise UnsafeWebhookURL("Scoped IPv6 addresses are not allowed.")
        try:
            addresses = [str(ipaddress.IPv6Address(host))]
        except ValueError:
            raise UnsafeWebhookURL("The address in brackets is not an IPv6 address.") from None
    elif _NUMERIC_HOST.match(host) and _inet_aton_value(host) is not None:
        value = _inet_aton_value(host)
        canonical = str(ipaddress.IPv4Address(value))
        if canonical != host:
            raise UnsafeWebhookURL(f"Write the address as four decimal numbers ({canonical}); other numeric "
                                   "forms are read differently by different programs.")
        addresses = [canonical]
    else:
        labels = host.split(".")
        if len(host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
            raise UnsafeWebhookURL("Use a fully qualified host name (like hooks.example.com) or a public address.")
        if labels[-1].isdigit():
            raise UnsafeWebhookURL("This is not a valid host name.")
        if labels[-1] == "localhost":
            raise UnsafeWebhookURL("localhost is not a public host.")
        try:
            answers = resolver(host, port)
        except (OSError, UnicodeError):
            raise UnsafeWebhookURL(f"{host} cannot be resolved.") from None
        addresses = list(dict.fromkeys(answer.split("%", 1)[0] for answer in answers))
        if not addresses:
            raise UnsafeWebhookURL(f"{host} cannot be resolved.")

    refusals = [reason for reason in (address_refusal(a, allow_loopback=allow_loopback) for a in addresses) if reason]
    if refusals:
        # Every address must be public: a name answering one public and one private address
        # would let the connection pick the private one.
        raise UnsafeWebhookURL(f"{host} is not a public host: {refusals[0]}.")
    all_loopback = allow_loopback and all(is_loopback_address(a) for a in addresses)
    if port not in ALLOWED_PORTS and not all_loopback:
        raise UnsafeWebhookURL("Webhook URLs may use port 443 or 8443 only.")
    return WebhookTarget(host=host, port=port, path=path, addresses=tuple(addresses))


# --- the request -----------------------------------------------------------------------------

class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address: TCP to ``address``, TLS SNI and certificate check for the
    name (``host``). http.client sends the Host header from ``host`` and never redirects."""

    def __init__(self, host: str, port: int, *, address: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def tls_context() -> ssl.SSLContext:
    ca_file = setting("NOTIFICATIONS_WEBHOOK_CA_FILE") or None
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def webhook_post(target: WebhookTarget, *, body: bytes, headers: dict[str, str], timeout: float | None = None) -> int:
    """POST ``body`` to a checked target and return the HTTP status. Raises ``OSError``
    (connection, timeout), ``ssl.SSLError`` or ``http.client.HTTPException``; the response body
    is read (bounded) and dropped, never stored or shown."""
    timeout = timeout if timeout is not None else float(setting("NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS"))
    context = tls_context()
    last_error: Exception | None = None
    for address in target.addresses:
        connection = _PinnedHTTPSConnection(target.host, target.port, address=address, context=context,
                                            timeout=timeout)
        try:
            connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", target.host_header)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            response.read(4096)
            return response.status
        except ssl.SSLError:
            raise  # a certificate problem is not fixed by another address of the same name
        except (ConnectionError, TimeoutError) as error:
            last_error = error  # try the next checked address
        finally:
            connection.close()
    assert last_error is not None
    raise last_error
