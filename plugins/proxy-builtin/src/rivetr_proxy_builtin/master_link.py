"""The worker's side of its control channel with the master: a socketpair carrying JSON lines.

Master → worker: ``{"op": "state", "seq", routes, unhealthy, acme, certs, tls_port, drain_timeout}`` (a
snapshot, applied in one event-loop step and acknowledged by ``seq``), ``{"op": "stats"}`` (in-flight counts
per upstream, plus the per-route counters with ``"routes": true``) and ``{"op": "stop"}``. A closed channel
means the master is gone: the worker drains and exits. :class:`MasterLink` is a mixin of
:class:`.worker.Worker` (its methods, the worker's state).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import TYPE_CHECKING, Any

from .route_metrics import new_stats
from .routing import RouteTable

if TYPE_CHECKING:
    from .client import ClientConn
    from .outlier import Outliers
    from .upstream import UpstreamConn


class MasterLink:
    """Applies the master's snapshots and answers its questions."""

    loop: asyncio.AbstractEventLoop
    now: float
    routes: RouteTable
    unhealthy: frozenset[str]
    outliers: Outliers
    acme: dict[bytes, bytes]
    certs: dict[str, int]
    tls_contexts: dict[str, tuple[int, ssl.SSLContext]]
    tls_port: int
    drain_timeout: float
    active: dict[str, int]
    route_stats: dict[str, list[Any]]
    pool: dict[str, list[UpstreamConn]]
    clients: set[ClientConn]
    draining: dict[str, float]
    servers: list[asyncio.AbstractServer]

    def apply_state(self, state: dict[str, Any]) -> None:
        """Swap in a new snapshot. One event-loop step: every request sees the old or the new table."""
        old = self.routes.upstream_addrs
        table = RouteTable(state.get("routes") or [], self.active)  # least_conn routes read self.active
        stats = self.route_stats
        for entry in table.entries:
            if entry.domain not in stats:
                stats[entry.domain] = new_stats()
        self.routes = table
        self.unhealthy = self.outliers.view(frozenset(state.get("unhealthy") or ()))
        self.acme = {k.encode(): v.encode() for k, v in (state.get("acme") or {}).items()}
        self.certs = dict(state.get("certs") or {})
        for dom in [d for d in self.tls_contexts if d not in self.certs]:
            del self.tls_contexts[dom]
        self.tls_port = int(state.get("tls_port") or 0)
        if "drain_timeout" in state:
            self.drain_timeout = float(state["drain_timeout"])
        for addr in old - table.upstream_addrs:
            for conn in self.pool.pop(addr, ()):
                conn.close()
            if self.active.get(addr):
                self.draining[addr] = self.now + self.drain_timeout
        for addr in table.upstream_addrs:
            self.draining.pop(addr, None)

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await reader.readline()
            if not line:
                break  # the master is gone: stop serving (a fresh master will start new workers)
            msg = json.loads(line)
            op = msg.get("op")
            reply: dict[str, Any] = {"op": "ack", "seq": msg.get("seq")}
            if op == "state":
                self.apply_state(msg)
            elif op == "stats":
                reply["active"] = dict(self.active)
                reply["clients"] = len(self.clients)
                reply["outliers"] = self.outliers.report()
                if msg.get("routes"):
                    reply["routes"] = {d: c for d, c in self.route_stats.items() if c[0] or c[1]}
            elif op == "stop":
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
                break
            writer.write((json.dumps(reply) + "\n").encode())
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight exchanges finish (bounded by the drain timeout), then exit.

        Also waited for: connections accepted just before the listeners closed whose request has not come or
        not been answered yet (on a restart the new workers take the next connections from the same queue,
        but one this worker accepted is its own to answer). Responses from now on close their connection, and
        idle keep-alive connections are closed as the wait goes."""
        self.stopping = True
        for server in self.servers:
            server.close()
        deadline = self.loop.time() + self.drain_timeout
        while True:
            # First a tick: a connection the loop accepted as the listener closed gets its protocol (and a
            # place in self.clients) in a callback of its own.
            await asyncio.sleep(0.05)
            waiting = bool(self.active)
            for c in list(self.clients):
                if c.pending():
                    waiting = True
                else:
                    c.close_if_idle()
            if not waiting or self.loop.time() >= deadline:
                break
        for c in list(self.clients):
            c.abort()
