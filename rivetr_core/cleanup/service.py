"""The cleanup task and the disk monitor.

The tables (``apps``, ``deployments``, ``deployment_logs``, …) are queried as SQLAlchemy Core tables of their
models; this module never imports the pipeline. Containers and images are matched by the labels the pipeline sets (``rivetr.instance``,
``rivetr.app``), so two Rivetr instances on one engine never touch each other's images, and other programs'
images (dangling ones included) are never touched. The engine's build cache, which has no labels and is shared,
is emptied only with ``[cleanup] prune_build_cache``.

The settings are the config file's ``[cleanup]`` with the overrides stored from the dashboard, API or CLI
(:mod:`.settings`): ``self.config`` is replaced on every change, and the scheduled loop recomputes its next run
from the new interval at once (no restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rivetr_core.contract import RivetrEvent
from rivetr_core.db.engine import isoformat, utcnow
from rivetr_core.models.apps import App, Deployment, DeploymentLog
from rivetr_core.models.core import Meta
from rivetr_core.models.ops import AuditEntry, NotificationDelivery

from .images import ACTIVE, DeployedImage, images_to_remove
from .settings import CleanupSettingsStore

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.cleanup")

LABEL_INSTANCE = "rivetr.instance"
LABEL_APP = "rivetr.app"
DISK_CHECK_INTERVAL = 60.0
#: The first scheduled run waits this long, so start-up recovery settles before anything is deleted.
STARTUP_DELAY = 60.0
#: A disk warning is repeated at most this often while the disk stays above the threshold.
WARNING_REPEAT = 3600.0

_apps: Any = App.__table__  # type: ignore[attr-defined]
_deployments: Any = Deployment.__table__  # type: ignore[attr-defined]
_deployment_logs: Any = DeploymentLog.__table__  # type: ignore[attr-defined]
_deliveries: Any = NotificationDelivery.__table__  # type: ignore[attr-defined]
_audit: Any = AuditEntry.__table__  # type: ignore[attr-defined]


class CleanupService:
    """``ctx.services["cleanup"]``. ``run_once()`` and ``check_disk()`` are public (tests, CLI, API)."""

    def __init__(self, ctx: RivetrContext, *, disk_usage: Callable[[], float] | None = None) -> None:
        self.ctx = ctx
        self.settings = CleanupSettingsStore(ctx)
        #: The effective settings (file + stored overrides); replaced whole on every change, never mutated.
        self.config = ctx.config.cleanup
        self.disk_usage = disk_usage or self._data_dir_usage
        self.last_report: dict[str, Any] | None = None
        self._last_warning = 0.0
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        # The scheduled loop's clock: the monotonic time it last started waiting from, None until it runs.
        self._waiting_since: float | None = None
        self._first_wait = True

    async def load_settings(self) -> None:
        await self.settings.load()
        self.config = self.settings.effective()

    def start(self) -> None:
        self.ctx.spawn(self._cleanup_forever(), "cleanup")
        self.ctx.spawn(self._disk_forever(), "disk-monitor")

    # -------------------------------------------------------------------------------------------- settings
    async def update_settings(self, fields: dict[str, Any]) -> None:
        """Store overrides (``None`` drops one); the next check and run use them, the schedule at once."""
        await self.settings.update(fields)
        self._apply_settings()

    async def reset_settings(self, field: str | None = None) -> bool:
        """Drop one override or all: the config file's values apply again. False when none was stored."""
        dropped = await self.settings.reset(field)
        self._apply_settings()
        return dropped

    def _apply_settings(self) -> None:
        self.config = self.settings.effective()
        self._changed.set()  # wakes the scheduled loop to recompute its next run from the new interval

    def settings_view(self) -> dict[str, Any]:
        """The effective settings, each one's source, the file's values and the next scheduled run."""
        return {**self.settings.view(), "next_run_at": self.next_run_at()}

    # ------------------------------------------------------------------------------------------- schedule
    def _due(self) -> float | None:
        if self._waiting_since is None:
            return None
        delay = STARTUP_DELAY if self._first_wait else self.config.interval_minutes * 60
        return self._waiting_since + delay

    def next_run_at(self) -> str | None:
        """When the scheduled run comes next (ISO 8601, UTC); None while the loop is not running."""
        due = self._due()
        if due is None:
            return None
        ahead = max(0.0, due - time.monotonic())
        return isoformat(utcnow() + timedelta(seconds=ahead))

    async def _wait_until_due(self) -> None:
        """Sleep until the next run is due, recomputing it whenever the settings change: a shorter interval
        set from the dashboard applies to the wait already under way."""
        while True:
            self._changed.clear()
            due = self._due()
            delay = 0.0 if due is None else due - time.monotonic()
            if delay <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), delay)
            except TimeoutError:
                return

    async def _cleanup_forever(self) -> None:
        self._waiting_since, self._first_wait = time.monotonic(), True
        while True:
            await self._wait_until_due()
            self._first_wait = False
            try:
                await self.run_once()
            except Exception:
                log.exception("cleanup run failed")
            self._waiting_since = time.monotonic()

    async def _disk_forever(self) -> None:
        while True:
            try:
                await self.check_disk()
            except Exception:
                log.exception("disk check failed")
            await asyncio.sleep(DISK_CHECK_INTERVAL)

    # ------------------------------------------------------------------------------------------------ disk
    def _data_dir_usage(self) -> float:
        import psutil

        return float(psutil.disk_usage(str(self.ctx.config.server.data_dir)).percent)

    async def check_disk(self) -> str:
        """``ok``, ``warning`` or ``critical``; emits ``disk_warning`` (rate-limited), prunes when critical."""
        percent = await asyncio.to_thread(self.disk_usage)
        if percent < self.config.disk_warning_percent:
            self._last_warning = 0.0
            return "ok"
        critical = percent >= self.config.disk_critical_percent
        level = "critical" if critical else "warning"
        now = time.monotonic()
        if critical or not self._last_warning or now - self._last_warning >= WARNING_REPEAT:
            self._last_warning = now
            threshold = self.config.disk_critical_percent if critical else self.config.disk_warning_percent
            action = "pruning Rivetr's images now" if critical else "cleanup will prune if it grows"
            log.warning("disk %.0f%% full (threshold %d%%): %s", percent, threshold, action)
            self.ctx.emit(
                RivetrEvent(
                    type="disk_warning",
                    level="failure" if critical else "warning",
                    message=f"Disk {percent:.0f}% full on {self.ctx.config.server.data_dir} "
                    f"(threshold {threshold}%): {action}",
                    data={"percent": round(percent, 1), "level": level, "threshold": threshold},
                )
            )
        if critical:
            await self.run_once(reason="disk_critical")
        return level

    # --------------------------------------------------------------------------------------------- cleanup
    async def run_once(self, *, reason: str = "scheduled") -> dict[str, Any]:
        """Remove old images (all apps), prune the dangling images this instance built (and the engine's
        build cache with ``[cleanup] prune_build_cache``), drop old build logs, notification deliveries and
        audit entries past their retention.

        The prune is skipped while a deployment runs (``report["prune_skipped"]`` says why); the next run
        prunes."""
        async with self._lock:
            started = time.perf_counter()
            report: dict[str, Any] = {
                "reason": reason,
                "images_removed": [],
                "pruned_images": 0,
                "space_reclaimed": 0,
                "build_logs_removed": 0,
                "prune_skipped": None,
                "errors": [],
            }
            runtime = await self._runtime(report)
            if runtime is not None:
                for app_id in await self._app_ids():
                    try:
                        report["images_removed"] += await self.prune_app_images(app_id, runtime=runtime)
                    except Exception as exc:
                        report["errors"].append(f"images of app {app_id}: {exc}")
                instance = await self.instance_id()
                if not instance:
                    pass  # nothing was ever built by this instance: nothing of ours to prune
                elif self._deploying():
                    # A prune deletes a running build's intermediate (dangling) images and fails it: skip,
                    # the next round prunes (the disk monitor calls again while critical).
                    report["prune_skipped"] = "a deployment is running; pruning next round"
                    log.info("cleanup (%s): prune skipped while a deployment runs", reason)
                else:
                    try:
                        # Only this instance's leftovers: every image a build makes carries the label.
                        pruned = await runtime.prune(
                            {LABEL_INSTANCE: instance}, build_cache=self.config.prune_build_cache
                        )
                        report["pruned_images"], report["space_reclaimed"] = (
                            pruned.images_deleted,
                            pruned.space_reclaimed,
                        )
                    except Exception as exc:
                        report["errors"].append(f"prune: {exc}")
            report["build_logs_removed"] = await self._remove_old_logs()
            report["seconds"] = round(time.perf_counter() - started, 3)
            self.last_report = report
            log.info(
                "cleanup (%s): %d images removed, %d pruned, %d bytes reclaimed, %d log lines removed",
                reason,
                len(report["images_removed"]),
                report["pruned_images"],
                report["space_reclaimed"],
                report["build_logs_removed"],
            )
            return report

    def _deploying(self) -> bool:
        deployments = self.ctx.services.get("deployments")
        return bool(deployments is not None and deployments.busy())

    async def _runtime(self, report: dict[str, Any]) -> Any:
        try:
            return await self.ctx.runtime()
        except Exception as exc:
            report["errors"].append(f"runtime: {exc}")
            return None

    async def instance_id(self) -> str | None:
        async with self.ctx.db.session() as session:
            row = await session.get(Meta, "instance_id")
        return row.value if row else None

    async def _app_ids(self) -> list[str]:
        async with self.ctx.db.engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.select(_apps.c.id))]

    async def prune_app_images(
        self, app_id: str, *, keep: int | None = None, runtime: Any = None
    ) -> list[str]:
        """Remove the app's images beyond the newest ``keep`` deployments' (default ``[cleanup] keep_images``);
        never one that a running container, the current or an in-flight deployment uses. Returns removed."""
        keep = keep or self.config.keep_images
        runtime = runtime or await self.ctx.runtime()
        instance = await self.instance_id()
        if not instance:
            return []  # nothing was ever deployed by this instance
        # The engine first, the database after: every image listed was tagged by a deployment whose row already
        # exists, so none is taken for an interrupted build's leftover.
        labels = {LABEL_INSTANCE: instance, LABEL_APP: app_id}
        app_images = await runtime.list_images(labels=labels)
        running = await runtime.list(labels=labels, all=False)
        in_use = {c.image for c in running if c.running}
        async with self.ctx.db.engine.connect() as conn:
            current = (
                await conn.execute(
                    sa.select(_deployments.c.image)
                    .select_from(_apps.join(_deployments, _apps.c.current_deployment_id == _deployments.c.id))
                    .where(_apps.c.id == app_id)
                )
            ).scalar()
            rows = (
                await conn.execute(
                    sa.select(
                        _deployments.c.id,
                        _deployments.c.image,
                        _deployments.c.status,
                        _deployments.c.created_at,
                    ).where(_deployments.c.app_id == app_id, _deployments.c.image.is_not(None))
                )
            ).all()
            in_flight = (
                await conn.execute(
                    sa.select(_deployments.c.id).where(
                        _deployments.c.app_id == app_id, _deployments.c.status.in_(ACTIVE)
                    )
                )
            ).scalars()
            flying = list(in_flight)
        deployments = [DeployedImage(r[0], r[1], r[2], r[3]) for r in rows]
        doomed = images_to_remove(
            app_images, deployments, keep=keep, current_image=current, in_use=in_use, in_flight=flying
        )
        removed = []
        for image in doomed:
            try:
                await runtime.remove_image(image, force=False)
                removed.append(image)
            except Exception as exc:  # in use by something we do not know about: leave it
                log.info("kept image %s: %s", image, exc)
        if removed:
            async with self.ctx.db.engine.begin() as conn:
                await conn.execute(
                    sa.update(_deployments)
                    .where(_deployments.c.app_id == app_id, _deployments.c.image.in_(removed))
                    .values(image_removed=True)
                )
        return removed

    async def _remove_old_logs(self) -> int:
        cutoff = utcnow() - timedelta(days=self.config.build_log_retention_days)
        removed = 0
        async with self.ctx.db.engine.begin() as conn:
            old = sa.select(_deployments.c.id).where(
                _deployments.c.finished_at.is_not(None), _deployments.c.finished_at < cutoff
            )
            result = await conn.execute(
                sa.delete(_deployment_logs).where(_deployment_logs.c.deployment_id.in_(old))
            )
            removed = result.rowcount or 0
            await conn.execute(sa.delete(_deliveries).where(_deliveries.c.created_at < cutoff))
            audit_cutoff = utcnow() - timedelta(days=self.config.audit_retention_days)
            await conn.execute(sa.delete(_audit).where(_audit.c.ts < audit_cutoff))
        return removed


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: ``ctx.services["cleanup"]`` with the periodic cleanup and the disk monitor."""
    service = CleanupService(ctx)
    await service.load_settings()
    ctx.services["cleanup"] = service
    service.start()
