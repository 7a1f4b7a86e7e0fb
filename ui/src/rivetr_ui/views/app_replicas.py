"""The app page's replicas table with each replica's CPU and memory (issue 23; docs/scaling.md). The page renders
the table with the engine's states only and loads this after it: the engine's stats take about a second on
dockerd, which the whole page should not wait for."""

from __future__ import annotations

from quart import abort

from rivetr_core.readmodels import replicas

from .. import queries
from ..blueprint import bp, ctx, render


@bp.get("/apps/<app_id>/partials/replicas")
async def app_replicas_table(app_id: str) -> tuple[str, int]:
    c = ctx()
    app = await queries.get_app(c, app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    rows = await replicas.app_replicas(c, app.id, stats=True)
    return await render("partials/app_replica_table.html", app=app, replicas=rows, stats=True)
