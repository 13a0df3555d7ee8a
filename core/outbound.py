"""The outbound-address check: may the server send a request to this URL?

Webhooks (and, once they fetch by URL, imports) send requests where a user tells them to. A URL
that resolves to loopback, a private network, link-local (cloud metadata at 169.254.169.254),
multicast or any other non-global address is refused, so nobody can make the server reach its
own internal services (SSRF). Operators name exceptions in an allow-list setting: a host name,
an address, or a network in CIDR form (`127.0.0.1`, `hooks.internal`, `10.1.0.0/16`).

The check resolves the name when asked; a name re-pointed between the check and the request
(DNS rebinding) is checked again at every delivery, not pinned.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from core.errors import DomainError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _refuse(message: str) -> DomainError:
    return DomainError("url_not_allowed", message, status=400)


def _addresses(host: str, port: int) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refuse(f"The host {host!r} does not resolve.") from exc
    # an IPv6 scope (fe80::1%eth0) is not part of the address
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _allowed(host: str, addresses: list[Address], allow: Iterable[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(address in network for address in addresses):
            return True
    return False


def outbound_url_check(url: str, *, allow: Iterable[str] = ()) -> str:
    """The URL, when the server may send to it; else a 400 `url_not_allowed` domain error.
    http(s) only, no credentials in the URL, every resolved address global unless allowed."""
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
    addresses = _addresses(host, port)
    allow = list(allow)
    if _allowed(host, addresses, allow):
        return url
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not mapped.is_global or mapped.is_multicast:
            raise _refuse(
                f"{host} resolves to {address}, a loopback, private or reserved address; "
                "an operator can allow it in the outbound allow-list."
            )
    return url
