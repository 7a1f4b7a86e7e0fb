"""The proxy worker: one process serving HTTP/1.1 and WebSocket traffic on a listening socket.

Run by the master (``python -m rivetr_proxy_builtin.worker --listen-fd N --ctl-fd M --settings JSON``), never
by hand. It imports only the standard library, httptools and uvloop (a test checks ``sys.modules``): the
control plane's heavy libraries must not cost memory or start-up time here.

This module holds the per-process state (:class:`Worker`), the timeout/drain sweep and the entry point; the
rest lives in modules named after their part (imports point one way, upwards:
``exchange``/``flow`` ← ``upstream`` ← ``pool`` ← ``worker`` and ``exchange``/``flow`` ← ``client`` ← ``worker``;
the protocols reach each other and the worker only through objects, never through an import):

* :mod:`.client` — ``ClientConn``, the client protocol: request parsing, smuggling defenses, routing, the
  upstream head, pipelining, upgrades.
* :mod:`.upstream` — ``UpstreamConn``, the upstream protocol: responses passed through raw, reuse rules.
* :mod:`.exchange` — ``Exchange``, the request both protocols hold while it is in flight.
* :mod:`.flow` — transport flow control between the two (pause reasons, ``pause_writing`` both ways).
* :mod:`.pool` — ``UpstreamPool``: per-upstream keep-alive pools (a mixin of ``Worker``).
* :mod:`.tls_termination` — ``TlsTermination``: SSL context, certificate by SNI (a mixin of ``Worker``).
* :mod:`.alpn` / :mod:`.h2conn` — HTTP/2 on the TLS listener (ALPN ``h2``), each stream an ``Exchange`` on the
  same upstream pools; ``h2`` is imported with the first h2 connection.
* :mod:`.h2upstream` — routes with ``upstream_protocol = "h2c"`` (gRPC): those streams go to the app as streams of
  pooled HTTP/2 cleartext connections instead; imported with the first such stream.
* :mod:`.master_link` — ``MasterLink``: the control channel with the master, snapshots and stats (a mixin).

Hot path shape, per request, with no per-request task, timer or log line:

* :class:`ClientConn` feeds client bytes to httptools; ``on_header`` callbacks collect raw header pairs;
  ``on_headers_complete`` validates framing (smuggling defenses), routes by Host, and builds the upstream
  request head in one ``b"".join``.
* An :class:`Exchange` (one small slotted object) ties the request to an :class:`UpstreamConn` taken from the
  per-upstream keep-alive pool (a connect task only when the pool is empty).
* Bodies stream both ways as they arrive: Content-Length bodies byte for byte, chunked bodies re-framed from
  httptools' de-chunked ``on_body`` data. Transport flow control (``pause_writing``) pauses the other side's
  reading, so memory stays flat whatever the body size.
* Timeouts (slowloris header timeout, idle keep-alive, upstream read) are deadlines on the connection
  objects checked by one periodic sweep per worker, instead of one timer per request.

The mixins add methods only, no per-request indirection: the hot path still reads ``w.pool``, ``w.now``
and calls ``w.acquire`` on the worker itself, as when everything was one module.

Per-route counters: ``Worker.route_stats`` maps a route's domain (the route key, ``*.example.com`` for a
wildcard) to a two-int list ``[requests, upstream_errors]``, created for every domain when a snapshot is
applied and never dropped (counters are monotonic for the life of the worker; a removed and re-added route
continues). The hot path only does ``stats[0] += 1`` on that list (the Exchange keeps a reference for the
error count); requests that match no route count under ``_unmatched``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import os
import signal
import socket
import ssl
import sys
from typing import Any

from .accesslog import AccessLog
from .alpn import AlpnSwitch
from .client import ClientConn
from .compress import config_from as compress_config
from .exchange import Exchange
from .master_link import MasterLink
from .outlier import Outliers
from .pool import UpstreamPool
from .routing import RouteTable
from .settings import ProxySettings
from .tls_termination import ALPN, TlsTermination, quiet_tls_errors
from .upstream import UpstreamConn

_UNMATCHED = "_unmatched"  # route_stats key of requests no route matched (404)


class Worker(UpstreamPool, TlsTermination, MasterLink):
    """Per-process state: the route table, health view, upstream pools and the control link."""

    def __init__(self, settings: ProxySettings, index: int = 0) -> None:
        self.index = index
        self.max_header_size = settings.max_header_size
        self.max_body_size = settings.max_body_size
        self.header_timeout = settings.header_timeout
        self.idle_timeout = settings.idle_timeout
        self.read_timeout = settings.upstream_read_timeout
        self.connect_timeout = settings.upstream_connect_timeout
        self.drain_timeout = settings.drain_timeout
        self.access_log = settings.access_log
        self.compress = compress_config(settings)  # None: [proxy] compression is off
        self.h2_max_streams = settings.http2_max_concurrent_streams
        self.trusted_proxies = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]
        self.rid_prefix = os.urandom(8).hex().encode()
        self.rid_seq = 0
        # Close pooled upstream connections before a typical upstream keep-alive timeout (Node: 5 s) fires.
        self.pool_idle = min(settings.idle_timeout, 4.0)
        self.routes = RouteTable()
        self.unhealthy: frozenset[str] = frozenset()  # probed down, plus ejected by self.outliers
        self.outliers = Outliers(self, settings)
        self.acme: dict[bytes, bytes] = {}
        self.certs: dict[str, int] = {}  # domain → version
        self.state_dir = ""
        self.tls_contexts: dict[str, tuple[int, ssl.SSLContext]] = {}
        self.tls_port = 0  # set once an HTTPS listener exists (https_redirect only then)
        self.active: dict[str, int] = {}
        # Per-route counters, domain → [requests, upstream_errors, latency histogram] (module docstring).
        self.unmatched = [0, 0]
        self.route_stats: dict[str, list[Any]] = {_UNMATCHED: self.unmatched}
        self.alog: AccessLog | None = None  # made by serve() with [proxy] access_log on
        self.pool: dict[str, list[UpstreamConn]] = {}
        self.clients: set[ClientConn] = set()
        self.stopping = False  # shutting down: responses close their connection (master_link.shutdown)
        self.busy: set[UpstreamConn] = set()
        self.draining: dict[str, float] = {}
        self.last_error_status = 0
        self.loop = asyncio.get_running_loop()
        self.now = self.loop.time()
        self.tick = max(0.05, min(0.5, settings.header_timeout / 4, settings.upstream_read_timeout / 4))
        self.servers: list[asyncio.AbstractServer] = []

    def access(self, client: ClientConn, ex: Exchange) -> None:
        """One access-log line (only with ``access_log`` on, see :mod:`.accesslog`)."""
        if self.alog is not None:
            self.alog.record(client, ex)
        else:
            ex.log = None

    def is_trusted(self, peer: bytes) -> bool:
        """Whether ``peer`` (a client address) is in ``[proxy] trusted_proxies``; once per connection."""
        try:
            address = ipaddress.ip_address(peer.decode())
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    # ----------------------------------------------------------------------------------------- counting
    def release(self, ex: Exchange) -> None:
        if ex.counted:
            ex.counted = False
            n = self.active[ex.addr] - 1
            if n:
                self.active[ex.addr] = n
            else:
                del self.active[ex.addr]

    # ------------------------------------------------------------------------------------------ timeouts
    async def sweep(self) -> None:
        loop = self.loop
        while True:
            await asyncio.sleep(self.tick)
            now = self.now = loop.time()
            try:
                for c in [c for c in self.clients if c.deadline and c.deadline < now]:
                    c.timed_out()
                for u in [u for u in self.busy if u.deadline and u.deadline < now]:
                    u.timed_out()
                limit = now - self.pool_idle
                for conns in self.pool.values():
                    while conns and conns[0].idle_since < limit:
                        conns.pop(0).close()
                if self.draining:
                    self._enforce_drain(now)
            except Exception as exc:  # a bug in one connection's timeout must not stop the sweep
                print(f"rivetr-proxy worker {self.index}: sweep error: {exc!r}", file=sys.stderr)

    def _enforce_drain(self, now: float) -> None:
        """Past the drain deadline, close what still uses a removed upstream (the old side is released)."""
        for addr, deadline in list(self.draining.items()):
            if not self.active.get(addr):
                del self.draining[addr]
            elif deadline <= now:
                del self.draining[addr]
                for c in list(self.clients):
                    ex = c.active
                    if (c.tunnel is not None and c.tunnel.addr == addr) or (
                        ex is not None and ex.addr == addr
                    ):
                        c.abort()
                    elif type(c) is not ClientConn:
                        c.drain(addr)  # type: ignore[attr-defined]  # HTTP/2: only its streams on addr end


async def serve(
    settings: ProxySettings,
    listen: socket.socket,
    ctl: socket.socket,
    index: int,
    tls: socket.socket | None = None,
    state_dir: str = "",
) -> None:
    w = Worker(settings, index)
    w.state_dir = state_dir
    alog_task = None
    if settings.access_log:
        try:
            w.alog = AccessLog(settings, index, state_dir, w.is_trusted)
            alog_task = w.loop.create_task(w.alog.run())
        except OSError as exc:  # an unwritable access_log_dir must not stop the worker (a respawn loop)
            w.access_log = False
            print(f"rivetr-proxy worker {index}: access log off: {exc}", file=sys.stderr, flush=True)
    w.loop.set_exception_handler(quiet_tls_errors)
    reader, writer = await asyncio.open_connection(sock=ctl)
    writer.write(b'{"op":"ready","index":%d,"pid":%d}\n' % (index, os.getpid()))
    # Serve only once the first state snapshot is applied: until then every request would be a 404.
    first = await reader.readline()
    if not first:
        return
    msg = json.loads(first)
    w.apply_state(msg)
    w.servers.append(await w.loop.create_server(lambda: ClientConn(w), sock=listen, backlog=4096))
    if tls is not None:
        certs = os.path.join(state_dir, "certs")
        if not settings.http2:
            ALPN[:] = ["http/1.1"]  # this process's contexts (the SNI ones too) stop offering h2
        ctx = w.tls_context((os.path.join(certs, "_fallback.crt"), os.path.join(certs, "_fallback.key")))
        w.servers.append(
            await w.loop.create_server(
                # HTTP/1.1 or HTTP/2 is known only after the handshake (ALPN): AlpnSwitch picks then.
                (lambda: AlpnSwitch(w)) if settings.http2 else (lambda: ClientConn(w, True)),
                sock=tls,
                backlog=4096,
                ssl=ctx,
                ssl_handshake_timeout=settings.header_timeout,
            )
        )
    # Acknowledged once both listeners accept: the master counts this worker as serving from then on (on a
    # restart, the old master's workers stop only after that).
    writer.write(b'{"op":"ack","seq":%d}\n' % int(msg.get("seq") or 0))
    sweeper = w.loop.create_task(w.sweep())
    stop = asyncio.Event()
    w.loop.add_signal_handler(signal.SIGTERM, stop.set)
    w.loop.add_signal_handler(signal.SIGINT, stop.set)
    ctl_task = w.loop.create_task(w.control(reader, writer))
    stop_task = w.loop.create_task(stop.wait())
    await asyncio.wait({ctl_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    if not ctl_task.done():
        ctl_task.cancel()
        await w.shutdown()
    sweeper.cancel()
    if w.alog is not None:
        if alog_task is not None:
            alog_task.cancel()
        w.alog.close()  # the lines still buffered reach the file before the worker exits


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="rivetr_proxy_builtin.worker")
    ap.add_argument("--listen-fd", type=int, required=True)
    ap.add_argument("--ctl-fd", type=int, required=True)
    ap.add_argument("--settings", required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--tls-fd", type=int)
    ap.add_argument("--state-dir", default="")
    args = ap.parse_args(argv)
    settings = ProxySettings.from_json(args.settings)
    listen = socket.socket(fileno=args.listen_fd)
    ctl = socket.socket(fileno=args.ctl_fd)
    # Long-lived, allocation-heavy server: move start-up objects out of the GC's way and collect less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    gc_stats_to = os.environ.get("RIVETR_PROXY_GC_STATS")  # debugging aid: collector pauses (see .gcstats)
    if gc_stats_to:
        from .gcstats import install

        install(gc_stats_to)
    import uvloop

    profile_to = os.environ.get("RIVETR_PROXY_PROFILE")  # debugging aid: cProfile stats per worker
    if profile_to:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        tls = socket.socket(fileno=args.tls_fd) if args.tls_fd is not None else None
        runner.run(serve(settings, listen, ctl, args.index, tls, args.state_dir))
    if profile_to:
        prof.disable()
        prof.dump_stats(f"{profile_to}.{os.getpid()}")


if __name__ == "__main__":
    main()
