"""Managed services in the dashboard: ``/services`` (the list), ``/services/new`` (the template catalogue as cards
and the create form), ``/services/<id>`` (status, connection info, logs, actions, settings, linked apps,
backups, delete) and an app's Links panel (``/apps/<id>/partials/links``).

Pages read through the service layer (``ctx.services.managed``) and the read-model (an app's links,
a service's backup runs), in the API's own JSON shapes; every change is a REST call from the browser
(``/api/services…``, ``/api/apps/{id}/links…``, ``/api/backups/{id}/restore-service``) with the session and CSRF
header, so validation, field errors and side effects are exactly the API's. The feature's modules load with the
first of these pages, never at start-up: ``ctx.services`` builds the managed service on first read.
"""

from __future__ import annotations

from typing import Any

from quart import abort, request

from rivetr_core import readmodels
from rivetr_core.authz import SECRETS_REVEAL

from .. import queries
from ..blueprint import bp, ctx, is_htmx, render
from ..roles import page_principal

#: Services, links and runs a page lists (a handful in practice; the API pages through more).
LISTED = 200
RUNS_SHOWN = 30
#: Lines of a service's log the page shows before following live.
LOG_TAIL = 200


def _managed() -> Any:
    return ctx().services.managed


async def _may_reveal() -> bool:
    """The API's rule: ``secrets.reveal`` in the acting team (owners and admins), for the page's session."""
    return (await page_principal()).allows(SECRETS_REVEAL)


async def _templates(query: str | None = None, category: str | None = None) -> dict[str, Any]:
    """The catalogue as ``GET /api/templates`` answers it: {items, errors}."""
    result: dict[str, Any] = await _managed().templates_json(query=query, category=category)
    return result


async def _services(project_id: str | None = None, tags: list[str] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await _managed().listing(project_id=project_id, limit=LISTED, tags=tags)
    return items


async def _service_or_404(service_id: str) -> dict[str, Any]:
    found: dict[str, Any] | None = await _managed().find_json(service_id)
    if found is None:
        abort(404, f"Service {service_id!r} not found.")
    return found


def _project_names(projects: list[Any]) -> dict[str, str]:
    return {p.id: p.name for p in projects}


@bp.get("/services")
async def services() -> tuple[str, int]:
    projects = await queries.list_projects(ctx())
    tags = readmodels.usable_tags(request.args.getlist("tag"))
    context: dict[str, Any] = {
        "services": await _services(tags=tags),
        "project_names": _project_names(projects),
        "tags": tags,
    }
    if is_htmx():
        return await render("partials/services_table.html", **context)
    return await render("services.html", nav="services", **context)


@bp.get("/services/palette.json")
async def services_palette() -> dict[str, Any]:
    """The services the command palette offers (name, type, status), [] without loading the feature while
    none exists: the palette asks on every opening, where ``GET /api/services`` would load it."""
    items = await queries.services_if_any(ctx())
    keys = ("id", "name", "type", "version", "status", "tags")
    return {"items": [{k: s.get(k) for k in keys} for s in items]}


@bp.get("/services/new")
async def new_service() -> tuple[str, int]:
    catalogue = await _templates()
    return await render(
        "service_new.html",
        nav="services",
        templates=catalogue["items"],
        template_errors=catalogue.get("errors", []),
        categories=sorted({t["category"] for t in catalogue["items"]}),
        projects=await queries.list_projects(ctx()),
        project_id=request.args.get("project_id", ""),
        chosen=request.args.get("type", ""),
    )


async def _detail_context(service: dict[str, Any]) -> dict[str, Any]:
    catalogue = await _templates()
    entry = next((t for t in catalogue["items"] if t["name"] == service["type"]), None)
    return {
        "service": service,
        "entry": entry,
        "address": service.get("host_address"),
        "is_admin": await _may_reveal(),
        "server_host": request.host.rsplit(":", 1)[0] if request.host else "your-server",
    }


@bp.get("/services/<service_id>")
async def service_detail(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    projects = await queries.list_projects(ctx())
    return await render(
        "service.html",
        nav="services",
        project_name=_project_names(projects).get(service.get("project_id") or ""),
        log_tail=LOG_TAIL,
        **await _detail_context(service),
    )


@bp.get("/services/<service_id>/partials/header")
async def service_header(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    return await render("partials/service_header.html", **await _detail_context(service))


@bp.get("/services/<service_id>/partials/connection")
async def service_connection(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    return await render("partials/service_connection.html", **await _detail_context(service))


@bp.get("/services/<service_id>/partials/linked")
async def service_linked(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    return await render("partials/service_linked.html", service=service)


# ------------------------------------------------------------------------------------------------ backups
async def _destinations() -> list[dict[str, Any]]:
    return await readmodels.backup_destinations(ctx().services, limit=LISTED)


async def _service_runs(service_id: str) -> list[dict[str, Any]]:
    names = {d["id"]: d["name"] for d in await _destinations()}
    runs = await readmodels.service_backup_runs(ctx().services, service_id, limit=RUNS_SHOWN)
    return [{**r, "destination_name": names.get(r.get("destination_id") or "")} for r in runs]


@bp.get("/services/<service_id>/partials/backups")
async def service_backups(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    return await render(
        "partials/service_backups.html",
        service=service,
        destinations=await _destinations(),
        runs=await _service_runs(service["id"]),
        same_type=[s for s in await _services() if s["type"] == service["type"]],
    )


@bp.get("/services/<service_id>/partials/backup-runs")
async def service_backup_runs(service_id: str) -> tuple[str, int]:
    service = await _service_or_404(service_id)
    return await render(
        "partials/service_backup_runs.html",
        service=service,
        runs=await _service_runs(service["id"]),
        same_type=[s for s in await _services() if s["type"] == service["type"]],
    )


# ------------------------------------------------------------------------------------- an app's links
@bp.get("/apps/<app_id>/partials/links")
async def app_links(app_id: str) -> tuple[str, int]:
    app = await queries.get_app(ctx(), app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    links = await readmodels.app_links(ctx(), app.id)
    # Only services of the app's project can be linked (the API says 422 for the others): offer just those.
    candidates = [s for s in await _services() if s.get("project_id") == app.project_id]
    from rivetr_core.readmodels import managed_settings

    # The links the repository's rivetr.toml declares: their row says so instead of Remove.
    managed = await managed_settings.managed_by_file(ctx().db, app.id)
    return await render(
        "partials/app_links.html", app=app, links=links, candidates=candidates, managed=managed
    )
