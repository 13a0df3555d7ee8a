"""Image URLs in imports: no fetch from the server's own network (SSRF), no port-state oracle."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from corpora.models import Corpus, Item
from corpora.pipeline.images import ImageError, ImageLimits, fetch_url
from corpora.pipeline.problems import ImportFailed
from corpora.pipeline.url_fetch import FETCH_FAILED, UrlAllowList
from corpora.services.corpus_import import corpus_import
from tests.corpora.llava import png_bytes, record, write_json

PNG = png_bytes()
NOT_PUBLIC = "not public"


def _limits(*allow: str, max_bytes: int = 1_000_000) -> ImageLimits:
    return ImageLimits(
        max_pixels=1_000_000,
        max_bytes=max_bytes,
        max_archive_bytes=10_000_000,
        url_timeout=5,
        url_allow=UrlAllowList.parse(allow),
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # the http.server API
        self.requests.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/a.png":
            self._answer(200, PNG, {"Content-Type": "image/png"})
        elif parts.path == "/redirect":
            self._answer(302, b"", {"Location": parse_qs(parts.query)["to"][0]})
        elif parts.path == "/loop":
            self._answer(302, b"", {"Location": "/loop"})
        else:
            self._answer(404, b"nothing here", {})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def _error(url: str, limits: ImageLimits) -> str:
    with pytest.raises(ImageError) as exc:
        fetch_url(url, limits)
    return str(exc.value)


def test_an_allowed_loopback_server_is_fetched(server):
    address, _ = server
    assert fetch_url(f"http://{address}/a.png", _limits("127.0.0.1")) == PNG


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",  # a name that resolves to loopback
        "[::1]:{port}",
        "[::ffff:127.0.0.1]:{port}",  # IPv4-mapped IPv6
        "0.0.0.0:{port}",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # Alibaba's metadata, in shared address space
        "[fd00:ec2::254]",  # AWS metadata over IPv6
        "[fe80::1]",
        "224.0.0.1",
        "240.0.0.1",
        "[2002:7f00:1::]",  # 6to4 form of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused_before_connecting(server, host):
    address, requests = server
    port = address.rsplit(":", 1)[1]
    message = _error(f"http://{host.format(port=port)}/a.png", _limits())
    assert NOT_PUBLIC in message and "ARBITER_IMAGE_URL_ALLOW" in message
    assert requests == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://example.com/"]
)
def test_only_http_and_https(url):
    assert "only http and https" in _error(url, _limits())


def test_the_allow_list_takes_host_names_and_networks(server):
    address, _ = server
    port = address.rsplit(":", 1)[1]
    assert fetch_url(f"http://localhost:{port}/a.png", _limits("localhost")) == PNG
    assert fetch_url(f"http://127.0.0.1:{port}/a.png", _limits("127.0.0.0/8")) == PNG
    assert NOT_PUBLIC in _error(f"http://127.0.0.1:{port}/a.png", _limits("10.0.0.0/8"))


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/a.png",
        "http://[::1]/a.png",
    ],
)
def test_a_redirect_to_a_refused_address_is_refused(server, target):
    address, requests = server
    message = _error(f"http://{address}/redirect?to={target}", _limits("127.0.0.1"))
    assert NOT_PUBLIC in message
    assert requests == [f"/redirect?to={target}"]


def test_a_redirect_to_another_scheme_is_refused(server):
    address, _ = server
    message = _error(f"http://{address}/redirect?to=file:///etc/passwd", _limits("127.0.0.1"))
    assert "only http and https" in message


def test_redirects_are_followed_and_bounded(server):
    address, requests = server
    assert fetch_url(f"http://{address}/redirect?to=/a.png", _limits("127.0.0.1")) == PNG
    requests.clear()
    assert _error(f"http://{address}/loop", _limits("127.0.0.1")) == FETCH_FAILED
    assert len(requests) == 6  # the first request and five redirects, then it stops


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and closes them without a word (not HTTP)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.sendall(b"SSH-2.0-OpenSSH\r\n")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_closed_and_open_ports_give_the_same_message(server, silent_port):
    address, _ = server
    allowed = _limits("127.0.0.1")
    messages = {
        "closed": _error(f"http://127.0.0.1:{_closed_port()}/a.png", allowed),
        "open, not HTTP": _error(f"http://127.0.0.1:{silent_port}/a.png", allowed),
        "open, 404": _error(f"http://{address}/missing.png", allowed),
        "no such host": _error("http://no-such-host.invalid/a.png", allowed),
    }
    assert set(messages.values()) == {FETCH_FAILED}, messages
    # Refused before any connection, whatever the port: the same for open and closed.
    refused = {
        _error(f"http://127.0.0.1:{port}/a.png", _limits())
        for port in (_closed_port(), silent_port, int(address.rsplit(":", 1)[1]))
    }
    assert len(refused) == 1


def test_the_address_checked_is_the_address_connected_to(server, monkeypatch):
    # given: a name whose DNS answer changes after the first look-up (DNS rebinding)
    address, requests = server
    port = int(address.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])
    lookups: list[str] = []

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    # when
    data = fetch_url(f"http://rebind.test:{port}/a.png", _limits("127.0.0.1"))
    # then: one look-up, and the request went to the address that was vetted
    assert data == PNG and lookups == ["rebind.test"] and requests == ["/a.png"]


def test_size_is_bounded(server):
    address, _ = server
    message = _error(f"http://{address}/a.png", _limits("127.0.0.1", max_bytes=10))
    assert "larger than the limit of 10 bytes" in message


@pytest.mark.django_db
def test_an_import_with_a_loopback_url_is_refused_per_item(tmp_path, server, settings):
    address, requests = server
    settings.ARBITER_IMAGE_URL_ALLOW = []
    corpus = Corpus.objects.create(name="c")
    source = write_json(
        tmp_path / "c.json", [record("1", image=f"http://localhost:{address.split(':')[1]}/a.png")]
    )
    with pytest.raises(ImportFailed) as exc:
        corpus_import(corpus=corpus, source=source)
    (problem,) = exc.value.problems
    assert problem.code == "invalid_image" and problem.item_id == "1"
    assert NOT_PUBLIC in problem.message
    assert requests == [] and not Item.objects.exists()
