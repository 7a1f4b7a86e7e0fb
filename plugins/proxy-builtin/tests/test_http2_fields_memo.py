"""H2Conn remembers a request header list's checked fields per connection (h2conn._request / _fields).

In-process, no sockets: an h2 client's frames go to an H2Conn, every stream takes a pooled upstream connection
whose fake transport keeps the HTTP/1.1 request head the proxy wrote. A repeated header list must give the same
upstream head as the first time (only the generated X-Request-Id differs), a changed list its own head, a
malformed list a GOAWAY every time, and the memo stays bounded."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import h2.config
import h2.connection
import h2.events
from rivetr_proxy_builtin import h2conn
from rivetr_proxy_builtin.h2conn import H2Conn
from rivetr_proxy_builtin.routing import Upstream
from rivetr_proxy_builtin.settings import ProxySettings
from rivetr_proxy_builtin.upstream import UpstreamConn
from rivetr_proxy_builtin.worker import Worker

ADDR = "127.0.0.1:9"
GET = [(b":method", b"GET"), (b":path", b"/a"), (b":scheme", b"https"), (b":authority", b"app.test")]
BROWSER = [
    *GET,
    (b"user-agent", b"test/1"),
    (b"accept-encoding", b"gzip"),
    (b"cookie", b"a=1"),
    (b"cookie", b"b=2"),
    (b"x-forwarded-for", b"10.9.9.9"),
    (b"te", b"trailers"),
]


class Transport:
    """What H2Conn and UpstreamConn use of a transport; keeps what is written."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.data = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, parts: Any) -> None:
        self.data += b"".join(parts)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def setup() -> tuple[Worker, list[Transport]]:
    w = Worker(ProxySettings())
    w.apply_state({"routes": [{"domain": "app.test", "upstreams": [ADDR]}]})
    ups = []
    for _ in range(60):
        up = UpstreamConn(w, Upstream(ADDR))
        t = Transport(("127.0.0.1", 9))
        up.connection_made(t)  # type: ignore[arg-type]
        w.pool_put(up)
        ups.append(t)
    return w, ups


def client(server: Transport) -> h2.connection.H2Connection:
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=False,  # so that a malformed list can be sent
        normalize_outbound_headers=False,
    )
    c = h2.connection.H2Connection(config)
    c.initiate_connection()
    c.receive_data(server.data)
    return c


def send(conn: H2Conn, c: h2.connection.H2Connection, headers: list[tuple[bytes, bytes]]) -> None:
    c.send_headers(c.get_next_available_stream_id(), headers, end_stream=True)
    conn.data_received(c.data_to_send())


def heads(ups: list[Transport]) -> list[bytes]:
    """The request heads written upstream so far (most recently pooled connection first), without the
    generated request id, and forgotten."""
    out = []
    for t in reversed(ups):
        if t.data:
            out.append(re.sub(rb"X-Request-Id: [^\r]*\r\n", b"", t.data))
            t.data = b""
    return out


def test_repeated_lists_give_the_same_upstream_head_and_changed_ones_their_own() -> None:
    async def run() -> None:
        w, ups = setup()
        conn = H2Conn(w)
        t = Transport(("10.0.0.1", 40000))
        conn.connection_made(t)  # type: ignore[arg-type]
        c = client(t)
        send(conn, c, BROWSER)
        (first,) = heads(ups)
        assert first.startswith(b"GET /a HTTP/1.1\r\nHost: app.test\r\n")
        assert b"Cookie: a=1; b=2\r\n" in first and b"Accept-Encoding: gzip\r\n" in first
        assert b"X-Forwarded-For: 10.0.0.1\r\n" in first  # the client's own XFF is not trusted
        assert b"te:" not in first.lower()
        assert len(conn.fields) == 1
        for _ in range(3):
            send(conn, c, BROWSER)
            assert heads(ups) == [first]  # from the memo
        assert len(conn.fields) == 1
        other = [*GET, (b"cookie", b"a=2")]
        send(conn, c, other)
        (second,) = heads(ups)
        assert b"Cookie: a=2\r\n" in second and b"a=1" not in second
        send(conn, c, [(b":method", b"HEAD"), *GET[1:]])
        (third,) = heads(ups)
        assert third.startswith(b"HEAD /a HTTP/1.1\r\n")
        # A list with a connection-specific field is malformed: GOAWAY, and nothing remembered for it.
        before = dict(conn.fields)
        send(conn, c, [*GET, (b"connection", b"close")])
        assert conn.closing and conn.fields == before
        ev = c.receive_data(t.data)
        assert any(isinstance(e, h2.events.ConnectionTerminated) for e in ev)

    asyncio.run(run())


def test_memo_is_per_connection_and_bounded() -> None:
    async def run() -> None:
        w, ups = setup()
        conns = []
        for peer in ("10.0.0.1", "10.0.0.2"):
            conn = H2Conn(w)
            t = Transport((peer, 40000))
            conn.connection_made(t)  # type: ignore[arg-type]
            conns.append((conn, client(t)))
        for conn, c in conns:
            send(conn, c, GET)
        a, b = heads(ups)
        xffs = {re.search(rb"X-Forwarded-For: ([^\r]*)", h).group(1) for h in (a, b)}  # type: ignore[union-attr]
        assert xffs == {b"10.0.0.1", b"10.0.0.2"}  # the peer is added per request, not remembered
        assert all(len(conn.fields) == 1 for conn, _ in conns)
        conn, c = conns[0]
        for i in range(h2conn._FIELDS_MEMO_MAX + 8):
            send(conn, c, [*GET[:1], (b":path", b"/p%d" % i), *GET[2:]])
            await asyncio.sleep(0)
            (head,) = heads(ups)
            assert head.startswith(b"GET /p%d HTTP/1.1\r\n" % i)
            for s in list(conn.streams.values()):  # answer, so the upstream goes back to the pool
                s.ex.up.data_received(b"HTTP/1.1 204 No Content\r\n\r\n")  # type: ignore[union-attr]
            assert 0 < len(conn.fields) <= h2conn._FIELDS_MEMO_MAX
        # A list bigger than the memo's bound is served and not remembered.
        conn.fields.clear()
        send(conn, c, [*GET, (b"x-big", b"v" * h2conn._FIELDS_MEMO_BYTES)])
        (head,) = heads(ups)
        assert b"x-big: vvv" in head and not conn.fields

    asyncio.run(run())
