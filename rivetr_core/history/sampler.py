"""The periodic sampler and the retention/downsampling job.

Container stats come from one ``stats_many`` call per tick (dockerd needs ~1 s per container, so the runtime
fetches in parallel); we never call the engine from a request. Which containers belong to which app is read
from the labels the pipeline sets (``rivetr.app``, ``rivetr.instance``), so the sampler needs nothing from the
pipeline's Python API. Managed services' containers (``rivetr.managed-service=<id>``) are sampled in the same
call and stored like an app's with ``scope = "service"`` (``app_id`` holds the service's id), so their history
and graphs work as apps' do; their names are read with raw SQL (the services feature stays unloaded).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlmodel import col, select

from rivetr_core.db.engine import aware, utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.ops import MetricSample
from rivetr_core.models.tls import Certificate

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext
    from rivetr_core.metrics.registry import RivetrMetrics

log = logging.getLogger("rivetr.history")

LABEL_APP = "rivetr.app"
LABEL_INSTANCE = "rivetr.instance"
LABEL_MANAGED = "rivetr.managed"
LABEL_SERVICE = "rivetr.managed-service"
LABEL_STACK = "rivetr.stack"
#: Seconds between attempts to select a runtime when none answered yet (selection may probe sockets).
RUNTIME_RETRY = 300.0
COMPACT_EVERY = 3600.0
#: Interface name prefixes left out of the host's network counters: loopback, the engines' bridges (``docker0``,
#: ``br-<id>``, ``podman0``, ``cni-podman0``, the built-in runtimes' project bridges ``rvp<hash>``), veth pairs
#: and traffic-shaping devices (``ifb``).
VIRTUAL_NICS = ("lo", "docker", "br-", "veth", "podman", "cni", "virbr", "rvp", "ifb")


class MetricsSampler:
    """``ctx.services["sampler"]``; ``await sample_once()`` and ``await compact()`` are public for tests."""

    def __init__(self, ctx: RivetrContext, metrics: RivetrMetrics | None = None) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.interval = ctx.config.metrics.sample_interval
        self.raw_retention = timedelta(days=ctx.config.metrics.raw_retention_days)
        self.hourly_retention = timedelta(days=ctx.config.metrics.hourly_retention_days)
        self.last_apps: dict[str, dict[str, Any]] = {}
        #: The last sample of each managed service's container, by service id (with its name).
        self.last_services: dict[str, dict[str, Any]] = {}
        #: Per compose stack (all its services' containers summed), by stack id.
        self.last_stacks: dict[str, dict[str, Any]] = {}
        self.last_host: dict[str, float] = {}
        self._runtime_tried = 0.0
        self._last_compact = 0.0
        self._lock = asyncio.Lock()

    def start(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # the first call only sets the baseline of the next
        self.ctx.spawn(self._run_forever(), "metrics-sampler")

    async def _run_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.sample_once()
                if started - self._last_compact >= COMPACT_EVERY:
                    self._last_compact = started
                    await self.compact()
            except Exception:
                log.exception("metrics sample failed")
            await asyncio.sleep(max(self.interval - (time.monotonic() - started), 1.0))

    # ------------------------------------------------------------------------------------------ sampling
    async def _runtime(self) -> Any:
        runtime = self.ctx.runtime_if_ready()
        if runtime is None and time.monotonic() - self._runtime_tried > RUNTIME_RETRY:
            self._runtime_tried = time.monotonic()
            try:
                runtime = await self.ctx.runtime()
            except Exception:
                return None
        return runtime

    def _instance_id(self) -> str | None:
        deployments = self.ctx.services.get("deployments")
        return getattr(deployments, "instance_id", None) or None

    async def sample_once(self) -> dict[str, dict[str, Any]]:
        """Take one sample of every running app container and of the host; store and cache it.

        Serialised: an overlapping call (a test, a slow engine) must not publish older values after newer."""
        async with self._lock:
            return await self._sample()

    async def _sample(self) -> dict[str, dict[str, Any]]:
        now = utcnow()
        (apps, services, stacks), host = await asyncio.gather(
            self._sample_containers(), asyncio.to_thread(_host_stats, self._data_dir())
        )
        names = await self._app_names(list(apps))
        for app_id, stats in apps.items():
            stats["name"] = names.get(app_id, app_id)
        service_names = await self._service_names(list(services))
        for service_id, stats in services.items():
            stats["name"] = service_names.get(service_id, service_id)
        stack_names = await self._service_names(list(stacks), table="stacks")
        for stack_id, stats in stacks.items():
            stats["name"] = stack_names.get(stack_id, stack_id)
        rows = [
            MetricSample(
                ts=now,
                scope=scope,
                app_id=owner,
                cpu_percent=s["cpu_percent"],
                memory_used=s["memory_used"],
                memory_limit=s["memory_limit"],
                net_rx=s["net_rx"],
                net_tx=s["net_tx"],
                containers=s["containers"],
            )
            for scope, sampled in (("app", apps), ("service", services), ("stack", stacks))
            for owner, s in sampled.items()
        ]
        rows.append(
            MetricSample(
                ts=now,
                scope="host",
                cpu_percent=host["cpu_percent"],
                memory_used=int(host["memory_used_bytes"]),
                memory_limit=int(host["memory_total_bytes"]),
                net_rx=int(host.get("net_rx_bytes", 0)),
                net_tx=int(host.get("net_tx_bytes", 0)),
                disk_percent=host["disk_used_percent"],
            )
        )
        async with self.ctx.db.session() as session:
            session.add_all(rows)
            await session.commit()
        self.last_apps, self.last_host, self.last_services = apps, host, services
        self.last_stacks = stacks
        proxy_routes, certs = await asyncio.gather(self._proxy_counters(), self._cert_expiry())
        if self.metrics is not None:
            sampled = self.metrics.sampled
            sampled.apps.clear()
            sampled.apps.update(apps)
            sampled.host.clear()
            sampled.host.update(host)
            if proxy_routes is not None:
                sampled.proxy_routes.clear()
                sampled.proxy_routes.update(proxy_routes)
            sampled.cert_expiry.clear()
            sampled.cert_expiry.update(certs)
            sampled.sampled_at = time.time()
        return apps

    def _data_dir(self) -> str:
        return str(self.ctx.config.server.data_dir)

    async def _sample_containers(
        self,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """``(apps, services, stacks)``: the running containers' stats summed per app, per managed service and
        per compose stack."""
        runtime = await self._runtime()
        if runtime is None:
            return {}, {}, {}
        # One list for both kinds: this instance's containers (every container without an instance id yet).
        instance = self._instance_id()
        labels = {LABEL_INSTANCE: instance} if instance else None
        try:
            containers = [
                c
                for c in await runtime.list(labels=labels, all=False)
                if c.running
                and (
                    (c.labels.get(LABEL_MANAGED) == "true" and c.labels.get(LABEL_APP))
                    or c.labels.get(LABEL_SERVICE)
                    or c.labels.get(LABEL_STACK)
                )
            ]
            stats = await runtime.stats_many([c.id for c in containers]) if containers else {}
        except Exception as exc:
            log.info("container stats unavailable: %s", exc)
            return {}, {}, {}
        apps: dict[str, dict[str, Any]] = {}
        services: dict[str, dict[str, Any]] = {}
        stacks: dict[str, dict[str, Any]] = {}
        for container in containers:
            service_id = container.labels.get(LABEL_SERVICE)
            stack_id = container.labels.get(LABEL_STACK)
            owner = service_id or stack_id or container.labels.get(LABEL_APP)
            s = stats.get(container.id)
            if not owner or s is None:
                continue
            agg = (services if service_id else stacks if stack_id else apps).setdefault(
                owner,
                {
                    "cpu_percent": 0.0,
                    "memory_used": 0,
                    "memory_limit": 0,
                    "net_rx": 0,
                    "net_tx": 0,
                    "containers": 0,
                },
            )
            agg["cpu_percent"] += s.cpu_percent
            agg["memory_used"] += s.memory_used
            agg["memory_limit"] += s.memory_limit
            agg["net_rx"] += s.net_rx
            agg["net_tx"] += s.net_tx
            agg["containers"] += 1
        return apps, services, stacks

    async def _app_names(self, app_ids: list[str]) -> dict[str, str]:
        if not app_ids:
            return {}
        async with self.ctx.db.session() as session:
            rows = await session.exec(select(App.id, App.name).where(col(App.id).in_(app_ids)))
            return {app_id: name for app_id, name in rows}

    async def _service_names(self, service_ids: list[str], table: str = "services") -> dict[str, str]:
        """Names of managed services (or, ``table="stacks"``, compose stacks) by raw SQL: the feature stays
        unloaded."""
        if not service_ids:
            return {}
        import sqlalchemy as sa

        assert table in ("services", "stacks")
        query = sa.text(f"SELECT id, name FROM {table} WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        )
        async with self.ctx.db.engine.connect() as conn:
            return {row[0]: row[1] for row in await conn.execute(query, {"ids": service_ids})}

    async def _proxy_counters(self) -> dict[str, dict[str, float]] | None:
        """Per-route counters from ``ProxyBackend.status()["route_stats"]`` when the backend offers them:
        ``{domain: {"requests": n, "upstream_errors": n}}`` (monotonic counters since the proxy started)."""
        if self.ctx.proxy is None:
            return None
        try:
            status = await asyncio.wait_for(self.ctx.proxy.status(), 3)
        except Exception:
            return None
        if self.metrics is not None:
            from rivetr_core.metrics.proxy_latency import from_status

            self.metrics.sampled.proxy_latency = from_status(status)
        stats = status.get("route_stats") if isinstance(status, dict) else None
        if not isinstance(stats, dict):
            return None
        return {
            str(d): {k: float(v) for k, v in c.items() if isinstance(v, (int, float))}
            for d, c in stats.items()
            if isinstance(c, dict)
        }

    async def _cert_expiry(self) -> dict[str, float]:
        async with self.ctx.db.session() as session:
            rows = await session.exec(
                select(Certificate.domain, Certificate.not_after).where(
                    col(Certificate.not_after).is_not(None)
                )
            )
            return {domain: aware(not_after).timestamp() for domain, not_after in rows if not_after}

    # ---------------------------------------------------------------------------------------- retention
    async def compact(self, now: datetime | None = None) -> tuple[int, int]:
        """Fold raw samples older than the raw retention into hourly averages; drop hourly ones past theirs.

        Returns (raw rows folded, hourly rows written). Only whole hours before the cutoff are folded, and their
        raw rows are deleted in the transaction that writes the averages, so running it twice changes nothing.
        """
        now = now or utcnow()
        raw_cutoff = _hour_floor(now - self.raw_retention)
        folded = written = 0
        async with self.ctx.db.session() as session:
            rows = list(
                (
                    await session.exec(
                        select(MetricSample)
                        .where(MetricSample.resolution == "raw", MetricSample.ts < raw_cutoff)
                        .order_by(col(MetricSample.ts))
                    )
                ).all()
            )
            groups: dict[tuple[str, str | None, datetime], list[MetricSample]] = defaultdict(list)
            for row in rows:
                groups[(row.scope, row.app_id, _hour_floor(row.ts))].append(row)
            for (scope, app_id, hour), members in groups.items():
                n = len(members)
                disks = [m.disk_percent for m in members if m.disk_percent is not None]
                session.add(
                    MetricSample(
                        ts=hour,
                        scope=scope,
                        app_id=app_id,
                        resolution="1h",
                        cpu_percent=sum(m.cpu_percent for m in members) / n,
                        memory_used=sum(m.memory_used for m in members) // n,
                        memory_limit=max(m.memory_limit for m in members),
                        net_rx=max(m.net_rx for m in members),
                        net_tx=max(m.net_tx for m in members),
                        disk_percent=(sum(disks) / len(disks)) if disks else None,
                        containers=max(m.containers for m in members),
                    )
                )
                written += 1
            if rows:
                await session.exec(
                    delete(MetricSample).where(  # type: ignore[call-overload]
                        col(MetricSample.resolution) == "raw", col(MetricSample.ts) < raw_cutoff
                    )
                )
                folded = len(rows)
            await session.exec(
                delete(MetricSample).where(  # type: ignore[call-overload]
                    col(MetricSample.resolution) == "1h", col(MetricSample.ts) < now - self.hourly_retention
                )
            )
            await session.commit()
        if folded:
            log.info("metrics history: folded %d raw samples into %d hourly averages", folded, written)
        return folded, written


def _hour_floor(ts: datetime) -> datetime:
    return aware(ts).replace(minute=0, second=0, microsecond=0)


def _host_stats(path: str) -> dict[str, float]:
    import os

    import psutil

    mem = psutil.virtual_memory()
    out = {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_used_bytes": float(mem.total - mem.available),
        "memory_total_bytes": float(mem.total),
        "disk_used_percent": 0.0,
    }
    try:
        disk = psutil.disk_usage(path)
        out["disk_used_percent"] = disk.percent
        out["disk_used_bytes"], out["disk_total_bytes"] = float(disk.used), float(disk.total)
    except OSError:
        pass
    try:
        # Counters since boot (the graphs draw rates from successive samples) of the host's own interfaces:
        # loopback (the proxy talking to its upstreams) and the engines' bridges and veth pairs (a container's
        # traffic, which crosses the host's interface as well) would count the same bytes twice.
        nics = [
            c for name, c in psutil.net_io_counters(pernic=True).items() if not name.startswith(VIRTUAL_NICS)
        ]
        out["net_rx_bytes"] = float(sum(c.bytes_recv for c in nics))
        out["net_tx_bytes"] = float(sum(c.bytes_sent for c in nics))
    except (OSError, RuntimeError):
        pass
    try:
        out["load1"] = os.getloadavg()[0]
    except OSError:
        pass
    return out


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: ``ctx.services["sampler"]``, sampling in the background."""
    sampler = MetricsSampler(ctx, app.extensions.get("rivetr_metrics"))
    ctx.services["sampler"] = sampler
    sampler.start()
