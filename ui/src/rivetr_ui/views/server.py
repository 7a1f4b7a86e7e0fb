"""``/server``: the server itself. Host metrics history (CPU, memory, disk, network) over a chosen window, the
engine, proxy and database status, disk usage per app, service and stack, the cleanup (its settings, Run cleanup
now and the last report) and the installed plugins with their state.

Everything shown is what the API answers (``GET /api/system/status``, ``/api/system/metrics``,
``/api/system/disk-usage``, ``/api/system/cleanup``, ``/api/plugins``), read through the same service
(``ctx.services.system``); the graphs fetch the metrics API from the browser (js/server.js), the disk usage is a
partial loaded after the page (it asks the engine, which may take a moment with big volumes), and Run cleanup
now is ``POST /api/system/cleanup`` from the browser, so its refusal (403 for a team member) is the API's.
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


async def _allowed() -> None:
    principal = await page_principal()
    if not principal.allows("read"):  # what GET /api/system/* needs (authz/routes.py)
        abort(403, "The server page is shown to members of a team and to the server's owners and admins.")


def cleanup_context() -> dict[str, Any]:
    """The cleanup panel's data: the last report (None before the first run) and the ``[cleanup]`` settings."""
    system = ctx().services.system
    return {"report": system.last_cleanup(), "cleanup_settings": system.cleanup_settings()}


@bp.get("/server")
async def server() -> tuple[str, int]:
    await _allowed()
    return await render(
        "server.html",
        nav="server",
        server_status=await ctx().services.system.status(),
        windows=WINDOWS,
        plugins=ctx().plugins.plugin_infos(),
        sample_interval=ctx().config.metrics.sample_interval,
        **cleanup_context(),
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
