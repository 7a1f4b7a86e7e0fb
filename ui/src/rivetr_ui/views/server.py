"""``/server``: the server itself. Host metrics history (CPU, memory, disk, network) over a chosen window, the
engine, proxy and database status, disk usage per app, service and stack, the cleanup (its settings, Run cleanup
now and the last report) and the installed plugins with their state.

Everything shown is what the API answers (``GET /api/system/status``, ``/api/system/metrics``,
``/api/system/disk-usage``, ``/api/system/cleanup``, ``/api/plugins``), read through the same service
(``ctx.services.system``); the graphs fetch the metrics API from the browser (js/server.js), the disk usage is a
partial loaded after the page (it asks the engine, which may take a moment with big volumes), and Run cleanup
now is ``POST /api/system/cleanup`` from the browser, so its refusal (403 for a team member) is the API's.

The cleanup settings are a form for those who may change them (``server``), read-only inputs for the others: Save
is ``PUT /api/system/cleanup/settings`` from the browser (only the fields changed, or already stored, are sent, so
an untouched value keeps following the config file), "Use config file" a ``DELETE`` of one field or all; the
panel is then re-read as a partial (js/cleanup_settings.js shows the toast).
"""

from __future__ import annotations

from typing import Any

from quart import abort

from ..blueprint import bp, ctx, render
from ..roles import page_principal

#: The windows the graphs offer (``range`` of the metrics API): raw samples cover a week by default
#: (``[metrics] raw_retention_days``), hourly averages beyond.
WINDOWS = [("1h", "1 h"), ("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d")]
#: Where each owner kind's page is.
OWNER_PAGES = {"apps": "/apps/", "services": "/services/", "stacks": "/stacks/"}
#: The cleanup settings' form fields: (name, label, unit or ""); the API checks the ranges.
CLEANUP_FIELDS = [
    ("keep_images", "Images kept per app", ""),
    ("interval_minutes", "Run every", "minutes"),
    ("build_log_retention_days", "Build logs kept", "days"),
    ("audit_retention_days", "Audit entries kept", "days"),
    ("disk_warning_percent", "Disk warning at", "% full"),
    ("disk_critical_percent", "Prune at once at", "% full"),
]


async def _allowed() -> None:
    principal = await page_principal()
    if not principal.allows("read"):  # what GET /api/system/* needs (authz/routes.py)
        abort(403, "The server page is shown to members of a team and to the server's owners and admins.")


def cleanup_context() -> dict[str, Any]:
    """The cleanup panel's data: the last report (None before the first run) and the settings in effect."""
    system = ctx().services.system
    return {"report": system.last_cleanup(), "cleanup_settings": system.cleanup_settings()}


def cleanup_settings_context() -> dict[str, Any]:
    """The settings form's data: values, each one's source, the config file's values and the next run (as
    ``GET /api/system/cleanup/settings``); sources all ``config`` while the cleanup service is not running."""
    service = ctx().services.get("cleanup")
    if service is not None:
        view = service.settings_view()
    else:
        settings = ctx().services.system.cleanup_settings()
        view = {
            "settings": settings,
            "sources": dict.fromkeys(settings, "config"),
            "config": settings,
            "updated_at": None,
            "next_run_at": None,
        }
    return {
        "cleanup": view,
        "cleanup_fields": CLEANUP_FIELDS,
        "next_run_in": _minutes_until(view["next_run_at"]),
    }


def _minutes_until(iso: str | None) -> int | None:
    """Whole minutes (rounded up) until an API time; None without one."""
    if not iso:
        return None
    from datetime import UTC, datetime

    seconds = (datetime.fromisoformat(iso.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()
    return max(0, -int(-seconds // 60))


async def control_planes() -> list[dict[str, Any]] | None:
    """The control planes on the install's PostgreSQL (``GET /api/system/control-planes``'s items); None on
    SQLite, where the one process is the page's server."""
    plane = getattr(ctx().services.get("deployments"), "plane", None)
    return [p.as_dict() for p in await plane.list()] if plane is not None else None


@bp.get("/server")
async def server() -> tuple[str, int]:
    await _allowed()
    return await render(
        "server.html",
        nav="server",
        server_status=await ctx().services.system.status(),
        control_planes=await control_planes(),
        windows=WINDOWS,
        plugins=ctx().plugins.plugin_infos(),
        sample_interval=ctx().config.metrics.sample_interval,
        **cleanup_context(),
        **cleanup_settings_context(),
    )


@bp.get("/server/partials/disk-usage")
async def server_disk_usage() -> tuple[str, int]:
    await _allowed()
    usage = await ctx().services.system.disk_usage()
    rows = [
        {**row, "kind": kind[:-1], "href": OWNER_PAGES[kind] + row["id"]}
        for kind in ("apps", "services", "stacks")
        for row in usage[kind]
    ]
    rows.sort(key=lambda r: (-r["total_bytes"], r["name"]))
    return await render("partials/disk_usage.html", usage=usage, rows=rows)


@bp.get("/server/partials/cleanup")
async def server_cleanup() -> tuple[str, int]:
    await _allowed()
    return await render("partials/cleanup.html", **cleanup_context())


@bp.get("/server/partials/cleanup-settings")
async def server_cleanup_settings() -> tuple[str, int]:
    await _allowed()
    return await render("partials/cleanup_settings.html", **cleanup_settings_context())
