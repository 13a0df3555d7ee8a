"""The outbound-address rule: which addresses the server may send requests to (SSRF).

Imports fetch image URLs (`corpora/pipeline/url_fetch.py`) and webhooks POST to URLs that users
give; both follow this one rule, kept here because core is below every app. An address must be
on the public internet: loopback, private, link-local, multicast, reserved, unspecified, shared
and cloud-metadata addresses are refused, in IPv4 and IPv6 and in IPv6 forms of IPv4 (mapped,
6to4, Teredo, NAT64). Operators name exceptions in an allow-list: host names, addresses or CIDR
networks. Plain Python (no Django): the import pipeline runs it in its parse process.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from core.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services. All but one are link-local or private already; Alibaba's sits in
# the shared (carrier-grade NAT) range. Listed so that the intent survives any later change.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class UrlAllowList:
    """Hosts and networks a request may reach although they are not public (an operator's
    allow-list: `ARBITER_IMAGE_URL_ALLOW` for imports, `ARBITER_WEBHOOK_URL_ALLOW` for webhooks).

    An entry is an address or CIDR (matched against the resolved addresses) or a host name
    (matched, case-insensitively, against the URL's host).
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> UrlAllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def permits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def permits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local,
    multicast, reserved, unspecified, shared or a metadata service, in IPv4 or IPv6, and not an
    IPv6 form (mapped, 6to4, Teredo, NAT64) of such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public_address(embedded)
    if address in METADATA_ADDRESSES:
        return False
    if (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    # is_global also leaves out what the flags above do not name, such as shared address space.
    return address.is_global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def connect_pinned(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """A socket to the first vetted address that answers; never resolves the name again."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error or OSError("no address")


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the vetted addresses; the Host header keeps the URL's host name."""

    def __init__(self, host: str, port: int, *, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = connect_pinned(self._addresses, self.port, self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS checked against the URL's host name (SNI and certificate)."""

    def __init__(self, host: str, port: int, *, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self) -> None:
        sock = connect_pinned(self._addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _refuse(message: str) -> DomainError:
    return DomainError("url_not_allowed", message, status=400)


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"The host {host!r} does not resolve.") from exc
    # an IPv6 zone (fe80::1%eth0) is not part of the address
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class OutboundTarget:
    """A vetted URL: connect to `addresses` (never resolve `host` again), send `path`."""

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]
    path: str

    def connection(self, *, timeout: float) -> http.client.HTTPConnection:
        kind = PinnedHTTPSConnection if self.scheme == "https" else PinnedHTTPConnection
        return kind(self.host, self.port, addresses=self.addresses, timeout=timeout)


def outbound_url_check(url: str, *, allow: Iterable[str] = ()) -> OutboundTarget:
    """Where the server may send a request for `url`; else a 400 `url_not_allowed` domain
    error. http(s) only, no credentials in the URL, every resolved address public unless
    allowed. Send through `target.connection()`: it connects to the vetted addresses, so a
    second DNS answer cannot swap in another (no DNS rebinding)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("The URL must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise _refuse("The URL must not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise _refuse("The URL's port is not a number in range.") from exc
    host = parts.hostname
    allowed = UrlAllowList.parse(allow)
    addresses = _addresses(host, port)
    if not allowed.permits_host(host):
        for address in addresses:
            if not is_public_address(address) and not allowed.permits_address(address):
                raise _refuse(
                    f"{host} resolves to {address}, which is not a public address (loopback, "
                    "private, link-local, reserved or a metadata service); an operator can "
                    "allow it in ARBITER_WEBHOOK_URL_ALLOW."
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    unique = tuple(dict.fromkeys(str(address) for address in addresses))
    return OutboundTarget(parts.scheme, host, port, unique, path)
