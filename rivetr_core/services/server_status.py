"""The server's components at a glance (``GET /api/system/status``, the Server page, ``rivetr system status``):
the container engine, the proxy, the database with its size, and the plugins' states.

Engine and proxy come from the health check (:class:`~rivetr_core.services.health.HealthService`, shared and
cached), so asking here never probes more than ``/health`` does. A proxy backend's ``status()`` is free-form
(third-party backends answer what they have): only the documented keys are read, each checked for its type.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from rivetr_core import __version__

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sqlite_size(path: Path) -> int:
    """The database file with its write-ahead log (recent writes live there until a checkpoint)."""
    total = 0
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            total += file.stat().st_size
    return total


async def database_size(ctx: RivetrContext) -> tuple[str, int | None]:
    """``(backend, bytes)``: SQLite's files on disk, PostgreSQL's ``pg_database_size``; None when unknown."""
    db = ctx.db
    if db.sqlite_path is not None:
        return "sqlite", await asyncio.to_thread(_sqlite_size, db.sqlite_path)
    backend = db.engine.dialect.name
    if backend != "postgresql":
        return backend, None
    try:
        async with db.engine.connect() as conn:
            size = (await conn.execute(text("SELECT pg_database_size(current_database())"))).scalar()
        return backend, int(size) if size is not None else None
    except Exception:
        return backend, None


async def server_status(ctx: RivetrContext) -> dict[str, Any]:
    """``{"status", "version", "runtime", "proxy", "database", "plugins"}`` (see ``SystemStatusOut``)."""
    health = await ctx.services.health.check()
    details = health["details"]
    runtime, proxy = details["runtime"], details["proxy"]
    backend, size = await database_size(ctx)
    ports = [p for p in (_int(proxy.get("port")), _int(proxy.get("https_port"))) if p]
    plugins = [{"name": name, **state} for name, state in sorted(details["plugins"].items())]
    return {
        "status": health["status"],
        "version": __version__,
        "runtime": {
            "state": health["runtime"],
            "name": runtime.get("name") or ctx.config.runtime.runtime_type,
            "version": runtime.get("version"),
            "error": runtime.get("error"),
        },
        "proxy": {
            "state": health["proxy"],
            "host": proxy.get("host") if isinstance(proxy.get("host"), str) else None,
            "ports": ports,
            "routes": _int(proxy.get("routes")),
            "workers": _int(proxy.get("workers")),
            "workers_ready": _int(proxy.get("workers_ready")),
            "uptime": proxy.get("uptime") if isinstance(proxy.get("uptime"), (int, float)) else None,
            "error": proxy.get("error") if isinstance(proxy.get("error"), str) else None,
        },
        "database": {"state": health["database"], "backend": backend, "size_bytes": size},
        "plugins": plugins,
    }
