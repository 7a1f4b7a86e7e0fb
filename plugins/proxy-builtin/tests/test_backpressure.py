"""Back-pressure bookkeeping between a client and its upstream connection (logic test: a real loopback
upstream socket, a stub in place of the client connection)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from rivetr_proxy_builtin.exchange import Exchange
from rivetr_proxy_builtin.routing import RouteTable, Upstream
from rivetr_proxy_builtin.settings import ProxySettings
from rivetr_proxy_builtin.upstream import UpstreamConn
from rivetr_proxy_builtin.worker import Worker


class _WritePausedClient:
    """What an UpstreamConn uses of its ClientConn, for a client whose socket is full (pause_writing ran)."""

    wpaused = True

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.t = SimpleNamespace(write=self.written.append)
        self.done: list[Exchange] = []

    def exchange_done(self, ex: Exchange) -> None:
        self.done.append(ex)


async def test_an_upstream_paused_by_a_slow_client_is_pooled_reading() -> None:
    """A slow client pauses reading from the upstream serving it. When that response completes and the
    connection goes back to the pool, the pause must not stay behind: the next exchange on the connection
    would never read its response and answer 504 after the read timeout."""
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    addr = f"127.0.0.1:{port}"
    try:
        w = Worker(ProxySettings())
        w.routes = RouteTable([{"domain": "slow.test", "upstreams": [addr]}])
        client: Any = _WritePausedClient()
        ex = Exchange(client)
        ex.req_done = True
        _, conn = await asyncio.get_running_loop().create_connection(
            lambda: UpstreamConn(w, Upstream(addr)), "127.0.0.1", port
        )
        conn.attach(ex)
        assert not conn.t.is_reading()  # the client is write-paused: the upstream waits for it

        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # the whole response

        assert client.written == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
        assert client.done == [ex] and w.pool[addr] == [conn]
        assert conn.t.is_reading(), "pooled upstream connection left paused"
        conn.close()
    finally:
        server.close()
        await server.wait_closed()
