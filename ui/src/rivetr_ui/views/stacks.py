"""Compose stacks in the dashboard: ``/stacks`` (the list), ``/stacks/new`` (paste a compose file or name a
repository, with domains, variables and profiles, and check it with the API's validator), ``/stacks/<id>``
(status, Deploy / Rollback, the services with their live logs and terminals, the deployments with their build
log, settings, delete) and a project page's Network panel (``/projects/<id>/partials/network``).

Pages read through the stack service (``ctx.services.stacks``, via :mod:`..queries`); every change is a REST call
from the browser (``/api/stacks…``) with the session and CSRF header, so validation, field errors and side
effects are exactly the API's. The stack feature (YAML, the compose schema, the stack engine) loads with the first
of these pages that needs it, never at start-up, and a project page loads it only once a stack exists.
"""

from __future__ import annotations

from typing import Any

from quart import abort, request

from rivetr_core import readmodels
from rivetr_core.authz import SECRETS_REVEAL, TERMINAL
from rivetr_core.contract.errors import NotFound

from .. import queries
from ..blueprint import bp, ctx, is_htmx, render
from ..roles import page_principal

#: Lines of a service's log shown before following live, and deployments listed on a stack's page.
LOG_TAIL = 200
DEPLOYMENTS_SHOWN = 30
#: Deployment statuses a stack can be rolled back to (their images are kept).
ROLLBACK_TARGETS = ("running", "superseded")


async def _may_reveal() -> bool:
    """The API's rule: ``secrets.reveal`` in the acting team (owners and admins), for the page's session."""
    return (await page_principal()).allows(SECRETS_REVEAL)


async def _is_admin() -> bool:
    """Whether the stack services' terminal links are shown: the ``terminal`` permission, as the shell asks."""
    return (await page_principal()).allows(TERMINAL)


async def _stack_or_404(stack_id: str) -> dict[str, Any]:
    try:
        return await queries.stack_detail(ctx(), stack_id)
    except NotFound as exc:
        abort(404, exc.message)


async def _project_names() -> dict[str, str]:
    return {p.id: p.name for p in await queries.list_projects(ctx())}


@bp.get("/stacks")
async def stacks() -> tuple[str, int]:
    tags = readmodels.usable_tags(request.args.getlist("tag"))
    context: dict[str, Any] = {
        "stacks": await queries.stack_rows(ctx(), tags=tags),
        "project_names": await _project_names(),
        "tags": tags,
    }
    if is_htmx():
        return await render("partials/stacks_table.html", **context)
    return await render("stacks.html", nav="stacks", **context)


@bp.get("/stacks/new")
async def new_stack() -> tuple[str, int]:
    from quart import request

    return await render(
        "stack_new.html",
        nav="stacks",
        projects=await queries.list_projects(ctx()),
        project_id=request.args.get("project_id", ""),
        ssh_keys=await queries.ssh_keys(ctx()),
    )


async def _deployments(stack_id: str) -> list[Any]:
    return await queries.stack_deployments(ctx(), stack_id, limit=DEPLOYMENTS_SHOWN)


@bp.get("/stacks/<stack_id>")
async def stack_detail(stack_id: str) -> tuple[str, int]:
    stack = await _stack_or_404(stack_id)
    projects = await queries.list_projects(ctx())
    deployments = await _deployments(stack["id"])
    return await render(
        "stack.html",
        nav="stacks",
        stack=stack,
        project_name={p.id: p.name for p in projects}.get(stack["project_id"] or ""),
        projects=projects,
        deployments=deployments,
        latest=deployments[0] if deployments else None,
        rollback_targets=ROLLBACK_TARGETS,
        can_reveal=await _may_reveal(),
        is_admin=await _is_admin(),
        log_tail=LOG_TAIL,
        ssh_keys=await queries.ssh_keys(ctx()),
    )


@bp.get("/stacks/<stack_id>/partials/header")
async def stack_header(stack_id: str) -> tuple[str, int]:
    stack = await _stack_or_404(stack_id)
    deployments = await _deployments(stack["id"])
    return await render(
        "partials/stack_header.html",
        stack=stack,
        project_name=(await _project_names()).get(stack["project_id"] or ""),
        latest=deployments[0] if deployments else None,
        deployments=deployments,
        rollback_targets=ROLLBACK_TARGETS,
    )


@bp.get("/stacks/<stack_id>/partials/services")
async def stack_services(stack_id: str) -> tuple[str, int]:
    stack = await _stack_or_404(stack_id)
    return await render("partials/stack_services.html", stack=stack, is_admin=await _is_admin())


@bp.get("/stacks/<stack_id>/partials/deployments")
async def stack_deployments(stack_id: str) -> tuple[str, int]:
    stack = await _stack_or_404(stack_id)
    return await render(
        "partials/stack_deployments.html",
        stack=stack,
        deployments=await _deployments(stack["id"]),
        rollback_targets=ROLLBACK_TARGETS,
    )


@bp.get("/projects/<project_id>/partials/network")
async def project_network(project_id: str) -> tuple[str, int]:
    project = await queries.get_project(ctx(), project_id)
    if project is None:
        abort(404, f"Project {project_id!r} not found.")
    network = await queries.project_network(ctx(), project.id)
    return await render("partials/stack_network_panel.html", project=project, network=network)
