"""Request-smuggling and malformed-request corpus over raw sockets: each gets a 400 and a closed
connection, never reaches the backend, and never disturbs other clients."""

from __future__ import annotations

import socket

import pytest

from tests.support.proxy import http_get

H = b"Host: s.test\r\n"
CORPUS = {
    "cl_and_te": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate_cl_same": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "duplicate_cl_diff": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
    "cl_list": b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: 1, 1\r\n\r\nx",
    "cl_not_a_number": b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: 1x\r\n\r\nx",
    "cl_negative": b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\nx",
    "cl_plus": b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: +1\r\n\r\nx",
    "obs_fold": b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n  folded\r\n\r\n",
    "obs_fold_te": b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "bad_chunk_size": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    "chunk_missing_crlf": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n",
    "te_not_chunked": b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "te_chunked_not_last": b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\nabc",
    "te_xchunked": b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te_twice": b"POST /upload HTTP/1.1\r\n"
    + H
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: s.test\n\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: s.test\rX: y\r\n\r\n",
    "nul_in_header": b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: s.test\r\nHost: other.test\r\n\r\n",
    "no_host_http11": b"GET / HTTP/1.1\r\nX: y\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad_version": b"GET / HTTP/9.9\r\n" + H + b"\r\n",
    "space_in_target": b"GET /a b HTTP/1.1\r\n" + H + b"\r\n",
    "connect": b"CONNECT s.test:443 HTTP/1.1\r\n" + H + b"\r\n",
}

# Errors inside a streamed chunked body: the head may already be on its way to the app (bodies stream,
# they are not buffered); the proxy then aborts that upstream connection, so nothing desyncs either.
BODY_ERRORS = {"bad_chunk_size", "chunk_size_overflow", "chunk_missing_crlf"}


@pytest.fixture(scope="module")
def setup(request):
    # Module-scoped: one proxy and backend for the whole corpus (each case is independent anyway).
    import tempfile
    from pathlib import Path

    from tests.support.proxy import HttpBackend, SyncProxy

    tmp = tempfile.mkdtemp(prefix="rivetr-smuggle-")
    backend = HttpBackend("smuggle")
    proxy = SyncProxy(Path(tmp))
    proxy.set_route("s.test", backend.address)
    yield proxy, backend
    proxy.close()
    backend.stop()


def send_raw(port: int, data: bytes) -> tuple[bytes, bool]:
    """Send ``data``; return (everything received, whether the proxy closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            closed = False
        except ConnectionResetError:
            closed = True
    return received, closed


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_malformed_request_is_rejected_and_closed(setup, case):
    proxy, backend = setup
    before = backend.requests
    received, closed = send_raw(proxy.port, CORPUS[case])
    expected = b"HTTP/1.1 405" if case == "connect" else b"HTTP/1.1 400"
    assert received.startswith(expected), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1  # nothing smuggled behind it
    assert closed
    if case not in BODY_ERRORS:
        assert backend.requests == before  # never reached the app
    assert http_get(proxy.port, "s.test")[2] == b"smuggle"  # the worker is fine


def test_smuggled_second_request_in_body_is_not_executed(setup):
    """A CL-delimited body that looks like a request stays a body."""
    proxy, _backend = setup
    smuggled = b"GET /status?code=299 HTTP/1.1\r\nHost: s.test\r\n\r\n"
    data = (
        b"POST /upload HTTP/1.1\r\nHost: s.test\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(smuggled)
        + smuggled
    )
    received, _ = send_raw(proxy.port, data)
    assert received.count(b"HTTP/1.1 ") == 1 and b'"bytes": %d' % len(smuggled) in received


def test_many_bad_clients_do_not_affect_good_ones(setup):
    proxy, _ = setup
    socks = []
    for i in range(50):
        s = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        s.sendall(CORPUS[sorted(CORPUS)[i % len(CORPUS)]][:30])  # half-sent garbage, left open
        socks.append(s)
    try:
        for _ in range(20):
            assert http_get(proxy.port, "s.test")[0] == 200
    finally:
        for s in socks:
            s.close()
    assert proxy.status()["ok"]
