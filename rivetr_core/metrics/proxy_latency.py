"""``proxy_request_duration_seconds{route,status_class}``: the proxy's per-route latency histograms.

A proxy backend may answer ``status()["route_latency"]`` as ``{"bounds": [upper bounds in seconds],
"routes": {route: {"2xx"|"3xx"|"4xx"|"5xx": {"buckets": [cumulative counts, +Inf last], "sum": seconds,
"count": n}}}}`` (counters since the proxy started; the built-in proxy sums its workers' fixed-bucket
histograms). The sampler keeps the last answer (:func:`from_status`) and this collector renders it at scrape
time as Prometheus histograms, so ``histogram_quantile()`` and ``rate(..._count)`` work per route and class.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from rivetr_core.metrics.registry import SampledValues

CLASSES = ("2xx", "3xx", "4xx", "5xx")


def from_status(status: Any) -> dict[str, Any]:
    """The ``route_latency`` of a backend's status answer, checked; ``{}`` when absent or malformed."""
    lat = status.get("route_latency") if isinstance(status, dict) else None
    if not isinstance(lat, dict):
        return {}
    bounds, routes = lat.get("bounds"), lat.get("routes")
    if not isinstance(bounds, list) or not isinstance(routes, dict):
        return {}
    if not all(isinstance(b, (int, float)) for b in bounds):
        return {}
    clean: dict[str, dict[str, Any]] = {}
    for route, classes in routes.items():
        if not isinstance(classes, dict):
            continue
        for cls, s in classes.items():
            if cls not in CLASSES or not isinstance(s, dict):
                continue
            buckets, total = s.get("buckets"), s.get("sum")
            if (
                isinstance(buckets, list)
                and len(buckets) == len(bounds) + 1
                and all(isinstance(n, (int, float)) for n in buckets)
                and isinstance(total, (int, float))
            ):
                clean.setdefault(str(route), {})[cls] = {"buckets": buckets, "sum": float(total)}
    return {"bounds": [float(b) for b in bounds], "routes": clean}


class ProxyLatencyCollector(Collector):
    def __init__(self, values: SampledValues) -> None:
        self.values = values

    def collect(self) -> Iterator[Any]:
        fam = HistogramMetricFamily(
            "proxy_request_duration_seconds",
            "Time from a request's head to the end of its response at the proxy, per route and status class.",
            labels=["route", "status_class"],
        )
        lat = self.values.proxy_latency
        bounds = [floatToGoString(b) for b in lat.get("bounds", ())] + ["+Inf"]
        for route, classes in sorted(lat.get("routes", {}).items()):
            for cls, s in sorted(classes.items()):
                fam.add_metric(
                    [route, cls], list(zip(bounds, (float(n) for n in s["buckets"]), strict=True)), s["sum"]
                )
        yield fam
