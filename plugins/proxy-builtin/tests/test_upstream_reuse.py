"""Upstream keep-alive pool safety: a pooled connection is reused only when both directions ended exactly on a
message boundary (issue 14, hole 1, and the paths audited with it).

The attacks here leave bytes on an upstream connection that the next visitor's request would be glued to; each
test plays the attacker and then a victim with a marker of its own, and checks the victim gets its own answer.
Real proxy process, real loopback backends (an asyncio HTTP server, and a scripted raw-socket upstream that
misbehaves on purpose).
"""

from __future__ import annotations

import json
import socket
import threading
import time

from tests.support.proxy import http_get, parse_response

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)
# The tucked-in second request: a GET whose Content-Length announces a body that never comes, so whatever is
# sent next on that upstream connection becomes its body, and its answer (a 299) goes to whoever sent that.
SMUGGLED = b"GET /status?code=299 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n"


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def marker_get(port: int, marker: str, host: str = "a.test") -> tuple[int, str]:
    """A victim's request on a fresh connection: (status, the request line the backend saw)."""
    status, _, body = http_get(port, host, f"/headers?m={marker}")
    if status != 200:
        return status, body.decode("latin-1")[:200]
    return status, json.loads(body)["request_line"]


def test_refused_upgrade_does_not_poison_the_pool(proxy_factory, backend_factory):
    """Hole 1: an Upgrade the app refuses, with a request tucked behind it in the same packet."""
    b = backend_factory("app")
    p = proxy_factory()
    p.set_route("a.test", b.address)
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(UPGRADE % b"a.test" + SMUGGLED)
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200") and b"Connection: close" in answer  # refused, then closed
    assert b"HTTP/1.1 299" not in answer
    for i in range(3):
        status, line = marker_get(p.port, f"victim{i}")
        assert (status, line) == (200, f"GET /headers?m=victim{i} HTTP/1.1"), (status, line)
    # The bytes after the refused upgrade never reached the app: it saw the upgrade request and the victims.
    assert b.requests == 4


def test_upgrade_pipelined_behind_a_request_does_not_reach_its_upstream(proxy_factory, backend_factory):
    """The bytes after an upgrade request belong to that upgrade (here a 404: unknown host), never to the
    upstream connection of the request pipelined before it."""
    b = backend_factory("app")
    p = proxy_factory()
    p.set_route("a.test", b.address)
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n" + UPGRADE % b"nowhere.test" + SMUGGLED)
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 404" in answer
    assert b"HTTP/1.1 299" not in answer
    for i in range(3):
        status, line = marker_get(p.port, f"victim{i}")
        assert (status, line) == (200, f"GET /headers?m=victim{i} HTTP/1.1"), (status, line)
    assert b.requests == 4


def test_bytes_sent_before_101_reach_the_tunnel_after_it(proxy_factory, ws_backend_factory):
    """Held, not lost: a WebSocket frame sent right behind the handshake (before the 101) arrives."""
    ws = ws_backend_factory("ws")
    p = proxy_factory()
    p.set_route("w.test", ws.address)
    frame = (
        bytes([0x81, 0x80 | 2])
        + b"\x01\x02\x03\x04"
        + bytes(c ^ k for c, k in zip(b"hi", b"\x01\x02", strict=True))
    )
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(UPGRADE % b"w.test" + frame)
        data = b""
        while b"ws:hi" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 101")


# ------------------------------------------------------------------------------ a misbehaving upstream
class ScriptedUpstream:
    """A raw-socket upstream. Each request's answer comes from ``script(path)`` as a list of byte strings: the
    first is sent at once; each further one is sent only after the next request head arrives on the same
    connection (bytes an upstream sends late, after the proxy may have reused the connection). Requests for
    ``/headers?m=X`` get ``200`` with body ``m=X`` (the victim's marker)."""

    def __init__(self, script: dict[str, list[bytes]]) -> None:
        self.script = script
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        later: list[bytes] = []
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    path = head.split(b" ", 2)[1].decode()
                    out = b"".join(later)
                    later = []
                    if path.startswith("/headers?m="):
                        body = path.split("?", 1)[1].encode()
                        out += b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    else:
                        first, *later = self.script[path]
                        out += first
                    conn.sendall(out)
            except OSError:
                return

    def close(self) -> None:
        self.stop = True
        self.sock.close()


def _victim(port: int, marker: str, method: str = "GET") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            f"{method} /headers?m={marker} HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n".encode()
        )
        return read_all(s)


def test_head_response_with_body_bytes_is_not_reused(proxy_factory):
    """An app that sends body bytes after a HEAD response (some of them late): the connection is not pooled,
    so the late bytes can't become the start of the next visitor's response."""
    up = ScriptedUpstream(
        {"/head": [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEV", b"IL"]}  # HEAD answered with a body
    )
    try:
        p = proxy_factory()
        p.set_route("r.test", up.address)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(b"HEAD /head HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n")
            head = read_all(s)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")  # no body bytes for a HEAD
        answer = _victim(p.port, "v1")
        assert parse_response(answer)[::2] == (200, b"m=v1"), answer
    finally:
        up.close()


def test_bytes_after_a_204_are_never_forwarded_nor_reused(proxy_factory):
    """A 204 has no body: a whole second response glued behind it is neither passed to the client (who would
    take it for the answer to its next request) nor left on a pooled connection."""
    up = ScriptedUpstream(
        {"/nocontent": [b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"]}
    )
    try:
        p = proxy_factory()
        p.set_route("r.test", up.address)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(b"GET /nocontent HTTP/1.1\r\nHost: r.test\r\n\r\n")
            time.sleep(0.3)
            s.sendall(b"GET /headers?m=same HTTP/1.1\r\nHost: r.test\r\n\r\n")
            got = read_all(s, 2)
        assert got.startswith(b"HTTP/1.1 204") and b"EVIL" not in got, got
        if got.count(b"HTTP/1.1 ") > 1:  # the connection was kept: the second answer must be its own
            assert got.endswith(b"m=same"), got
        answer = _victim(p.port, "v2")
        assert parse_response(answer)[::2] == (200, b"m=v2"), answer
    finally:
        up.close()


def test_partial_response_after_a_204_does_not_desync_the_next_visitor(proxy_factory):
    """A 204 followed by the start of another response, the rest of which comes only after the next request:
    reusing that connection would hand the next visitor a response the app never meant for it."""
    up = ScriptedUpstream(
        {
            "/nocontent": [
                b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nConte",
                b"nt-Length: 4\r\n\r\nEVIL",
            ]
        }
    )
    try:
        p = proxy_factory()
        p.set_route("r.test", up.address)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(b"GET /nocontent HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n")
            got = read_all(s)
        assert got.startswith(b"HTTP/1.1 204") and b"HTTP/1.1 200" not in got, got
        answer = _victim(p.port, "v3")
        assert parse_response(answer)[::2] == (200, b"m=v3"), answer
    finally:
        up.close()


def test_extra_response_after_a_complete_body_closes_both_sides(proxy_factory):
    """Bytes after a Content-Length body (a second, unrequested response): the upstream connection is dropped
    and the client's connection ends after its response instead of carrying the extra answer forward."""
    up = ScriptedUpstream(
        {
            "/twice": [
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nConte",
                b"nt-Length: 4\r\n\r\nEVIL",
            ]
        }
    )
    try:
        p = proxy_factory()
        p.set_route("r.test", up.address)
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(b"GET /twice HTTP/1.1\r\nHost: r.test\r\n\r\n")
            time.sleep(0.3)
            s.sendall(b"GET /headers?m=same HTTP/1.1\r\nHost: r.test\r\n\r\n")
            got = read_all(s, 2)
        assert got.startswith(b"HTTP/1.1 200") and b"EVIL" not in got, got
        if got.count(b"HTTP/1.1 200 OK\r\nContent-Length: 6") == 1:
            assert got.endswith(b"m=same"), got
        answer = _victim(p.port, "v4")
        assert parse_response(answer)[::2] == (200, b"m=v4"), answer
    finally:
        up.close()


def test_early_response_before_the_body_is_sent_drops_the_connection(proxy_factory):
    """An app that answers before reading the request body (a 413, say) and keeps its connection open: the rest
    of the body is still on its way, so that connection must not be reused (the body would be read as the
    next visitor's request), and the client's connection closes after the answer."""
    up = ScriptedUpstream({"/early": [b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig"]})
    try:
        p = proxy_factory()
        p.set_route("r.test", up.address)
        rest = b"GET /headers?m=from-the-body HTTP/1.1\r\nHost: r.test\r\n\r\n"
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(
                b"POST /early HTTP/1.1\r\nHost: r.test\r\nContent-Length: %d\r\n\r\n" % (len(rest) + 10)
            )
            s.sendall(b"0123456789")
            time.sleep(0.3)
            try:
                s.sendall(rest)
            except OSError:
                pass  # the proxy may already have closed
            got = read_all(s)
        assert got.startswith(b"HTTP/1.1 413") and b"Connection: close" in got and b"from-the-body" not in got
        for i in range(2):
            answer = _victim(p.port, f"v{i}")
            assert parse_response(answer)[::2] == (200, f"m=v{i}".encode()), answer
    finally:
        up.close()
