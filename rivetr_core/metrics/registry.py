"""Metric families and how each one is fed.

- ``http_request_duration_seconds{method,route,status}`` (route = URL template) - request hooks
- ``deployments_total{status}`` (terminal statuses) - deployment-status hook
- ``deployment_duration_seconds{step}`` (clone, build, start, health, switch, drain, total) - status hook
- ``build_queue_depth`` - status hook (deployments in ``queued``)
- ``health_check_total{result}``, ``health_check_duration_seconds`` - pipeline, one per probe (see below)
- ``container_cpu_percent``, ``container_memory_bytes``, ``container_memory_limit_bytes`` ``{app_id,app}``
  - sampler
- ``host_cpu_percent``, ``host_memory_used_bytes``, ``host_memory_total_bytes``, ``host_disk_used_percent``
  - sampler
- ``proxy_requests_total{domain}``, ``proxy_upstream_errors_total{domain}`` - sampler (proxy status)
- ``proxy_request_duration_seconds{route,status_class}`` - sampler (proxy status, see proxy_latency.py)
- ``certificate_expiry_timestamp_seconds{domain}`` - sampler (certificates table)
- ``notification_deliveries_total{result}`` - notification worker

Health checks: the pipeline reports every probe (one HTTP request of its health step) through
:meth:`RivetrMetrics.observe_health_check`, so ``health_check_total{result="fail"}`` counts failed probes
(a slow-starting app fails a few before it passes) and ``health_check_duration_seconds`` is the probe latency.
The health step's total time is ``deployment_duration_seconds{step="health"}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from rivetr_core import hookimpl
from rivetr_core.metrics.proxy_latency import ProxyLatencyCollector

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.metrics")

#: Deployment statuses that end a deployment (counted by ``deployments_total``).
TERMINAL = frozenset({"running", "failed", "cancelled", "superseded"})
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: One health probe: a local HTTP request, bounded by the app's ``healthcheck_timeout`` (at most 120 s).
PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass
class SampledValues:
    """What the sampler saw last; the scrape renders it as is (never refreshes it)."""

    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # app_id → {name, cpu, mem, limit}
    host: dict[str, float] = field(default_factory=dict)
    proxy_routes: dict[str, dict[str, float]] = field(default_factory=dict)  # domain → {requests, errors}
    proxy_latency: dict[str, Any] = field(default_factory=dict)  # see metrics/proxy_latency.py
    cert_expiry: dict[str, float] = field(default_factory=dict)  # domain → unix time
    sampled_at: float | None = None


class _SampledCollector(Collector):
    def __init__(self, values: SampledValues) -> None:
        self.values = values

    def collect(self) -> Iterator[Any]:
        v = self.values
        cpu = GaugeMetricFamily(
            "container_cpu_percent",
            "CPU use of the app's containers (100 = one core).",
            labels=["app_id", "app"],
        )
        mem = GaugeMetricFamily(
            "container_memory_bytes", "Memory used by the app's containers.", labels=["app_id", "app"]
        )
        lim = GaugeMetricFamily(
            "container_memory_limit_bytes", "Memory limit of the app's containers.", labels=["app_id", "app"]
        )
        for app_id, s in sorted(v.apps.items()):
            labels = [app_id, str(s.get("name") or app_id)]
            cpu.add_metric(labels, float(s.get("cpu_percent", 0.0)))
            mem.add_metric(labels, float(s.get("memory_used", 0)))
            lim.add_metric(labels, float(s.get("memory_limit", 0)))
        yield from (cpu, mem, lim)
        for key, help_text in (
            ("cpu_percent", "Host CPU use (percent of all cores)."),
            ("memory_used_bytes", "Host memory in use."),
            ("memory_total_bytes", "Host memory in total."),
            ("disk_used_percent", "Use of the disk holding the data dir."),
        ):
            if key in v.host:
                g = GaugeMetricFamily(f"host_{key}", help_text)
                g.add_metric([], float(v.host[key]))
                yield g
        requests = CounterMetricFamily(
            "proxy_requests", "Requests the proxy served, per route.", labels=["domain"]
        )
        errors = CounterMetricFamily(
            "proxy_upstream_errors",
            "Upstream errors answered by the proxy (502/503/504) per route.",
            labels=["domain"],
        )
        for domain, c in sorted(v.proxy_routes.items()):
            if "requests" in c:
                requests.add_metric([domain], float(c["requests"]))
            if "upstream_errors" in c:
                errors.add_metric([domain], float(c["upstream_errors"]))
        yield from (requests, errors)
        expiry = GaugeMetricFamily(
            "certificate_expiry_timestamp_seconds",
            "Unix time at which the domain's certificate expires.",
            labels=["domain"],
        )
        for domain, ts in sorted(v.cert_expiry.items()):
            expiry.add_metric([domain], ts)
        yield expiry
        if v.sampled_at is not None:
            g = GaugeMetricFamily("rivetr_last_sample_timestamp_seconds", "When the sampler last ran.")
            g.add_metric([], v.sampled_at)
            yield g


class _StatusSink:
    def __init__(self, metrics: RivetrMetrics) -> None:
        self.metrics = metrics

    @hookimpl
    def rivetr_on_deployment_status(
        self, deployment_id: str, app_id: str, status: str, error: str | None
    ) -> None:
        self.metrics.on_deployment_status(deployment_id, status)


class RivetrMetrics:
    """Everything ``/metrics`` exposes for one app. ``app.extensions["rivetr_metrics"]``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Control-plane request time.",
            ["method", "route", "status"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.deployments = Counter(
            "deployments", "Finished deployments by final status.", ["status"], registry=r
        )
        self.step_duration = Histogram(
            "deployment_duration_seconds",
            "Time per pipeline step.",
            ["step"],
            registry=r,
            buckets=STEP_BUCKETS,
        )
        self.queue_depth = Gauge("build_queue_depth", "Deployments waiting for a pipeline slot.", registry=r)
        self.health_checks = Counter(
            "health_check", "Health-check probes of new containers.", ["result"], registry=r
        )
        self.health_latency = Histogram(
            "health_check_duration_seconds",
            "Time of one health-check probe of a new container.",
            registry=r,
            buckets=PROBE_BUCKETS,
        )
        self.notifications = Counter(
            "notification_deliveries", "Notification deliveries.", ["result"], registry=r
        )
        self.sampled = SampledValues()
        r.register(_SampledCollector(self.sampled))
        r.register(ProxyLatencyCollector(self.sampled))
        for status in sorted(TERMINAL):
            self.deployments.labels(status=status)  # expose zeros: rate() works from the first scrape
        for result in ("pass", "fail"):
            self.health_checks.labels(result=result)
        self._queued: set[str] = set()
        self.ctx: RivetrContext | None = None

    # ------------------------------------------------------------------------------------------ requests
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_duration.labels(method=method, route=route, status=str(status)).observe(seconds)

    # --------------------------------------------------------------------------------------- deployments
    def on_deployment_status(self, deployment_id: str, status: str) -> None:
        if status == "queued":
            self._queued.add(deployment_id)
        else:
            self._queued.discard(deployment_id)
        self.queue_depth.set(len(self._queued))
        if status in TERMINAL:
            self.deployments.labels(status=status).inc()
            if self.ctx is not None:
                # Step timings live on the deployment row; read them off the hook's (synchronous) path.
                self.ctx.spawn(self._observe_steps(deployment_id), f"metrics-steps-{deployment_id[:8]}")

    async def _observe_steps(self, deployment_id: str) -> None:
        from rivetr_core.models.apps import Deployment

        assert self.ctx is not None
        try:
            async with self.ctx.db.session() as session:
                dep = await session.get(Deployment, deployment_id)
        except Exception:  # the database is closing (shutdown): no step timings to read
            return
        if dep is None:
            return
        for step, info in (dep.steps or {}).items():
            seconds = _step_seconds(info)
            if seconds is not None:
                self.step_duration.labels(step=step).observe(seconds)
        total = _seconds_between(dep.started_at or dep.created_at, dep.finished_at)
        if total is not None:
            self.step_duration.labels(step="total").observe(total)

    def observe_health_check(self, ok: bool, seconds: float, deployment_id: str | None = None) -> None:
        """For the pipeline: one health-check probe (``ok`` = it passed) that took ``seconds``.

        ``deployment_id`` says whose probe it was (kept for callers and logs); it is not a label, so the
        series stay bounded."""
        self.health_checks.labels(result="pass" if ok else "fail").inc()
        self.health_latency.observe(seconds)


def _step_seconds(info: Any) -> float | None:
    """The pipeline records ``{"started_at", "finished_at", "duration_ms"}`` per step."""
    if not isinstance(info, dict):
        return None
    value = info.get("duration_ms")
    if isinstance(value, (int, float)) and value >= 0:
        return float(value) / 1000
    return None


def _seconds_between(start: datetime, end: datetime | None) -> float | None:
    if end is None:
        return None
    return max((end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds(), 0.0)


def install_request_timer(app: Quart, metrics: RivetrMetrics) -> None:
    """Time every request from the very first before-request function (auth and rate limit included)."""
    from quart import request

    async def _start() -> None:
        request.rivetr_started = time.perf_counter()  # type: ignore[attr-defined]

    async def _stop(response: Any) -> Any:
        started = getattr(request, "rivetr_started", None)
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
            metrics.observe_request(request.method, rule, response.status_code, time.perf_counter() - started)
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request_funcs.setdefault(None, []).append(_stop)


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: feed deployment statuses into the app's metrics."""
    metrics: RivetrMetrics | None = app.extensions.get("rivetr_metrics")
    if metrics is None:
        return
    metrics.ctx = ctx
    ctx.services["metrics"] = metrics
    ctx.plugins.pm.register(_StatusSink(metrics), name="core-metrics-sink")
