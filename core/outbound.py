"""The outbound-address rule: which addresses the server may send requests to (SSRF).

Imports fetch image URLs (`corpora/pipeline/url_fetch.py`) and webhooks POST to URLs that users
give; both follow this one rule, kept here because core is below every app. An address must be
on the public internet: loopback, private, link-local, multicast, reserved, unspecified, shared
and cloud-metadata addresses are refused, in IPv4 and IPv6 and in IPv6 forms of IPv4 (mapped,
6to4, Teredo, NAT64). Operators name exceptions in an allow-list: host names, addresses or CIDR
networks. Plain Python (no Django): the import pipeline runs it in its parse process.
"""

from __future__ import annotations

import ipaddress
import socket
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


def _refuse(message: str) -> DomainError:
    return DomainError("url_not_allowed", message, status=400)


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _refuse(f"The host {host!r} does not resolve.") from exc
    # an IPv6 zone (fe80::1%eth0) is not part of the address
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def outbound_url_check(url: str, *, allow: Iterable[str] = ()) -> str:
    """The URL, when the server may send to it; else a 400 `url_not_allowed` domain error.
    http(s) only, no credentials in the URL, every resolved address public unless allowed.

    The name is resolved when asked: callers that send later check again before each request
    (webhooks do, at every attempt)."""
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
    if allowed.permits_host(host):
        return url
    for address in addresses:
        if not is_public_address(address) and not allowed.permits_address(address):
            raise _refuse(
                f"{host} resolves to {address}, which is not a public address (loopback, "
                "private, link-local, reserved or a metadata service); an operator can allow "
                "it in ARBITER_WEBHOOK_URL_ALLOW."
            )
    return url
