"""Per-route latency histograms: fixed buckets in one flat list per route, no allocation per request.

A worker's ``route_stats[domain]`` is ``[requests, upstream_errors, hist]`` (see :mod:`.worker`); ``hist`` is
:func:`new_hist`'s list: for each status class 2xx, 3xx, 4xx, 5xx a row of ``len(BOUNDS) + 1`` bucket counts
(not cumulative; the last is +Inf), then the four classes' sums of seconds. :func:`observe` is the only thing
the hot path calls (when an exchange completes): one ``bisect`` in C and two list stores.

The master adds the workers' lists up (:func:`fold_counts`, also for the counts of workers that died) and
:func:`latency_report` turns the total into the ``route_latency`` part of the ``status`` answer, in the shape
Prometheus histograms take (cumulative buckets by upper bound, sum, count), which the control plane exports
as ``proxy_request_duration_seconds{route,status_class}``.

Buckets span 1 ms .. 10 s: a proxied request on loopback takes well under a millisecond, an app's slow page a
few seconds, and the upstream read timeout (60 s by default) ends anything longer as a 504.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

BOUNDS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLASSES = ("2xx", "3xx", "4xx", "5xx")
ROW = len(BOUNDS) + 1  # bucket counts per class, +Inf last
SUMS = ROW * len(CLASSES)  # index of the first class's sum of seconds
SIZE = SUMS + len(CLASSES)


def new_hist() -> list[Any]:
    """An empty histogram list (ints for counts, floats for the sums)."""
    return [0] * SUMS + [0.0] * len(CLASSES)


def new_stats() -> list[Any]:
    """A route's ``[requests, upstream_errors, hist]`` counters."""
    return [0, 0, new_hist()]


def observe(hist: list[Any], status: int, seconds: float) -> None:
    """Count one response of ``status`` that took ``seconds`` (1xx and anything odd are not counted)."""
    c = status // 100 - 2
    if 0 <= c < 4:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (Prometheus's "le").
        hist[c * ROW + bisect_left(BOUNDS, seconds)] += 1
        hist[SUMS + c] += seconds


def _add_hist(into: list[Any], other: Any) -> None:
    if isinstance(other, list) and len(other) == SIZE:
        for i, v in enumerate(other):
            into[i] += v


def fold_counts(into: dict[str, list[Any]], counts: dict[str, Any]) -> None:
    """Add one worker's reported ``{domain: [requests, upstream_errors, hist]}`` to ``into`` (a worker of an
    older version may report ``[requests, upstream_errors]`` only)."""
    for d, c in counts.items():
        cur = into.get(d)
        if cur is None:
            cur = into[d] = new_stats()
        cur[0] += c[0]
        cur[1] += c[1]
        if len(c) > 2:
            _add_hist(cur[2], c[2])


def latency_report(total: dict[str, list[Any]]) -> dict[str, Any]:
    """``{"bounds": [...], "routes": {domain: {class: {"buckets": [cumulative counts, +Inf last], "sum",
    "count"}}}}`` for the routes and classes that saw a request."""
    routes: dict[str, dict[str, Any]] = {}
    for domain, c in sorted(total.items()):
        hist = c[2] if len(c) > 2 else None
        if not hist:
            continue
        classes: dict[str, Any] = {}
        for ci, name in enumerate(CLASSES):
            row = hist[ci * ROW : (ci + 1) * ROW]
            count = sum(row)
            if not count:
                continue
            cumulative, run = [], 0
            for n in row:
                run += n
                cumulative.append(run)
            classes[name] = {"buckets": cumulative, "sum": round(hist[SUMS + ci], 6), "count": count}
        if classes:
            routes[domain] = classes
    return {"bounds": list(BOUNDS), "routes": routes}
