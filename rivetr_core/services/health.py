"""``HealthService`` (``ctx.services.health``): is the control plane usable, component by component.

``await health.check()`` answers the database, the container runtime and the proxy, each as one word (``ok``,
``unavailable``, ``disabled``), the overall ``status`` (``ok`` or ``degraded``) and ``details`` (versions,
errors, plugin states) for callers allowed to see them. Probes and monitors may call it many times a second:
one check is shared by every caller for :data:`CACHE_SECONDS`, so a flood costs one check per window.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import RuntimeUnavailable

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

CACHE_SECONDS = 2.0
#: How long one component may take to answer: a hung engine or proxy must not hang /health with it.
PROBE_TIMEOUT = 3.0


def _state(info: dict[str, Any]) -> str:
    if info.get("enabled") is False and info["ok"]:
        return "disabled"
    return "ok" if info["ok"] else "unavailable"


class HealthService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self._pending: asyncio.Future[dict[str, Any]] | None = None
        self._started_at = 0.0

    async def runtime(self) -> dict[str, Any]:
        try:
            runtime = await self.ctx.runtime()
        except RuntimeUnavailable as exc:
            return {"ok": False, "error": str(exc)}
        try:
            info = await asyncio.wait_for(runtime.info(), PROBE_TIMEOUT)
            return {"name": info.name, "version": info.version, "ok": True}
        except Exception as exc:
            return {"name": runtime.name, "ok": False, "error": str(exc) or type(exc).__name__}

    async def proxy(self) -> dict[str, Any]:
        proxy = self.ctx.proxy
        if proxy is None:
            # Off by configuration is healthy; configured but not running is not.
            return {"ok": not self.ctx.config.proxy.enabled, "enabled": False}
        try:
            status = await asyncio.wait_for(proxy.status(), PROBE_TIMEOUT)
        except Exception as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
        return {"enabled": True, **status}

    async def _check(self) -> dict[str, Any]:
        db_ok, runtime, proxy = await asyncio.gather(self.ctx.db.ping(), self.runtime(), self.proxy())
        ok = db_ok and runtime["ok"] and proxy["ok"]
        return {
            "status": "ok" if ok else "degraded",
            "database": "ok" if db_ok else "unavailable",
            "runtime": _state(runtime),
            "proxy": _state(proxy),
            # A failed plugin leaves the server up (and status ok): its state and message are shown here.
            "details": {"runtime": runtime, "proxy": proxy, "plugins": self.ctx.plugins.states()},
        }

    async def check(self) -> dict[str, Any]:
        """The latest check, at most :data:`CACHE_SECONDS` old; concurrent callers await the same one."""
        loop = asyncio.get_running_loop()
        pending = self._pending
        stale = pending is not None and pending.done() and loop.time() - self._started_at > CACHE_SECONDS
        # A future of another event loop (a test that runs the app twice) cannot be awaited here.
        if pending is None or stale or pending.get_loop() is not loop:
            pending = asyncio.ensure_future(self._check())
            self._pending, self._started_at = pending, loop.time()
        # shield: a client hanging up must not cancel the check the other callers share
        return await asyncio.shield(pending)
