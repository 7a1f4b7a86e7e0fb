"""The Server page's Nodes panel (``/server/partials/nodes``): the nodes the runtime runs containers on, as
``GET /api/nodes`` answers (read through the same service), with Drain / Activate buttons and a labels form for a
swarm's nodes (``PUT /api/nodes/{id}`` from the browser, so a refusal is the API's). Shown to those the API shows
it to (the ``server`` permission)."""

from __future__ import annotations

from quart import abort

from rivetr_core.contract import RivetrError

from ..blueprint import bp, ctx, render
from ..roles import page_principal


@bp.get("/server/partials/nodes")
async def server_nodes() -> tuple[str, int]:
    principal = await page_principal()
    if not principal.allows("server"):  # what GET /api/nodes needs (authz/routes.py)
        abort(403, "The nodes are shown to the server's owners and admins.")
    try:
        runtime, cluster, nodes = await ctx().services.nodes.list()
    except RivetrError as exc:  # no engine: the panel says so instead of failing the page
        return await render("partials/nodes.html", error=exc.message, nodes=[], cluster=False, runtime="")
    return await render("partials/nodes.html", error=None, nodes=nodes, cluster=cluster, runtime=runtime)
