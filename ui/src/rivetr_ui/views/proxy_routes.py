"""The Server page's Proxy routes panel (``/server/partials/proxy-routes``): every route with its upstreams as the
proxy sees them, in rotation, down by the active probes, or ejected by passive health until a time
(docs/proxy-health.md). It is ``GET /api/routes``'s answer, read through the same service, shown to those the API
shows it to (the ``server`` permission); the panel re-reads itself every few seconds while it is open, so an
ejection's end shows without a reload."""

from __future__ import annotations

from typing import Any

from quart import abort

from rivetr_core.pagination import MAX_LIMIT, PageQuery

from ..blueprint import bp, ctx, render
from ..roles import page_principal


def upstream_state(upstream: dict[str, Any]) -> tuple[str, str]:
    """(badge text, badge class) of one upstream of ``GET /api/routes``."""
    if upstream.get("ejected_until"):
        return "ejected", "warn"
    if upstream.get("healthy") is False:
        return "down", "bad"
    if upstream.get("healthy") is None:
        return "unknown", ""
    return "in rotation", "ok"


@bp.get("/server/partials/proxy-routes")
async def server_proxy_routes() -> tuple[str, int]:
    principal = await page_principal()
    if not principal.allows("server"):  # what GET /api/routes needs (authz/routes.py)
        abort(403, "The proxy's routes are shown to the server's owners and admins.")
    routes, more = await ctx().services.routes.page_json(PageQuery(limit=MAX_LIMIT))
    for route in routes:
        for up in route["upstreams"]:
            up["state"], up["badge"] = upstream_state(up)
        counts = [up.get("active_requests") for up in route["upstreams"]]
        route["in_flight"] = None if None in counts else sum(counts)  # None: the proxy did not answer
    return await render("partials/proxy_routes.html", routes=routes, more=more is not None, shown=MAX_LIMIT)
