"""``/api/projects``: group apps. A project with apps cannot be deleted (move or delete the apps first).

Thin handlers over :class:`~rivetr_core.services.projects.ProjectService` (``ctx.services.projects``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.projects import ProjectOut, project_json

from .appschema import ProjectIn, ProjectUpdate

bp = Blueprint("projects_api", __name__, url_prefix="/api/projects")
ProjectPage = page_model(ProjectOut, "ProjectPage")


class ProjectCreate(ProjectIn):
    team_id: str | None = Field(
        None, max_length=32, description="Owning team (GET /api/teams); omitted: the default team."
    )


class ProjectChange(ProjectUpdate):
    team_id: str | None = Field(None, max_length=32, description="Move the project to another team.")


@bp.get("")
@tag(["projects"])
@validate_querystring(PageQuery)
@document_response(ProjectPage)
async def list_projects(query_args: PageQuery) -> dict[str, Any]:
    """Projects in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``), each with the ids of its apps."""
    rows, next_cursor = await rivetr().services.projects.page(query_args)
    return envelope([project_json(p, app_ids) for p, app_ids in rows], next_cursor)


@bp.post("")
@responds(404)
@tag(["projects"])
@validate_request(ProjectCreate)
@document_response(ProjectOut, 201)
async def create_project(data: ProjectCreate) -> tuple[dict[str, Any], int]:
    """Create a project owned by ``team_id`` (default: the default team); 409 when the name is taken, 404
    naming ``team_id`` for no such team."""
    project = await rivetr().services.projects.create(data.name, data.description, data.team_id)
    return project_json(project, []), 201


@bp.get("/<project_id>")
@tag(["projects"])
@document_response(ProjectOut)
async def get_project(project_id: str) -> dict[str, Any]:
    return project_json(*await rivetr().services.projects.get(project_id))


@bp.put("/<project_id>")
@tag(["projects"])
@validate_request(ProjectChange)
@document_response(ProjectOut)
async def update_project(project_id: str, data: ProjectChange) -> dict[str, Any]:
    """Change the name, description and/or owning team; omitted fields keep their value."""
    return project_json(*await rivetr().services.projects.update(project_id, data.model_dump()))


@bp.delete("/<project_id>")
@tag(["projects"])
async def delete_project(project_id: str) -> Response:
    """Refused with 409 while the project still has apps."""
    await rivetr().services.projects.delete(project_id)
    return Response(status=204)
