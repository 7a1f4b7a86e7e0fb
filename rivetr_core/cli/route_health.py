"""How the CLI shows a route's upstream next to its address: whether the proxy keeps it out of rotation, by its
active probes (``down``) or by passive health (``ejected until HH:MM:SSZ``, docs/proxy-health.md)."""

from __future__ import annotations

from typing import Any


def upstream_label(upstream: dict[str, Any]) -> str:
    """``10.0.0.7:8000``, ``10.0.0.7:8000 (down)`` or ``10.0.0.7:8000 (ejected until 03:12:45Z)`` from an item of
    a route's ``upstreams`` in ``GET /api/routes``."""
    address = str(upstream["address"])
    until = upstream.get("ejected_until")
    if until:
        # ISO 8601 UTC from the API; the time of day is what an operator needs (an ejection lasts minutes).
        return f"{address} (ejected until {str(until)[11:19]}Z)"
    if upstream.get("healthy") is False:
        return f"{address} (down)"
    return address
