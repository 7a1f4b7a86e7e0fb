"""A finished HTTP/2 stream is freed by reference counting, not left to the garbage collector (H2Conn.forget).

In-process, no sockets (the fixtures of test_http2_fields_memo): with the collector off, streams answered by the
upstream in one piece, in several pieces, by the proxy itself (404), and streams reset by the client must leave no H2Stream, Exchange or
response parser behind. Each one left over waits for a collection of the young generation, whose scans cost
the worker ~5% of its CPU under h2load."""

from __future__ import annotations

import asyncio
import gc

from rivetr_proxy_builtin.exchange import Exchange
from rivetr_proxy_builtin.h2conn import H2Conn, H2Stream

from .test_http2_fields_memo import GET, Transport, client, send, setup


def alive() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, H2Stream | Exchange))


def test_finished_streams_leave_no_cycles() -> None:
    async def run() -> None:
        w, _ups = setup()
        conn = H2Conn(w)
        t = Transport(("10.0.0.1", 40000))
        conn.connection_made(t)  # type: ignore[arg-type]
        c = client(t)
        before = alive()
        for i in range(20):
            send(conn, c, GET)
            (s,) = conn.streams.values()
            up = s.ex.up  # type: ignore[union-attr]
            assert up is not None
            if i % 2:
                up.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            else:  # the head and the body in separate reads, the body chunked
                up.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                up.data_received(b"5\r\nhello\r\n")
                up.data_received(b"0\r\n\r\n")
            del s, up
            await asyncio.sleep(0)  # the connection writes its frames
        send(conn, c, [*GET[:3], (b":authority", b"nowhere.test")])  # answered by the proxy: 404
        await asyncio.sleep(0)
        for _ in range(3):  # reset by the client before the answer (rapid reset): the upstream is dropped
            sid = c.get_next_available_stream_id()
            send(conn, c, GET)
            c.reset_stream(sid)
            conn.data_received(c.data_to_send())
        await asyncio.sleep(0)
        assert not conn.streams and not conn.closing
        assert alive() == before
        answers = [e for e in c.receive_data(t.data) if type(e).__name__ == "ResponseReceived"]
        assert len(answers) == 21 and dict(answers[-1].headers)[b":status"] == b"404"

    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        asyncio.run(run())
    finally:
        if enabled:
            gc.enable()
