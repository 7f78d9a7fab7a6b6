"""Which network addresses vulndesk may connect to on a user's behalf (SSRF, ASVS V1.3.6).

Webhook deliveries (``notifications.egress``) and IMAP polling (``mailintake.imap``) both connect
from the vulndesk server to a host that a tenant chose; both ask this module whether each address
the host resolves to is a public unicast address, and then connect to that checked address only.

"Public" is decided by an explicit block list first, and ``is_global`` only second: Python
3.11.7 predates the CVE-2024-4032 fix and calls the NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
forms of 127.0.0.1 global. IPv4-mapped IPv6 addresses are unwrapped and judged as IPv4.

Resolution is a parameter (``resolver(host, port) -> [address, ...]``) of the callers, so tests
check DNS answers (private, mixed, rebinding) without touching DNS.
"""

import ipaddress
import socket
from collections.abc import Callable

Resolver = Callable[[str, int], list[str]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
BLOCKED_NETWORKS = (
    _V4("0.0.0.0/8"), _V4("10.0.0.0/8"), _V4("100.64.0.0/10"), _V4("127.0.0.0/8"),
    _V4("169.254.0.0/16"),  # link-local, cloud metadata (169.254.169.254)
    _V4("172.16.0.0/12"), _V4("192.0.0.0/24"), _V4("192.0.2.0/24"), _V4("192.88.99.0/24"),
    _V4("192.168.0.0/16"), _V4("198.18.0.0/15"), _V4("198.51.100.0/24"), _V4("203.0.113.0/24"),
    _V4("224.0.0.0/4"), _V4("240.0.0.0/4"),
    _V6("::/96"),  # unspecified, loopback, IPv4-compatible (deprecated, embeds IPv4)
    _V6("64:ff9b::/96"), _V6("64:ff9b:1::/48"),  # NAT64: embeds any IPv4 address
    _V6("100::/64"), _V6("2001::/23"),  # discard; IETF protocol space incl. Teredo 2001::/32
    _V6("2001:db8::/32"), _V6("2002::/16"),  # documentation; 6to4: embeds any IPv4 address
    _V6("3fff::/20"), _V6("5f00::/16"), _V6("fc00::/7"), _V6("fe80::/10"), _V6("fec0::/10"), _V6("ff00::/8"),
)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


def unwrapped_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address a connection to ``address`` really reaches: a zone id dropped, an IPv4-mapped
    IPv6 address (``::ffff:10.0.0.1``) as its IPv4 address. ValueError if it is no address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


def is_loopback_address(address: str) -> bool:
    return unwrapped_address(address).is_loopback


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be contacted, or None when it is a public unicast address."""
    try:
        ip = unwrapped_address(address)
    except ValueError:
        return f"{address[:60]!r} is not an IP address"
    if allow_loopback and ip.is_loopback:
        return None
    for network in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return f"{ip} is in {network}, which is not a public network"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None
