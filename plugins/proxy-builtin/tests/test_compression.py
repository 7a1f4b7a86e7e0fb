"""Response compression through a real proxy process and a real backend: gzip, brotli and zstd round trips byte
for byte (Python decompressors and curl --compressed), streaming (1 MB chunked, server-sent events flushed per
upstream read), and every case that must pass untouched."""

from __future__ import annotations

import gzip
import http.client
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli
import pytest
import zstandard
from rivetr_proxy_builtin.compress import choose_encoding

from tests.support.compression import ContentBackend, decompress, make_body

HOST = "z.test"


@pytest.fixture
def site(proxy_factory: Callable[..., Any]) -> Iterator[tuple[Any, ContentBackend]]:
    backend = ContentBackend()
    proxy = proxy_factory()
    proxy.set_route(HOST, backend.address)
    yield proxy, backend
    backend.stop()


def fetch(
    port: int, path: str, accept: str | None = "gzip", method: str = "GET", conn: Any = None
) -> tuple[int, dict[str, str], bytes]:
    """One request through http.client (de-chunks, never decodes): status, lower-cased headers, raw body."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": HOST}
    if accept is not None:
        headers["Accept-Encoding"] = accept
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    if conn is None:
        c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("mode", ["cl", "chunked", "close"])
def test_round_trip_byte_for_byte(site, encoding, mode):
    proxy, _ = site
    size = 40_000
    status, headers, raw = fetch(proxy.port, f"/body?size={size}&mode={mode}", accept=encoding)
    assert status == 200
    assert headers.get("content-encoding") == encoding, headers
    assert headers.get("vary") == "Accept-Encoding"
    assert "accept-ranges" not in headers
    assert len(raw) < size // 2  # really compressed
    assert decompress(encoding, raw) == make_body(size)
    if mode == "cl":  # a whole response in one read may be compressed at once: then it keeps a length
        assert headers.get("content-length") == str(len(raw)) or headers.get("transfer-encoding") == "chunked"
    else:
        assert headers.get("transfer-encoding") == "chunked"


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_one_megabyte_streamed(site, encoding):
    proxy, _ = site
    size = 1024 * 1024
    for mode in ("chunked", "cl"):
        status, headers, raw = fetch(proxy.port, f"/body?size={size}&mode={mode}", accept=encoding)
        assert status == 200 and headers.get("content-encoding") == encoding
        assert headers.get("transfer-encoding") == "chunked"  # streamed: never buffered to learn its length
        assert decompress(encoding, raw) == make_body(size)


def test_keep_alive_connection_carries_several_compressed_responses(site):
    proxy, _ = site
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        for size, mode, enc in [(5000, "cl", "gzip"), (300_000, "chunked", "br"), (20, "cl", "zstd")]:
            status, headers, raw = fetch(proxy.port, f"/body?size={size}&mode={mode}", accept=enc, conn=c)
            assert status == 200
            got = decompress(enc, raw) if "content-encoding" in headers else raw
            assert got == make_body(size)
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("accept", [None, "gzip", "zstd", "br;q=0.5, gzip;q=0.9"])
def test_curl_compressed(site, accept):
    proxy, _ = site
    size = 300_000
    cmd = ["curl", "-sS", "--compressed", "-D", "-", "-o", "-", "-H", f"Host: {HOST}"]
    if accept is not None:
        cmd += ["-H", f"Accept-Encoding: {accept}"]
    for mode in ("cl", "chunked"):
        out = subprocess.run(
            [*cmd, f"http://127.0.0.1:{proxy.port}/body?size={size}&mode={mode}"],
            capture_output=True,
            check=True,
        ).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        expected = {None: "br", "gzip": "gzip", "zstd": "zstd", "br;q=0.5, gzip;q=0.9": "gzip"}[accept]
        assert f"content-encoding: {expected}".encode() in head.lower(), head
        assert body == make_body(size)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/body?size=30000&ce=gzip", "already encoded"),
        ("/body?size=30000&cc=public,%20no-transform", "no-transform"),
        ("/body?size=500", "below the minimum size"),
        ("/body?size=30000&type=image/png", "not a compressible type"),
        ("/body?size=30000&status=206", "a range"),
    ],
)
def test_passed_untouched(site, path, why):
    proxy, _ = site
    size = int(parse_qs(urlsplit(path).query)["size"][0])
    status, headers, raw = fetch(proxy.port, path, accept="gzip, br, zstd")
    assert status == (206 if "status=206" in path else 200), why
    assert headers.get("content-encoding") == ("gzip" if "ce=" in path else None), why
    assert headers.get("content-length") == str(size), why
    assert raw == make_body(size), why
    assert "vary" not in headers, why


def test_head_untouched(site):
    proxy, _ = site
    status, headers, raw = fetch(proxy.port, "/body?size=30000", accept="gzip", method="HEAD")
    assert status == 200 and raw == b""
    assert "content-encoding" not in headers and headers.get("content-length") == "30000"


def test_no_accept_encoding_untouched(site):
    proxy, _ = site
    for accept in (None, "identity", "gzip;q=0", "deflate"):
        _, headers, raw = fetch(proxy.port, "/body?size=30000&mode=chunked", accept=accept)
        assert "content-encoding" not in headers, accept
        assert raw == make_body(30000)


def test_etag_weakened_and_vary_merged(site):
    proxy, _ = site
    _, headers, raw = fetch(proxy.port, '/body?size=30000&etag="abc"&vary=Origin', accept="gzip")
    assert gzip.decompress(raw) == make_body(30000)
    assert headers["content-encoding"] == "gzip"
    assert headers["etag"] == 'W/"abc"'
    assert headers["vary"] == "Origin, Accept-Encoding"
    _, headers, _ = fetch(proxy.port, '/body?size=30000&etag=W/"abc"&vary=accept-encoding', accept="gzip")
    assert headers["etag"] == 'W/"abc"' and headers["vary"] == "accept-encoding"


def test_route_and_server_switches(proxy_factory):
    backend = ContentBackend()
    try:
        on = proxy_factory()
        on.set_route(HOST, backend.address, compression=False)
        _, headers, raw = fetch(on.port, "/body?size=30000", accept="gzip")
        assert "content-encoding" not in headers and raw == make_body(30000)
        on.set_route(HOST, backend.address)
        _, headers, _ = fetch(on.port, "/body?size=30000", accept="gzip")
        assert headers.get("content-encoding") == "gzip"
        off = proxy_factory(compression=False)
        off.set_route(HOST, backend.address)
        _, headers, raw = fetch(off.port, "/body?size=30000", accept="gzip")
        assert "content-encoding" not in headers and raw == make_body(30000)
        small = proxy_factory(compression_min_size=10, compression_types=["application/x-custom"])
        small.set_route(HOST, backend.address)
        _, headers, raw = fetch(small.port, "/body?size=500&type=application/x-custom", accept="gzip")
        assert headers.get("content-encoding") == "gzip" and gzip.decompress(raw) == make_body(500)
        _, headers, _ = fetch(small.port, "/body?size=500", accept="gzip")  # text/html is not in the list now
        assert "content-encoding" not in headers
    finally:
        backend.stop()


def _read_chunk(sock: socket.socket, buf: bytearray) -> bytes:
    """One chunk of a chunked body from ``sock`` (``buf`` holds what was read past the last one)."""
    while b"\r\n" not in buf:
        data = sock.recv(65536)
        assert data, "connection closed"
        buf += data
    line, _, rest = bytes(buf).partition(b"\r\n")
    size = int(line, 16)
    while len(rest) < size + 2:
        data = sock.recv(65536)
        assert data, "connection closed"
        rest += data
    buf[:] = rest[size + 2 :]
    return rest[:size]


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_server_sent_events_flushed_per_read(site, encoding):
    """The first event arrives, decodable, while the app still holds the stream open (the app sends its
    second event only after the test has seen the first): a proxy that buffered would time out here."""
    proxy, backend = site
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=20) as s:
        s.sendall(f"GET /sse HTTP/1.1\r\nHost: {HOST}\r\nAccept-Encoding: {encoding}\r\n\r\n".encode())
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert f"content-encoding: {encoding}".encode() in head.lower(), head
        buf[:] = rest
        if encoding == "gzip":
            dec: Any = __import__("zlib").decompressobj(31)
        elif encoding == "br":
            dec = brotli.Decompressor()
        else:
            dec = zstandard.ZstdDecompressor().decompressobj()
        feed = dec.process if encoding == "br" else dec.decompress
        text = b""
        while b"data: one\n\n" not in text:
            text += feed(_read_chunk(s, buf))
        assert text == b"data: one\n\n"  # and nothing of the second event yet: it has not been sent
        backend.release.set()
        while True:
            chunk = _read_chunk(s, buf)
            if not chunk:
                break
            text += feed(chunk)
        assert text == b"data: one\n\ndata: two\n\n"


def test_negotiation_rules():
    assert choose_encoding(b"gzip, deflate, br, zstd") == "br"
    assert choose_encoding(b"gzip, zstd") == "zstd"
    assert choose_encoding(b"gzip;q=1.0, br;q=0.5") == "gzip"
    assert choose_encoding(b"br;q=0, gzip") == "gzip"
    assert choose_encoding(b"*") == "br"
    assert choose_encoding(b"*;q=0.5, gzip") == "gzip"
    assert choose_encoding(b"identity") is None
    assert choose_encoding(b"gzip;q=0") is None
    assert choose_encoding(b"x-gzip") == "gzip"
    assert choose_encoding(b"GZIP;Q=0.3") == "gzip"
    assert choose_encoding(b"br;q=bad, gzip;q=0.1") == "gzip"
    assert choose_encoding(b"br, gzip", ("zstd", "gzip")) == "gzip"


def test_worker_imports_brotli_and_zstandard_only_when_asked():
    code = (
        "import sys, rivetr_proxy_builtin.worker, rivetr_proxy_builtin.server;"
        "print(sorted({'brotli', 'zstandard'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
