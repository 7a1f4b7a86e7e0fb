"""Garbage-collector pause statistics of a worker, a debugging aid like ``RIVETR_PROXY_PROFILE``.

With ``RIVETR_PROXY_GC_STATS=/path/prefix`` in the proxy's environment, each worker times every collection
(``gc.callbacks``) and writes ``/path/prefix.<pid>.json`` when it exits: per generation, the number of
collections, their total and longest pause, and how many took over 1/5/20 ms. A pause stalls every connection
of the worker at once, so this is where tail latency (p99.9, max) from the collector shows up.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
from time import perf_counter
from typing import Any

_BUCKETS = (0.001, 0.005, 0.020)


def install(prefix: str) -> None:
    """Start timing collections; the summary is written at interpreter exit."""
    stats = [{"collections": 0, "total_ms": 0.0, "max_ms": 0.0, "over_ms": [0, 0, 0]} for _ in range(3)]
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = perf_counter()
            return
        pause = perf_counter() - started[0]
        s = stats[info["generation"]]
        s["collections"] += 1
        s["total_ms"] += pause * 1000
        s["max_ms"] = max(s["max_ms"], pause * 1000)
        for i, limit in enumerate(_BUCKETS):
            if pause > limit:
                s["over_ms"][i] += 1

    def dump() -> None:
        summary = {
            "threshold": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
            "tracked": len(gc.get_objects()),
            "over_ms_limits": [b * 1000 for b in _BUCKETS],
            "generations": stats,
        }
        with open(f"{prefix}.{os.getpid()}.json", "w") as f:
            json.dump(summary, f, indent=1)

    gc.callbacks.append(callback)
    atexit.register(dump)
