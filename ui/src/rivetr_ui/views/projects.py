"""``/projects``: project cards with their app counts; ``/projects/<id>``: the apps and managed services of one
project."""

from __future__ import annotations

from quart import abort

from .. import queries
from ..blueprint import bp, ctx, render


@bp.get("/projects")
async def projects() -> tuple[str, int]:
    return await render("projects.html", nav="projects", projects=await queries.list_projects(ctx()))


@bp.get("/projects/<project_id>")
async def project_detail(project_id: str) -> tuple[str, int]:
    project = await queries.get_project(ctx(), project_id)
    if project is None:
        abort(404, f"Project {project_id!r} not found.")
    apps = await queries.list_apps(ctx(), project_id=project.id)
    # Apps of other projects (or none) this user can see, for "Move an app into this project".
    movable = [a for a in await queries.list_apps(ctx()) if a.project_id != project.id]
    return await render(
        "project.html",
        nav="projects",
        project=project,
        apps=apps,
        movable=movable,
        services=await queries.services_if_any(ctx(), project_id=project.id),
    )
