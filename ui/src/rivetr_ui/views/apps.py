"""``/apps`` (table, environment and ``?tag=`` filters), ``/apps/new`` (form), ``/apps/<id>`` (the app page: an
overview and a tab per part, ``/apps/<id>/deployments|logs|env|volumes|links|backups|previews|settings``) and its
htmx partials.

Pages read through :mod:`..queries`; every change (create, deploy, rollback, env vars, settings, delete) is
a REST call from the browser (``/api/apps…``, ``/api/deployments…``) with the session and CSRF header, so the
validation, field errors and side effects are exactly the API's.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from quart import abort, request

from rivetr_core import apppages, autodomains, readmodels
from rivetr_core.readmodels import AppSummary

from .. import queries
from ..blueprint import bp, ctx, is_htmx, render

KEPT_STATUSES = ("running", "replaced")


def _environment() -> str | None:
    env = request.args.get("environment") or None
    return env if env in queries.ENVIRONMENTS else None


@bp.get("/apps")
async def apps() -> tuple[str, int]:
    environment = _environment()
    tags = readmodels.usable_tags(request.args.getlist("tag"))
    items = await queries.list_apps(ctx(), environment=environment, tags=tags)
    if is_htmx():
        return await render("partials/apps_table.html", apps=items, environment=environment, tags=tags)
    return await render(
        "apps.html",
        nav="apps",
        apps=items,
        environment=environment,
        environments=queries.ENVIRONMENTS,
        tags=tags,
    )


@bp.get("/apps/new")
async def new_app() -> tuple[str, int]:
    c = ctx()
    builders, notes = queries.builder_choices(c)
    return await render(
        "app_new.html",
        nav="apps",
        projects=await queries.list_projects(c),
        ssh_keys=await queries.ssh_keys(c),
        environments=queries.ENVIRONMENTS,
        project_id=request.args.get("project_id", ""),
        allow_local=c.config.git.allow_local,
        builders=builders,
        builder_notes=notes,
    )


async def _app_or_404(app_id: str) -> AppSummary:
    app = await queries.get_app(ctx(), app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    return app


async def _deployments_context(app: AppSummary) -> dict[str, Any]:
    deployments = await queries.recent_deployments(ctx(), limit=30, app_id=app.id)
    return {
        "deployments": deployments,
        "latest": deployments[0] if deployments else None,
        "kept": KEPT_STATUSES,
    }


#: The app page's tabs, in the tab bar's order: (URL segment, label). The overview is ``/apps/<id>`` itself;
#: the rest are ``/apps/<id>/<segment>``, each a page of its own that queries only what it shows.
TABS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    ("deployments", "Deployments"),
    ("logs", "Logs"),
    ("env", "Environment"),
    ("volumes", "Volumes"),
    ("links", "Links"),
    ("backups", "Backups"),
    ("tasks", "Tasks"),
    ("previews", "Previews"),
    ("settings", "Settings"),
)
_TAB_NAMES = [name for name, _label in TABS if name != "overview"]


@bp.get("/apps/<app_id>")
async def app_detail(app_id: str) -> tuple[str, int]:
    return await _app_page(app_id, "overview")


@bp.get(f"/apps/<app_id>/<any({', '.join(_TAB_NAMES)}):tab>")
async def app_tab(app_id: str, tab: str) -> tuple[str, int]:
    return await _app_page(app_id, tab)


async def _app_page(app_id: str, tab: str) -> tuple[str, int]:
    c = ctx()
    app = await _app_or_404(app_id)
    page: dict[str, Any] = {
        "nav": "apps",
        "app": app,
        "tab": tab,
        "tabs": TABS,
        "domains": await queries.app_domains(c, app.id),
        "default_domain": await autodomains.app_view(c, app.id),
        "pending": await readmodels.pending_changes(c.db, app.id),
    }
    if tab in ("overview", "deployments"):
        page.update(await _deployments_context(app))
    if tab == "overview":
        from rivetr_core.readmodels import replicas  # loads the replicas code on the first app page only

        page["replicas"] = await replicas.app_replicas(c, app.id)
    elif tab == "env":
        page["env"] = await queries.env_vars(c, app.id)
        page["managed"] = await _managed_by_file(app.id)  # the file's env defaults: read-only rows
    elif tab == "volumes":
        page["volumes"] = await _volumes(app)
        page["managed"] = await _managed_by_file(app.id)  # the file's volumes: no Delete
    elif tab == "previews":
        page["previews"] = await _previews(app)
    elif tab == "settings":
        builders, notes = queries.builder_choices(c)
        page.update(
            projects=await queries.list_projects(c),
            environments=queries.ENVIRONMENTS,
            ssh_keys=await queries.ssh_keys(c),
            runtime_defaults=c.config.runtime,
            limits=app.limits(c.config.runtime),
            # What the settings form offers: only names installed here (the API refuses others anyway).
            builders=builders,
            builder_notes=notes,
            health_kinds=sorted(c.plugins.health_checks()),
            health=health_form(app),
            pages=await apppages.get(c, app.id),
            managed=await _managed_by_file(app.id),
        )
    return await render("app.html", **page)


async def _managed_by_file(app_id: str) -> Any:
    """What the repository's rivetr.toml manages (read-only in the form); loads the iac module on first use."""
    from rivetr_core.readmodels import managed_settings

    return await managed_settings.managed_by_file(ctx().db, app_id)


@bp.get("/apps/<app_id>/partials/pending")
async def app_pending(app_id: str) -> tuple[str, int]:
    """The "changes apply at the next deployment" banner, re-read after a change or a deployment."""
    app = await _app_or_404(app_id)
    return await render(
        "partials/app_pending.html", app=app, pending=await readmodels.pending_changes(ctx().db, app.id)
    )


async def _volumes(app: AppSummary) -> list[dict[str, Any]]:
    """The app's mounts as the API lists them (sizes included)."""
    listing: list[dict[str, Any]] = await ctx().services.volumes.listing(app.id)
    return listing


@bp.get("/apps/<app_id>/partials/volumes")
async def app_volumes(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render(
        "partials/volumes.html", app=app, volumes=await _volumes(app), managed=await _managed_by_file(app.id)
    )


def health_form(app: AppSummary) -> dict[str, Any]:
    """The app's health check as the settings form shows it: the kind, the command as typed (``sh -c``'s
    text, else the argv quoted) and a plugin check's own options as JSON."""
    check = app.shown_health_check()
    argv = check.get("command") or []
    own = {
        k: v
        for k, v in check.items()
        if k not in ("kind", "path", "status", "timeout", "retries", "interval")
    }
    return {
        "kind": check["kind"],
        "command": argv[2] if len(argv) == 3 and argv[:2] == ["sh", "-c"] else shlex.join(argv),
        "options": json.dumps(own, indent=1)
        if own and check["kind"] not in ("http", "tcp", "command")
        else "",
    }


async def _previews(app: AppSummary) -> list[dict[str, Any]]:
    return await readmodels.previews(ctx().services, app.id)


@bp.get("/apps/<app_id>/partials/previews")
async def app_previews(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render("partials/previews.html", app=app, previews=await _previews(app))


@bp.get("/apps/<app_id>/partials/deploy")
async def app_deploy_panel(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render("partials/deploy_panel.html", app=app, **await _deployments_context(app))


@bp.get("/apps/<app_id>/partials/deployments")
async def app_deployments(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render("partials/deployments.html", app=app, **await _deployments_context(app))


@bp.get("/apps/<app_id>/partials/env")
async def app_env(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render(
        "partials/env_vars.html",
        app=app,
        env=await queries.env_vars(ctx(), app.id),
        managed=await _managed_by_file(app.id),
    )


@bp.get("/apps/<app_id>/partials/limits")
async def app_limits(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render("partials/app_limits.html", limits=app.limits(ctx().config.runtime))


@bp.get("/apps/<app_id>/partials/header")
async def app_header(app_id: str) -> tuple[str, int]:
    app = await _app_or_404(app_id)
    return await render(
        "partials/app_header.html",
        app=app,
        domains=await queries.app_domains(ctx(), app.id),
        default_domain=await autodomains.app_view(ctx(), app.id),
        **await _deployments_context(app),
    )
