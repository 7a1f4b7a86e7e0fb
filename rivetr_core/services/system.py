"""``SystemService`` (``ctx.services.system``): resource history for the dashboard graphs and the CLI, the
cleanup run on demand, the server's status and its disk usage per app.

The metrics read what the sampler stored (``[metrics] sample_interval``) and its last sample; they never call
the container engine. The cleanup is the ``cleanup`` service's (:mod:`rivetr_core.cleanup.service`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rivetr_core.contract.errors import NotFound
from rivetr_core.history.query import series
from rivetr_core.models.apps import App

from .errors import ServiceNotRunning

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


class SystemService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    def _last_apps(self) -> dict[str, dict[str, Any]]:
        sampler = self.ctx.services.get("sampler")
        return dict(sampler.last_apps) if sampler else {}

    async def app_metrics(self, app_id: str, span: timedelta, points: int) -> dict[str, Any]:
        """``{"app_id", "points", "latest"}``: the app's history averaged into at most ``points`` buckets of
        the last ``span``, and its last sample (without its name; None when no container of it ran)."""
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
        history = await series(self.ctx.db, "app", app_id, span, points)
        latest = dict(self._last_apps().get(app_id) or {})
        latest.pop("name", None)
        return {"app_id": app_id, "points": history, "latest": latest or None}

    async def host_metrics(self, span: timedelta, points: int) -> dict[str, Any]:
        """``{"points", "latest", "apps"}``: the host's history, its last sample (None before the first) and
        the last sample of every app (with its name)."""
        sampler = self.ctx.services.get("sampler")
        return {
            "points": await series(self.ctx.db, "host", None, span, points),
            "latest": dict(sampler.last_host) if sampler and sampler.last_host else None,
            "apps": self._last_apps(),
        }

    async def status(self) -> dict[str, Any]:
        """Engine, proxy, database (with its size) and plugins: :mod:`rivetr_core.services.server_status`."""
        from .server_status import server_status

        return await server_status(self.ctx)

    async def disk_usage(self) -> dict[str, Any]:
        """Disk used per app, service and stack (images, volumes, build logs): :mod:`.disk_usage`."""
        from .disk_usage import disk_usage

        return await disk_usage(self.ctx)

    def cleanup_settings(self) -> dict[str, Any]:
        """What the cleanup runs with: ``[cleanup]`` with the overrides stored from the dashboard, API or CLI."""
        service = self.ctx.services.get("cleanup")
        config = service.config if service is not None else self.ctx.config.cleanup
        return config.model_dump()  # type: ignore[no-any-return]

    async def cleanup_now(self) -> dict[str, Any]:
        """Run the cleanup now and return its report; ``ServiceNotRunning`` when the cleanup is not started."""
        service = self.ctx.services.get("cleanup")
        if service is None:
            raise ServiceNotRunning("the cleanup service is not running")
        report: dict[str, Any] = await service.run_once(reason="api")
        return report

    def last_cleanup(self) -> dict[str, Any] | None:
        """The report of the last cleanup run; None before the first (or while the cleanup is not started)."""
        return getattr(self.ctx.services.get("cleanup"), "last_report", None)
