"""Passive health (outlier detection) and the one safe retry, per worker process.

The master's active probes (:mod:`.health`) see an upstream every ``health_interval`` seconds; between probes a
dead or failing instance would still get its share of real requests. Here each worker watches its own traffic:

* **Failures** of an upstream: a refused or timed-out connect, a connection reset or closed before the response
  head, an unparseable or timed-out response, and answers 502/503/504. Any other answer resets the count.
* **Ejection**: ``outlier_consecutive_failures`` failures in a row take the address out of this worker's rotation
  for ``outlier_base_ejection`` seconds. Ejected again within ``outlier_max_ejection`` seconds of its return, the
  time doubles (10 s, 20 s, 40 s, …) up to ``outlier_max_ejection``, as Envoy's outlier detection grows it.
  The ejected set is folded into ``Worker.unhealthy`` (the set the route picker already skips), so routing costs
  nothing more while nothing is ejected, nor while something is. Counting is per worker: no round trip to the
  master on the hot path (with N workers an upstream takes up to N times the failures to leave every worker).
* **Never the last one**: when every upstream of a route is ejected or probed down, a request goes to the
  least recently ejected upstream the active probes still call healthy (Envoy's panic mode, in effect
  ``max_ejection_percent`` below 100 %), rather than a 503 for an app that may have recovered. Only when the
  probes call them all down is the answer a 503.
* **One safe retry** (``retry_once``) on another upstream of the same route, only when the request can't have
  had an effect: the connect failed (nothing was sent, so any method, body included: the body is still
  buffered), or the connection was reset / closed before a response byte reached the client and the request is
  idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) without a body. A POST whose bytes were sent is never
  retried; neither is a timeout (the app may still be working on it) nor an app's own 502/503/504 answer (an
  app's answer, e.g. maintenance mode; it counts towards ejection instead).

Imports: standard library only (this runs in the worker, which must stay free of the control plane's libraries).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exchange import Exchange
    from .routing import RouteEntry, RouteTable, Upstream
    from .settings import ProxySettings
    from .worker import Worker

#: Methods safe to send twice when the first attempt's connection broke before any answer (RFC 9110 §9.2.2).
_IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))


class Outliers:
    """A worker's passive health state. The hot path only tests ``fails`` (empty unless some upstream failed
    since its last success) after a non-failing answer; everything else runs on failures."""

    __slots__ = (
        "base",
        "ejected",
        "ejected_at",
        "ejections",
        "fails",
        "max",
        "owners",
        "owners_of",
        "probe_down",
        "retry",
        "returned",
        "streak",
        "threshold",
        "w",
    )

    def __init__(self, w: Worker, settings: ProxySettings) -> None:
        self.w = w
        self.threshold = max(0, int(settings.outlier_consecutive_failures))
        self.base = float(settings.outlier_base_ejection)
        self.max = max(self.base, float(settings.outlier_max_ejection))
        self.retry = bool(settings.retry_once)
        self.fails: dict[str, int] = {}  # address → consecutive failures (only addresses with at least one)
        self.ejected: dict[str, float] = {}  # address → loop time its ejection ends
        self.ejected_at: dict[str, float] = {}  # address → loop time of its latest ejection
        self.returned: dict[str, float] = {}  # address → loop time its latest ejection ended
        self.streak: dict[str, int] = {}  # address → ejections in a row (each soon after the last)
        self.ejections: dict[str, int] = {}  # address → ejections since the worker started (stats)
        self.probe_down: frozenset[str] = frozenset()  # the master's verdict, without our ejections
        # Upstream object → its route entry, for the retry (built once per route table, on the first failure).
        self.owners: dict[Upstream, RouteEntry] = {}
        self.owners_of: RouteTable | None = None

    # ------------------------------------------------------------------------------------------ verdicts
    def view(self, probe_down: frozenset[str]) -> frozenset[str]:
        """The worker's ``unhealthy`` set for a new snapshot: the probes' verdict plus our ejections.
        Addresses that left every route are forgotten (an engine hands a freed IP to the next container)."""
        self.probe_down = probe_down
        live = self.w.routes.upstream_addrs
        for table in (self.fails, self.ejected, self.ejected_at, self.returned, self.streak):
            for addr in [a for a in table if a not in live]:
                del table[addr]
        for addr in probe_down.intersection(self.fails):
            # It gets no traffic now, so no success would clear its count: while ``fails`` is not empty every
            # response takes the slower branch. The probes will have had their say when it comes back.
            del self.fails[addr]
        return probe_down.union(self.ejected) if self.ejected else probe_down

    def response(self, addr: str, status: int) -> None:
        """An upstream answered with ``status`` (called for 502-504, and for any answer while ``fails``)."""
        if 501 < status < 505:
            self.failure(addr)
        else:
            self.fails.pop(addr, None)

    def failure(self, addr: str) -> None:
        if not self.threshold or addr in self.ejected:
            return  # off, or already out (a last-resort request failing again doesn't extend the ejection)
        n = self.fails.get(addr, 0) + 1
        if n < self.threshold:
            self.fails[addr] = n
            return
        self.fails.pop(addr, None)
        self._eject(addr)

    def _eject(self, addr: str) -> None:
        w = self.w
        now = w.loop.time()
        back = self.returned.get(addr)
        streak = self.streak.get(addr, 0) + 1 if back is not None and now - back < self.max else 1
        self.streak[addr] = streak
        seconds = min(self.base * 2 ** (streak - 1), self.max)
        until = self.ejected[addr] = now + seconds
        self.ejected_at[addr] = now
        self.ejections[addr] = self.ejections.get(addr, 0) + 1
        w.unhealthy = w.unhealthy.union((addr,))
        w.loop.call_at(until, self._return, addr, until)
        # Rare and worth a line in proxy.log, like nginx's "upstream server temporarily disabled".
        print(
            f"rivetr-proxy worker {w.index}: upstream {addr} ejected for {seconds:g}s after "
            f"{self.threshold} consecutive failures",
            file=sys.stderr,
            flush=True,
        )

    def _return(self, addr: str, until: float) -> None:
        if self.ejected.get(addr) != until:
            return  # forgotten (left the routes) or ejected anew since
        del self.ejected[addr]
        self.returned[addr] = self.w.loop.time()
        self.w.unhealthy = self.probe_down.union(self.ejected) if self.ejected else self.probe_down

    def last_resort(self, entry: RouteEntry) -> Upstream | None:
        """Every upstream of ``entry`` is out: the least recently ejected one the probes still call healthy."""
        best: Upstream | None = None
        best_at = 0.0
        for u in entry.upstreams:
            at = self.ejected_at.get(u.addr)
            if at is not None and u.addr in self.ejected and u.addr not in self.probe_down:
                if best is None or at < best_at:
                    best, best_at = u, at
        return best

    # -------------------------------------------------------------------------------------------- retry
    def connect_failed(self, ex: Exchange) -> bool:
        """Connecting to ``ex``'s upstream failed: count it, and send ``ex`` to another upstream (nothing was
        sent, so any request may go; its body so far is still buffered). True if it went."""
        self.failure(ex.addr)
        return self._reroute(ex)

    def lost(self, ex: Exchange) -> bool:
        """The upstream connection closed before a response byte reached the client: count it, and retry an
        idempotent request without a body on another upstream. True if it went."""
        self.failure(ex.addr)
        if ex.has_body or ex.head.partition(b" ")[0] not in _IDEMPOTENT:
            return False  # the app may have acted on what it read: a POST is never sent twice
        return self._reroute(ex)

    def _reroute(self, ex: Exchange) -> bool:
        if not self.retry or ex.rerouted or ex.dead or ex.resp_started or ex.upstream is None:
            return False
        w = self.w
        entry = self._owner(ex.upstream)
        if entry is None or len(entry.upstreams) < 2:
            return False
        failed = ex.addr
        rr = entry.rr
        other = entry.pick(w.unhealthy | {failed})
        entry.rr = rr  # a retry doesn't take the next request's turn: round robin stays fair to the others
        if other is None:
            return False
        ex.rerouted = True
        w.release(ex)
        ex.upstream = other
        addr = ex.addr = other.addr
        w.active[addr] = w.active.get(addr, 0) + 1
        ex.counted = True
        if ex.pending is None:
            ex.pending = []  # attach() wrote (and dropped) the buffered body: there was none (see lost())
        w.acquire(ex)
        return True

    def _owner(self, upstream: Upstream) -> RouteEntry | None:
        table = self.w.routes
        if self.owners_of is not table:
            self.owners = {u: e for e in _entries(table) for u in e.upstreams}
            self.owners_of = table
        return self.owners.get(upstream)  # None: the route changed since the request was routed

    # ---------------------------------------------------------------------------------------- reporting
    def report(self) -> dict[str, dict[str, Any]]:
        """For the master's stats: ``{address: {"ejections", "ejected_until"}}``, wall-clock times."""
        if not self.ejections:
            return {}
        offset = time.time() - self.w.loop.time()
        return {
            addr: {
                "ejections": n,
                "ejected_until": (round(self.ejected[addr] + offset, 3) if addr in self.ejected else None),
            }
            for addr, n in self.ejections.items()
        }


def _entries(table: RouteTable) -> list[RouteEntry]:
    """Every route's entry: ``table.entries`` lists path routes too (a host with several prefixes is a dispatcher
    entry in ``exact``/``wild``, without upstreams of its own)."""
    return table.entries


def merge_reports(replies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The master's view over its workers' :meth:`Outliers.report`: ejections summed, and the latest
    ``ejected_until`` still in the future (an address ejected by any worker shows as ejected)."""
    now = time.time()
    out: dict[str, dict[str, Any]] = {}
    for reply in replies:
        for addr, rep in (reply.get("outliers") or {}).items():
            cur = out.setdefault(addr, {"ejections": 0, "ejected_until": None})
            cur["ejections"] += int(rep.get("ejections") or 0)
            until = rep.get("ejected_until")
            if (
                until is not None
                and until > now
                and (cur["ejected_until"] is None or until > cur["ejected_until"])
            ):
                cur["ejected_until"] = until
    return out
