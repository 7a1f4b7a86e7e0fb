"""Per-upstream keep-alive pools of a worker: take a pooled connection or make one, put it back after use.

:class:`UpstreamPool` is a mixin of :class:`.worker.Worker` (its methods, the worker's state), so the hot path
still calls ``w.acquire`` / ``w.pool_put`` and reads ``w.pool`` directly, as before. The client protocol takes
a pooled connection inline for the common case (see ``ClientConn.on_headers_complete``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .upstream import UpstreamConn

if TYPE_CHECKING:
    from .exchange import Exchange
    from .outlier import Outliers
    from .routing import RouteTable

_POOL_MAX = 512  # idle connections kept per upstream


class UpstreamPool:
    """Keep-alive connections per upstream address (``pool``: addr → idle connections, most recent last)."""

    loop: asyncio.AbstractEventLoop
    now: float
    connect_timeout: float
    routes: RouteTable
    pool: dict[str, list[UpstreamConn]]
    outliers: Outliers

    def acquire(self, ex: Exchange, fresh: bool = False) -> None:
        if not fresh:
            conns = self.pool.get(ex.addr)
            while conns:
                conn = conns.pop()
                if not conn.closed:
                    conn.reused = True
                    conn.attach(ex)
                    return
        self.loop.create_task(self._connect(ex))

    async def _connect(self, ex: Exchange) -> None:
        up = ex.upstream
        assert up is not None
        try:
            _, conn = await asyncio.wait_for(
                # self is the Worker (this class is its mixin)
                self.loop.create_connection(lambda: UpstreamConn(self, up), up.host, up.port),  # type: ignore[arg-type]
                self.connect_timeout,
            )
        except Exception:  # refused, timed out, or anything else: never let one upstream take the worker down
            if not self.outliers.connect_failed(ex):  # counted; True if retried on another upstream
                ex.client.respond_error(ex, 502)
            return
        if ex.dead:
            self.pool_put(conn)
            return
        conn.attach(ex)

    def pool_put(self, conn: UpstreamConn) -> None:
        if conn.addr not in self.routes.upstream_addrs or conn.closed:
            conn.close()  # the upstream left every route: don't keep it alive
            return
        conns = self.pool.setdefault(conn.addr, [])
        if len(conns) >= _POOL_MAX:
            conn.close()
            return
        conn.idle_since = self.now
        conns.append(conn)

    def pool_remove(self, conn: UpstreamConn) -> None:
        conns = self.pool.get(conn.addr)
        if conns and conn in conns:
            conns.remove(conn)
