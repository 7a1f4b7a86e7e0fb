"""``/backups`` (destinations, backup schedules, every backup run) and an app's Backups panel
(``/apps/<id>/partials/backups``: consistency setting, "Back up now", the app's runs with Restore).

Pages read through the read-model (:mod:`rivetr_core.readmodels.backups`, over ``ctx().services.backups``: the
API's own JSON shapes); every change is a REST call from the
browser (``/api/backup-destinations``, ``/api/backup-schedules``, ``/api/apps/{id}/backups``,
``/api/backups/{id}/restore``, ``PUT /api/apps/{id}``), so the validation, the destination's test write and the
error messages are exactly the API's.
"""

from __future__ import annotations

from typing import Any

from quart import abort, url_for

from rivetr_core import readmodels
from rivetr_core.readmodels import AppSummary

from .. import queries
from ..blueprint import bp, ctx, render

#: Runs a page lists (the newest; the CLI and API page through the rest).
RUNS_SHOWN = 30
#: Destinations and schedules a page lists (a handful in practice; the API pages through more).
LISTED = 200


async def _destinations() -> list[dict[str, Any]]:
    return await readmodels.backup_destinations(ctx().services, limit=LISTED)


async def _runs(app_id: str | None = None) -> list[dict[str, Any]]:
    """The newest runs with their destination's name and their latest restore (a restore of a run still
    running keeps the list polling)."""
    names = {d["id"]: d["name"] for d in await _destinations()}
    runs = await readmodels.backup_runs(
        ctx().services, limit=RUNS_SHOWN, app_id=app_id, with_last_restore=True
    )
    return [
        {
            **run,
            "destination_name": names.get(run["destination_id"] or ""),
            "restore_running": bool(run["last_restore"] and run["last_restore"]["status"] == "running"),
        }
        for run in runs
    ]


async def _schedules_context() -> dict[str, Any]:
    destinations = await _destinations()
    names = {d["id"]: d["name"] for d in destinations}
    apps = await queries.list_apps(ctx())
    app_names = {a.id: a.name for a in apps}
    services: list[dict[str, Any]] = await ctx().services.managed.listing(limit=LISTED)
    service_names = {s["id"]: s["name"] for s in services}
    schedules = []
    for row in await readmodels.backup_schedules(ctx().services, limit=LISTED):
        row["destination_name"] = names.get(row["destination_id"], row["destination_id"])
        row["app_name"] = app_names.get(row.get("app_id") or "")
        row["service_name"] = service_names.get(row.get("service_id") or "")
        schedules.append(row)
    from rivetr_core.readmodels import managed_settings

    # The rows an app's rivetr.toml declares: the note instead of Pause and Delete (the API refuses them).
    managed = await managed_settings.managed_schedules(ctx().db, schedules)
    return {
        "schedules": schedules,
        "destinations": destinations,
        "apps": apps,
        "services": services,
        "managed_schedules": managed,
    }


@bp.get("/backups")
async def backups() -> tuple[str, int]:
    return await render(
        "backups.html",
        nav="backups",
        runs=await _runs(),
        **await _schedules_context(),
    )


@bp.get("/backups/partials/destinations")
async def backups_destinations() -> tuple[str, int]:
    return await render("partials/backup_destinations.html", destinations=await _destinations())


@bp.get("/backups/partials/schedules")
async def backups_schedules() -> tuple[str, int]:
    return await render("partials/backup_schedules.html", **await _schedules_context())


@bp.get("/backups/partials/state")
async def backups_state_now() -> tuple[str, int]:
    return await render("partials/backup_state_now.html", destinations=await _destinations())


@bp.get("/backups/partials/runs")
async def backups_runs() -> tuple[str, int]:
    return await render(
        "partials/backup_runs.html",
        runs=await _runs(),
        runs_url=url_for("ui.backups_runs"),
        runs_target="backup-runs",
    )


async def _app_or_404(app_id: str) -> AppSummary:
    app = await queries.get_app(ctx(), app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    return app


@bp.get("/apps/<app_id>/partials/backups")
async def app_backups(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render(
        "partials/app_backups.html",
        app=app,
        volumes=await ctx().services.volumes.listing(app.id),
        destinations=await _destinations(),
        runs=await _runs(app.id),
        other_runs=await _restorable_elsewhere(app.id),
    )


async def _restorable_elsewhere(app_id: str) -> list[dict[str, Any]]:
    """Other apps' succeeded volume backups (deleted apps' too): what can be restored into this app."""
    runs = await readmodels.backup_runs(ctx().services, limit=RUNS_SHOWN, status="succeeded")
    return [r for r in runs if r["what"] == "volumes" and r["app_id"] != app_id]


@bp.get("/apps/<app_id>/partials/backup-runs")
async def app_backup_runs(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render(
        "partials/backup_runs.html",
        app=app,
        runs=await _runs(app.id),
        runs_url=url_for("ui.app_backup_runs", app_id=app.id),
        runs_target="app-backup-runs",
    )
