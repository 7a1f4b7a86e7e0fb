"""HTTP behaviour through a real proxy process and real backends: routing, keep-alive, headers, bodies,
error statuses and limits."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.support.proxy import echoed_headers, free_port, http_get, parse_response


class Conn:
    """A kept-alive client connection that reads responses exactly (pipelined ones may share a recv)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.f = self.sock.makefile("rb")

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()
        self.sock.close()

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, n: int) -> bytes:
        return self.f.read1(n)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = self.f.readline()
        if not status_line:
            raise ConnectionError("closed")
        head = status_line
        while True:
            line = self.f.readline()
            head += line
            if line in (b"\r\n", b""):
                break
        status, headers, _ = parse_response(head)
        body = self.f.read(int(headers.get("content-length", "0")))
        return status, headers, body


def test_routes_by_host_with_wildcards_and_404(proxy_factory, backend_factory):
    a, w = backend_factory("a"), backend_factory("wild")
    p = proxy_factory()
    p.set_route("a.test", a.address)
    p.set_route("*.apps.test", w.address)
    assert http_get(p.port, "a.test")[2] == b"a"
    assert http_get(p.port, "A.Test:8080")[2] == b"a"  # case and port ignored
    assert http_get(p.port, "x.apps.test")[2] == b"wild"
    assert http_get(p.port, "y.z.apps.test")[2] == b"wild"
    status, headers, body = http_get(p.port, "nope.test")
    assert status == 404 and b"No application" in body and headers["content-type"].startswith("text/html")
    p.call("remove_route", "a.test")
    assert http_get(p.port, "a.test")[0] == 404


def test_round_robin_across_upstreams(proxy_factory, backend_factory):
    b1, b2 = backend_factory("one"), backend_factory("two")
    p = proxy_factory()
    p.set_route("rr.test", b1.address, b2.address)
    seen = [http_get(p.port, "rr.test")[2] for _ in range(10)]
    assert set(seen) == {b"one", b"two"}


def test_keep_alive_both_sides(proxy_factory, backend_factory):
    b = backend_factory("ka")
    p = proxy_factory()
    p.set_route("ka.test", b.address)
    with Conn(p.port) as s:
        for _ in range(20):
            s.sendall(b"GET / HTTP/1.1\r\nHost: ka.test\r\n\r\n")
            status, _, body = s.response()
            assert (status, body) == (200, b"ka")
    assert b.requests == 20
    assert b.connections == 1  # the upstream connection was pooled and reused
    # HTTP/1.0 keep-alive is honoured too
    with Conn(p.port) as s:
        for _ in range(3):
            s.sendall(b"GET / HTTP/1.0\r\nHost: ka.test\r\nConnection: keep-alive\r\n\r\n")
            status, headers, body = s.response()
            assert status == 200 and headers.get("connection", "").lower() == "keep-alive"


def test_pipelined_requests_answer_in_order(proxy_factory, backend_factory):
    b = backend_factory("pipe")
    p = proxy_factory()
    p.set_route("pipe.test", b.address)
    with Conn(p.port) as s:
        s.sendall(
            b"GET /sleep?s=0.2 HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
            b"GET /headers HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
            b"GET /nothing HTTP/1.1\r\nHost: unknown.test\r\n\r\n"
        )
        assert s.response()[2] == b"pipe"
        assert b"request_line" in s.response()[2]
        assert s.response()[0] == 404


def test_forwarded_headers_of_a_trusted_load_balancer_are_kept(proxy_factory, backend_factory):
    b = backend_factory("h")
    p = proxy_factory(trusted_proxies=["127.0.0.0/8"])
    p.set_route("h.test", b.address)
    with Conn(p.port) as s:
        s.sendall(
            b"GET /headers HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 203.0.113.7\r\n"
            b"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n\r\n"
        )
        status, _headers, body = s.response()
    assert status == 200
    hdrs = echoed_headers(body)
    assert hdrs["x-forwarded-for"] == "203.0.113.7, 10.0.0.1, 127.0.0.1"
    assert (hdrs["x-forwarded-proto"], hdrs["x-forwarded-host"]) == ("https", "www.example.com")
    # Without those headers the proxy states its own view, trusted peer or not.
    hdrs = echoed_headers(http_get(p.port, "h.test", "/headers")[2])
    assert (hdrs["x-forwarded-for"], hdrs["x-forwarded-proto"], hdrs["x-forwarded-host"]) == (
        "127.0.0.1",
        "http",
        "h.test",
    )


def test_forwarding_and_hop_by_hop_headers(proxy_factory, backend_factory):
    b = backend_factory("h")
    p = proxy_factory()
    p.set_route("h.test", b.address)
    with Conn(p.port) as s:
        s.sendall(
            b"GET /headers?x=1 HTTP/1.1\r\nHost: h.test\r\nX-Forwarded-For: 10.0.0.1\r\n"
            b"X-Forwarded-Proto: https\r\nConnection: keep-alive, X-Secret\r\nX-Secret: drop me\r\n"
            b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Custom: kept\r\n\r\n"
        )
        status, _headers, body = s.response()
    assert status == 200
    assert json.loads(body)["request_line"] == "GET /headers?x=1 HTTP/1.1"
    hdrs = echoed_headers(body)
    assert hdrs["x-forwarded-for"] == "127.0.0.1"  # the client's own claim is not passed on: it is untrusted
    assert hdrs["x-forwarded-proto"] == "http"
    assert hdrs["x-forwarded-host"] == "h.test"
    assert len(hdrs["x-request-id"]) == 32
    assert hdrs["x-custom"] == "kept" and hdrs["host"] == "h.test"
    for gone in ("x-secret", "keep-alive", "te", "proxy-connection", "connection"):
        assert gone not in hdrs, gone
    # Response side: Connection, Keep-Alive and whatever Connection names are not passed to the client.
    status, headers, body = http_get(p.port, "h.test", "/hop")
    assert (status, body) == (200, b"hop") and headers["x-end"] == "1"
    assert "x-hop" not in headers and "keep-alive" not in headers
    assert headers["connection"] == "close"  # ours: the client asked for close
    # A client's request id is passed on unchanged.
    echoed = echoed_headers(http_get(p.port, "h.test", "/headers", X_Request_Id="abc-123")[2])
    assert echoed["x-request-id"] == "abc-123"


def test_bodies_chunked_and_content_length(proxy_factory, backend_factory):
    b = backend_factory("body")
    p = proxy_factory()
    p.set_route("body.test", b.address)
    with httpx.Client(base_url=f"http://127.0.0.1:{p.port}", headers={"Host": "body.test"}, timeout=30) as c:
        r = c.post("/upload", content=b"y" * 100_000)
        assert r.json() == {"bytes": 100_000, "chunked": False}
        r = c.post("/upload", content=(b"z" * 1000 for _ in range(300)))  # generator → chunked upload
        assert r.json() == {"bytes": 300_000, "chunked": True}
        r = c.get("/download", params={"size": 1_000_000, "chunked": 1})
        assert r.status_code == 200 and len(r.content) == 1_000_000
        assert r.headers["transfer-encoding"] == "chunked"
        r = c.get("/download", params={"size": 777_777})
        assert len(r.content) == 777_777 and r.headers["content-length"] == "777777"
        r = c.head("/download", params={"size": 5000})
        assert r.status_code == 200 and r.headers["content-length"] == "5000" and r.content == b""
        assert c.get("/").text == "body"  # the connection survived the HEAD
    # A close-delimited response reaches the client whole, and the client connection is closed.
    status, _headers, body = http_get(p.port, "body.test", "/close")
    assert status == 200 and body == b"body-close"


def test_upstream_errors_502_503_504(proxy_factory, backend_factory):
    b = backend_factory("slow")
    p = proxy_factory(upstream_read_timeout=0.6, upstream_connect_timeout=1)
    p.set_route("refused.test", f"127.0.0.1:{free_port()}")
    p.set_route("empty.test")
    p.set_route("slow.test", b.address)
    assert http_get(p.port, "refused.test")[0] == 502
    assert http_get(p.port, "empty.test")[0] == 503
    t = time.monotonic()
    assert http_get(p.port, "slow.test", "/sleep?s=3")[0] == 504
    assert time.monotonic() - t < 2.5
    assert http_get(p.port, "slow.test", "/sleep?s=0.1")[0] == 200
    # An upstream that resets the connection mid-request is a 502, and the worker keeps serving.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    p.set_route("reset.test", f"127.0.0.1:{srv.getsockname()[1]}")
    import threading

    def rst() -> None:
        conn, _ = srv.accept()
        conn.recv(1000)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    threading.Thread(target=rst, daemon=True).start()
    assert http_get(p.port, "reset.test")[0] == 502
    srv.close()
    assert http_get(p.port, "slow.test")[0] == 200


def test_limits_413_431_and_slowloris_408(proxy_factory, backend_factory):
    b = backend_factory("lim")
    p = proxy_factory(max_body_size=1000, max_header_size=2048, header_timeout=0.5)
    p.set_route("lim.test", b.address)
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: lim.test\r\nContent-Length: 5000\r\n\r\n")
        assert parse_response(s.recv(65536))[0] == 413
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: lim.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        s.sendall(b"200\r\n" + b"a" * 512 + b"\r\n")
        s.sendall(b"400\r\n" + b"a" * 1024 + b"\r\n")
        assert parse_response(s.recv(65536))[0] == 413
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: lim.test\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
        assert parse_response(s.recv(65536))[0] == 431
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: lim.test\r\n" + b"X-A: b\r\n" * 400)  # never ends
        assert parse_response(s.recv(65536))[0] == 431
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: lim.test\r\n")
        for _ in range(3):
            time.sleep(0.2)
            s.sendall(b"X-Slow: 1\r\n")
        data = s.recv(65536)
        assert parse_response(data)[0] == 408
        assert s.recv(100) == b""  # and closed
    assert time.monotonic() - t < 3
    assert http_get(p.port, "lim.test")[0] == 200


def test_idle_keep_alive_timeout_closes(proxy_factory, backend_factory):
    b = backend_factory("idle")
    p = proxy_factory(idle_timeout=0.5)
    p.set_route("idle.test", b.address)
    with Conn(p.port, timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: idle.test\r\n\r\n")
        assert s.response()[0] == 200
        t = time.monotonic()
        assert s.recv(100) == b""
        assert 0.3 < time.monotonic() - t < 3


def test_acme_challenge_answered_before_routes(proxy_factory, backend_factory):
    b = backend_factory("acme")
    p = proxy_factory()
    p.set_route("site.test", b.address)
    p.call("set_acme_challenge", "tok123", "tok123.keyauth")
    status, headers, body = http_get(p.port, "site.test", "/.well-known/acme-challenge/tok123")
    assert (status, body) == (200, b"tok123.keyauth") and headers["content-type"] == "text/plain"
    # It works for hosts with no route yet (the certificate is usually issued before the first deploy).
    assert http_get(p.port, "new.test", "/.well-known/acme-challenge/tok123")[2] == b"tok123.keyauth"
    # Unknown tokens fall through to the app.
    assert http_get(p.port, "site.test", "/.well-known/acme-challenge/other")[2] == b"acme"
    p.call("remove_acme_challenge", "tok123")
    assert http_get(p.port, "new.test", "/.well-known/acme-challenge/tok123")[0] == 404


def test_status_and_routes_report(proxy_factory, backend_factory):
    b = backend_factory("st")
    p = proxy_factory()
    p.set_route("st.test", b.address)
    st = p.status()
    assert st["ok"] is True and st["workers"] == 1 and isinstance(st["pid"], int) and st["port"] == p.port
    (route,) = p.call("routes")
    assert route.domain == "st.test"
    assert route.upstreams[0].address == b.address and route.upstreams[0].healthy
    assert route.upstreams[0].active_requests == 0


def test_interim_responses_100_continue_and_103(proxy_factory, backend_factory):
    b = backend_factory("cont")
    p = proxy_factory()
    p.set_route("cont.test", b.address)
    with Conn(p.port) as s:
        s.sendall(
            b"POST /continue HTTP/1.1\r\nHost: cont.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert s.f.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert s.f.readline() == b"\r\n"
        s.sendall(b"hello")
        status, _, body = s.response()
        assert status == 200 and json.loads(body) == {"bytes": 5, "chunked": False}
        s.sendall(b"GET /early HTTP/1.1\r\nHost: cont.test\r\n\r\n")
        assert s.f.readline().startswith(b"HTTP/1.1 103")
        assert s.f.readline().startswith(b"Link:")
        assert s.f.readline() == b"\r\n"
        assert s.response()[2] == b"early"
        s.sendall(b"GET / HTTP/1.1\r\nHost: cont.test\r\n\r\n")  # the connection is still in sync
        assert s.response()[2] == b"cont"


def test_slow_upload_is_not_an_upstream_timeout(proxy_factory, backend_factory):
    b = backend_factory("slowup")
    p = proxy_factory(upstream_read_timeout=0.6)
    p.set_route("slowup.test", b.address)
    with Conn(p.port) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: slowup.test\r\nContent-Length: 10\r\n\r\n")
        for _ in range(10):
            time.sleep(0.15)  # 1.5 s in all, well over the read timeout
            s.sendall(b"x")
        status, _, body = s.response()
    assert status == 200 and json.loads(body)["bytes"] == 10


def test_bare_lf_response_head_from_upstream(proxy_factory):
    """busybox httpd relays CGI headers as the script wrote them (LF only) and closes to end the body: the
    client must get a normal CRLF response, not a 502."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\nX-Cgi: yes\n\nHELLO=world\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proxy = proxy_factory()
    proxy.set_route("cgi.test", f"127.0.0.1:{port}")
    for _ in range(2):
        status, headers, body = http_get(proxy.port, "cgi.test", "/cgi-bin/env")
        assert (status, headers["content-type"], headers["x-cgi"], body) == (
            200,
            "text/plain",
            "yes",
            b"HELLO=world\n",
        )
    thread.join(5)
    listener.close()
