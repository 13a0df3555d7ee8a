"""Fetch an image URL without letting an import reach the server's own network (SSRF).

Only http and https. The host name is resolved once; every address it resolves to must be a
public internet address (or be permitted by the allow-list), and the connection goes to that
vetted address, so a second DNS answer cannot swap in another (no time-of-check/time-of-use
gap). Redirects are followed by hand, a bounded number of times, and each target is vetted the
same way. Every network failure reads the same, so error text cannot be used to tell open
ports from closed ones; the details go to the log.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

# The address rule is core's, shared with every outbound request (webhooks too).
from core.outbound import (
    IPAddress,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    UrlAllowList,
    is_public_address,
)

logger = logging.getLogger(__name__)

FETCH_FAILED = "could not fetch the image"
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_READ_SIZE = 64 * 1024


class UrlRefused(ValueError):
    """The URL may not be fetched: its scheme, or an address it leads to."""


class FetchFailed(OSError):
    """Anything that went wrong on the network; its text is deliberately always the same."""

    def __init__(self) -> None:
        super().__init__(FETCH_FAILED)


def fetch(url: str, *, max_bytes: int, timeout: float, allow: UrlAllowList) -> bytes:
    """The body of `url` (at most `max_bytes`), following redirects; raises UrlRefused,
    FetchFailed, or ValueError when the body is too large."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        target = _vet(url, allow)
        response, connection = _request(target, deadline)
        try:
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise _failed(url, f"redirect {response.status} without a Location")
                url = urljoin(url, location)
                continue
            if response.status != http.client.OK:
                raise _failed(url, f"HTTP status {response.status}")
            return _read_body(response, connection, url, max_bytes, deadline)
        finally:
            connection.close()
    raise _failed(url, f"more than {MAX_REDIRECTS} redirects")


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]  # vetted; tried in order
    path: str


def _vet(url: str, allow: UrlAllowList) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("the image URL is malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("only http and https image URLs are fetched")
    host = parts.hostname
    if not host:
        raise UrlRefused("the image URL has no host")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(url, host, port)
    if not allow.permits_host(host):
        for address in addresses:
            if not is_public_address(address) and not allow.permits_address(address):
                raise UrlRefused(
                    "the image URL leads to an address that is not public (loopback, private, "
                    "link-local, reserved or a metadata service); ARBITER_IMAGE_URL_ALLOW can "
                    "permit it"
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme, host, port, tuple(str(a) for a in addresses), path)


def _resolve(url: str, host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _failed(url, f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"): the address itself decides.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _failed(url, f"{host!r} resolves to no address")
    return addresses


def _request(
    target: _Target, deadline: float
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    kind = PinnedHTTPSConnection if target.scheme == "https" else PinnedHTTPConnection
    connection = kind(
        target.host, target.port, addresses=target.addresses, timeout=_remaining(deadline)
    )
    try:
        connection.request(
            "GET", target.path, headers={"User-Agent": "Arbiter-import/1", "Accept": "image/*"}
        )
        return connection.getresponse(), connection
    except (OSError, http.client.HTTPException, ValueError) as exc:
        connection.close()
        raise _failed(f"{target.scheme}://{target.host}:{target.port}", repr(exc)) from exc


def _read_body(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    url: str,
    max_bytes: int,
    deadline: float,
) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise ValueError(f"the image is larger than the limit of {max_bytes} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            if connection.sock is not None:
                connection.sock.settimeout(_remaining(deadline))
            block = response.read(_READ_SIZE)
            if not block:
                break
            size += len(block)
            if size > max_bytes:
                raise ValueError(f"the image is larger than the limit of {max_bytes} bytes")
            parts.append(block)
    except (OSError, http.client.HTTPException) as exc:
        raise _failed(url, repr(exc)) from exc
    return b"".join(parts)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed()
    return left


def _failed(url: str, detail: str) -> FetchFailed:
    logger.info("image fetch failed: %s: %s", url, detail)
    return FetchFailed()
