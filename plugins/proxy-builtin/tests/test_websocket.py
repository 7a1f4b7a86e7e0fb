"""WebSocket tunnelling, and draining an open WebSocket across a route switch."""

from __future__ import annotations

import socket
import time

from websockets.sync.client import connect

from tests.support.proxy import http_get, wait_until


def ws_connect(port: int, host: str, path: str = "/"):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return connect(f"ws://{host}{path}", sock=sock, open_timeout=10)


def test_websocket_echo_through_proxy(proxy_factory, ws_backend_factory):
    b = ws_backend_factory("ws")
    p = proxy_factory()
    p.set_route("ws.test", b.address)
    with ws_connect(p.port, "ws.test") as ws:
        for i in range(20):
            ws.send(f"hello {i}")
            assert ws.recv(timeout=5) == f"ws:hello {i}"
        big = "x" * 1_000_000
        ws.send(big)
        assert ws.recv(timeout=10) == "ws:" + big
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=5) == "ws:b'\\x00\\x01binary'"
    wait_until(lambda: b.open == 0)
    wait_until(lambda: p.call("routes")[0].upstreams[0].active_requests == 0)


def test_open_websocket_survives_switch_and_drains(proxy_factory, ws_backend_factory):
    old, new = ws_backend_factory("old"), ws_backend_factory("new")
    p = proxy_factory()
    p.set_route("app.test", old.address)
    with ws_connect(p.port, "app.test") as ws:
        ws.send("a")
        assert ws.recv(timeout=5) == "old:a"
        (route,) = p.call("routes")
        assert route.upstreams[0].active_requests == 1
        p.set_route("app.test", new.address)  # the switch
        with ws_connect(p.port, "app.test") as ws2:  # new connections go to the new upstream
            ws2.send("b")
            assert ws2.recv(timeout=5) == "new:b"
        # The open WebSocket on the old upstream keeps working after the switch...
        for i in range(5):
            ws.send(f"still {i}")
            assert ws.recv(timeout=5) == f"old:still {i}"
        assert p.call("wait_drained", old.address, 0.3) is False
        # ...and wait_drained returns once it is closed.
        t = time.monotonic()
        ws.close()
        assert p.call("wait_drained", old.address, 10) is True
        assert time.monotonic() - t < 5
    assert p.call("wait_drained", new.address, 1) is True


def test_drain_timeout_bounds_old_websocket(proxy_factory, ws_backend_factory):
    old, new = ws_backend_factory("old"), ws_backend_factory("new")
    p = proxy_factory(drain_timeout=1.0)
    p.set_route("app.test", old.address)
    with ws_connect(p.port, "app.test") as ws:
        ws.send("a")
        assert ws.recv(timeout=5) == "old:a"
        p.set_route("app.test", new.address)
        t = time.monotonic()
        assert p.call("wait_drained", old.address, 10) is True  # the proxy closes it after drain_timeout
        assert 0.5 < time.monotonic() - t < 5


def test_upgrade_refused_by_backend_is_a_plain_response(proxy_factory, backend_factory):
    b = backend_factory("plain")
    p = proxy_factory()
    p.set_route("plain.test", b.address)
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(
            b"GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"plain")
    assert http_get(p.port, "plain.test")[2] == b"plain"


def test_client_gone_without_close_frame_ends_the_tunnel(proxy_factory, ws_backend_factory):
    """A client that drops its TCP connection (no WebSocket close frame): the proxy passes the end on, so the
    app's side closes too instead of staying open until the app next writes."""
    b = ws_backend_factory("ws")
    p = proxy_factory()
    p.set_route("ws.test", b.address)
    with ws_connect(p.port, "ws.test") as ws:
        ws.send("a")
        assert ws.recv(timeout=5) == "ws:a"
        assert b.open == 1
        ws.socket.shutdown(socket.SHUT_RDWR)  # gone, without the closing handshake
        wait_until(lambda: b.open == 0, 5)
        wait_until(lambda: p.call("routes")[0].upstreams[0].active_requests == 0, 5)
