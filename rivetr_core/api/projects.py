"""``/api/projects``: group apps. A project with apps cannot be deleted (move or delete the apps first)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.context import rivetr
from rivetr_core.db import isoformat, utcnow
from rivetr_core.errors import ApiError, not_found
from rivetr_core.models.apps import App, Project
from rivetr_core.pagination import PageQuery, envelope, keyset_page, page_model

from .apps import delete_unless_apps_use
from .appschema import ProjectIn, ProjectUpdate

bp = Blueprint("projects_api", __name__, url_prefix="/api/projects")


def project_json(project: Project, app_ids: list[str]) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "app_ids": app_ids,
        "created_at": isoformat(project.created_at),
        "updated_at": isoformat(project.updated_at),
    }


def _name_taken(name: str) -> ApiError:
    return ApiError(
        409,
        f"name: a project named {name!r} already exists",
        details=[{"field": "name", "message": "already taken"}],
    )


async def _app_ids(project_id: str) -> list[str]:
    async with rivetr().db.session() as session:
        return list(
            (
                await session.exec(select(App.id).where(App.project_id == project_id).order_by(col(App.name)))
            ).all()
        )


@bp.get("")
@tag(["projects"])
@validate_querystring(PageQuery)
@document_response(page_model(dict[str, Any], "ProjectPage"))
async def list_projects(query_args: PageQuery) -> dict[str, Any]:
    """Projects in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``), each with the ids of its apps."""
    async with rivetr().db.session() as session:
        projects, next_cursor = await keyset_page(session, select(Project), Project, query_args)
        pairs = (
            await session.exec(
                select(App.project_id, App.id).where(col(App.project_id).in_([p.id for p in projects]))
            )
        ).all()
    by_project: dict[str, list[str]] = {}
    for project_id, app_id in pairs:
        by_project.setdefault(project_id or "", []).append(app_id)
    return envelope([project_json(p, by_project.get(p.id, [])) for p in projects], next_cursor)


@bp.post("")
@tag(["projects"])
@validate_request(ProjectIn)
async def create_project(data: ProjectIn) -> tuple[dict[str, Any], int]:
    project = Project(name=data.name, description=data.description)
    try:
        async with rivetr().db.session() as session:
            session.add(project)
            await session.commit()
    except IntegrityError:
        raise _name_taken(data.name) from None
    return project_json(project, []), 201


@bp.get("/<project_id>")
@tag(["projects"])
async def get_project(project_id: str) -> dict[str, Any]:
    async with rivetr().db.session() as session:
        project = await session.get(Project, project_id)
    if project is None:
        raise not_found("project", project_id)
    return project_json(project, await _app_ids(project_id))


@bp.put("/<project_id>")
@tag(["projects"])
@validate_request(ProjectUpdate)
async def update_project(project_id: str, data: ProjectUpdate) -> dict[str, Any]:
    try:
        async with rivetr().db.session() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise not_found("project", project_id)
            if data.name is not None:
                project.name = data.name
            if data.description is not None:
                project.description = data.description
            project.updated_at = utcnow()
            session.add(project)
            await session.commit()
    except IntegrityError:
        raise _name_taken(data.name or "") from None
    return project_json(project, await _app_ids(project_id))


@bp.delete("/<project_id>")
@tag(["projects"])
async def delete_project(project_id: str) -> Response:
    """Refused with 409 while the project still has apps."""
    return await delete_unless_apps_use(
        Project,
        project_id,
        "project",
        App.project_id,
        lambda project, count: (
            f"project {project.name!r} still has {count} app(s); move or delete them first",
            "project_not_empty",
        ),
    )
