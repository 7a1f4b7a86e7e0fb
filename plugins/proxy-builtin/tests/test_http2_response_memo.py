"""A worker remembers the parse of whole upstream response heads (h2conn._heads, H2Stream.write).

In-process, no sockets (the fixtures of test_http2_fields_memo): the same response answered twice must reach
the h2 client the same way whether it was parsed or taken from the memo; only a complete final response whose
body is exactly the bytes after its head is remembered (not chunked ones, not one behind an interim head), and
a remembered head with a body of another length (a partial body, a HEAD answer) goes to the parser."""

from __future__ import annotations

import asyncio
from typing import Any

import h2.connection
import h2.events
from rivetr_proxy_builtin import h2conn
from rivetr_proxy_builtin.h2conn import H2Conn
from rivetr_proxy_builtin.upstream import response_parser

from .test_http2_fields_memo import GET, Transport, client, send, setup

PARSERS: list[object] = []  # the response parsers the streams made (see counting)


def counting(protocol: object) -> Any:
    PARSERS.append(protocol)
    return response_parser(protocol)


HEAD = (
    b'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 5\r\nETag: "x"\r\n\r\n'
)


async def exchange(
    conn: H2Conn, c: h2.connection.H2Connection, t: Transport, *parts: bytes, method: bytes = b"GET"
):  # type: ignore[no-untyped-def]
    """One request answered by the upstream with ``parts`` (one write each): whether the stream parsed it, and
    what the client got (status and fields, body, ended)."""
    send(conn, c, [(b":method", method), *GET[1:]])
    (s,) = conn.streams.values()
    up = s.ex.up  # type: ignore[union-attr]
    assert up is not None
    made = len(PARSERS)
    for p in parts:
        up.data_received(p)
    parsed = len(PARSERS) > made
    await asyncio.sleep(0)  # the connection writes its frames
    t.data, data = b"", t.data
    head: Any = None
    body = b""
    ended = False
    for ev in c.receive_data(data) if data else ():
        if isinstance(ev, h2.events.ResponseReceived):
            head = ev.headers
        elif isinstance(ev, h2.events.DataReceived):
            body += ev.data
            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            ended = True
    conn.data_received(c.data_to_send())
    return parsed, (head, body, ended)


def connected() -> tuple[H2Conn, Any, Transport]:
    """A fresh worker-side connection with an empty memo, its client and its transport."""
    h2conn._heads.clear()
    w, _ups = setup()
    conn = H2Conn(w)
    t = Transport(("10.0.0.1", 40000))
    conn.connection_made(t)  # type: ignore[arg-type]
    return conn, client(t), t


def test_a_remembered_head_gives_what_the_parser_gives(monkeypatch: Any) -> None:
    monkeypatch.setattr(h2conn, "response_parser", counting)

    async def run() -> None:
        conn, c, t = connected()
        parsed, first = await exchange(conn, c, t, HEAD + b"hello")
        assert parsed and list(h2conn._heads) == [HEAD]
        parsed, again = await exchange(conn, c, t, HEAD + b"hello")
        assert not parsed and again == first
        assert first[1] == b"hello" and first[2]
        assert (b"content-type", b"text/html") in first[0] and first[0][0] == (b":status", b"200")
        # The same head with the body in a later write: not the remembered length, so parsed.
        parsed, split = await exchange(conn, c, t, HEAD + b"he", b"llo")
        assert parsed and split == first
        # A HEAD answer: the remembered head without its body.
        parsed, got = await exchange(conn, c, t, HEAD, method=b"HEAD")
        assert parsed and got == (first[0], b"", True)
        # Chunked, and a final response behind an interim one: parsed, never remembered.
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        for _ in range(2):
            parsed, got = await exchange(conn, c, t, chunked)
            assert parsed and got[1] == b"hello" and got[2]
        parsed, got = await exchange(
            conn, c, t, b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + HEAD + b"hello"
        )
        assert parsed and got == first
        assert list(h2conn._heads) == [HEAD]
        # Empty bodies are remembered too (length 0), and are not taken for a 5-byte one.
        empty = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        for want_parsed in (True, False):
            parsed, got = await exchange(conn, c, t, empty)
            assert parsed is want_parsed and got[1] == b"" and got[2]
        assert not conn.streams and not conn.closing

    asyncio.run(run())


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(h2conn, "response_parser", counting)

    async def run() -> None:
        conn, c, t = connected()
        for i in range(h2conn._HEADS_MEMO_MAX + 5):
            head = HEAD.replace(b'"x"', b'"%d"' % i)
            parsed, got = await exchange(conn, c, t, head + b"hello")
            assert parsed and got[1] == b"hello"
            assert 0 < len(h2conn._heads) <= h2conn._HEADS_MEMO_MAX
        big = HEAD.replace(b"Server: nginx", b"Server: " + b"n" * h2conn._HEADS_MEMO_BYTES)
        h2conn._heads.clear()
        parsed, got = await exchange(conn, c, t, big + b"hello")
        assert parsed and got[1] == b"hello" and not h2conn._heads

    asyncio.run(run())
