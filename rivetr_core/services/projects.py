"""``ProjectService`` (``ctx.services.projects``): projects group apps.

* ``await projects.page(page) -> ([(Project, app_ids)], next)`` — creation order, each with its apps' ids.
* ``await projects.create(name, description, team_id=None)`` / ``update(project_id, fields)`` — ``Conflict`` on
  ``name`` when another project has it (the database's unique name decides, so a race cannot store a duplicate);
  ``team_id`` names the owning team (404 naming it when there is no such team or the request cannot see it),
  None: the team the request acts in, else the default team.
* ``await projects.get(project_id) -> (Project, app_ids)`` — ``NotFound`` when absent.
* ``await projects.delete(project_id)`` — ``Conflict`` (``project_not_empty``) while apps belong to it: apps
  are moved or deleted first, never orphaned silently.

:class:`ProjectOut` is a project as every face shows it; :func:`project_json` builds that JSON through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.visibility import acting_team
from rivetr_core.authz.visibility import current as current_visibility
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.apps import DEFAULT_TEAM_ID, App, Project

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

#: Fields ``update`` may change (a partial update: absent or null keeps the stored value).
UPDATABLE_FIELDS = ("name", "description", "team_id")


class ProjectOut(ApiModel):
    id: str
    name: str = Field(description="Unique among projects.")
    description: str
    team_id: str = Field(description="The team that owns the project.")
    app_ids: list[str] = Field(description="Ids of the project's apps, by app name.")
    created_at: str
    updated_at: str


def project_json(project: Project, app_ids: list[str]) -> dict[str, Any]:
    return ProjectOut.model_validate(
        {
            "id": project.id,
            "name": project.name,
            "description": project.description,
            "team_id": project.team_id,
            "app_ids": app_ids,
            "created_at": isoformat(project.created_at),
            "updated_at": isoformat(project.updated_at),
        }
    ).model_dump(mode="json")


async def _check_team(session: Any, team_id: str) -> None:
    """404 naming ``team_id`` for no such team, or one the request cannot see (the same answer: another team's
    existence is not disclosed). Raw SQL: projects never load the teams module (idle memory), and on SQLite no
    foreign key backs ``projects.team_id`` (see migration 0020_teams)."""
    visibility = current_visibility()
    visible = visibility is None or visibility.sees_team(team_id)
    found = (
        visible
        and (
            await session.exec(sa.text("SELECT 1 FROM teams WHERE id = :id"), params={"id": team_id})
        ).first()
    )
    if not found:
        raise NotFound.on("team_id", f"no team with id {team_id!r}")


def _name_taken(name: str) -> Conflict:
    return Conflict.on("name", "already taken", summary=f"a project named {name!r} already exists")


class ProjectService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def page(self, page: PageQuery) -> tuple[list[tuple[Project, list[str]]], str | None]:
        """One page of projects in creation order, each with the ids of its apps, and the next cursor."""
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            projects, next_cursor = await keyset_page(session, select(Project), Project, page)
            pairs = (
                await session.exec(
                    select(App.project_id, App.id)
                    .where(col(App.project_id).in_([p.id for p in projects]))
                    .order_by(col(App.name))
                )
            ).all()
        by_project: dict[str, list[str]] = {}
        for project_id, app_id in pairs:
            by_project.setdefault(project_id or "", []).append(app_id)
        return [(p, by_project.get(p.id, [])) for p in projects], next_cursor

    async def get(self, project_id: str) -> tuple[Project, list[str]]:
        async with self.ctx.db.session() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise NotFound.of("project", project_id)
        return project, await self._app_ids(project_id)

    async def create(self, name: str, description: str = "", team_id: str | None = None) -> Project:
        """``team_id`` None: the team the request acts in, else the default team."""
        project = Project(
            name=name, description=description, team_id=team_id or acting_team() or DEFAULT_TEAM_ID
        )
        try:
            async with self.ctx.db.session() as session:
                await _check_team(session, project.team_id)
                session.add(project)
                await session.commit()
        except IntegrityError:
            raise _name_taken(name) from None
        return project

    async def update(self, project_id: str, fields: Mapping[str, Any]) -> tuple[Project, list[str]]:
        """Change the given fields (unknown keys are ignored, null keeps the value)."""
        changes = {k: v for k, v in fields.items() if k in UPDATABLE_FIELDS and v is not None}
        try:
            async with self.ctx.db.session() as session:
                project = await session.get(Project, project_id)
                if project is None:
                    raise NotFound.of("project", project_id)
                if "team_id" in changes:
                    await _check_team(session, changes["team_id"])
                old_name = project.name
                for key, value in changes.items():
                    setattr(project, key, value)
                project.updated_at = utcnow()
                session.add(project)
                await session.commit()
        except IntegrityError:
            raise _name_taken(changes.get("name", "")) from None
        if changes.get("name", old_name) != old_name:
            from rivetr_core.autodomains import resync_project  # its apps' generated names follow (issue 22)

            await resync_project(self.ctx, project_id, old_name)
        return project, await self._app_ids(project_id)

    async def delete(self, project_id: str) -> None:
        # Its managed services and stacks live on the project's network: they go (or move) first. Raw SQL:
        # counting them must not load those features, and sees every team: the project is looked up first, so
        # another team's project is not found rather than named by its contents.
        async with self.ctx.db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound.of("project", project_id)
        for table, what in (("services", "service"), ("stacks", "stack")):
            async with self.ctx.db.session() as session:
                result = await session.exec(  # type: ignore[call-overload]
                    sa.text(f"SELECT name FROM {table} WHERE project_id = :id ORDER BY name"),
                    params={"id": project_id},
                )
                names = [row[0] for row in result.all()]
            if names:
                raise Conflict(
                    f"the project still has {len(names)} {what}(s) ({', '.join(names)}); delete them first",
                    code="project_not_empty",
                    details={f"{what}s": names},
                )
        await self.ctx.services.apps.delete_unless_used(
            Project,
            project_id,
            "project",
            App.project_id,
            lambda project, count: (
                f"project {project.name!r} still has {count} app(s); move or delete them first",
                "project_not_empty",
            ),
        )
        runtime = self.ctx.runtime_if_ready()
        if runtime is not None:  # its (empty) private network goes too
            from rivetr_core.projectnet import release_project_network

            await release_project_network(self.ctx.db, runtime, project_id)

    async def network(self, project_id: str | None) -> dict[str, Any]:
        """Who is on a project's private network (``None``: resources without a project) and under which names:
        apps and managed services by their name, stack services as ``<stack>-<service>`` (the services of each
        stack's live deployment). Raw SQL for services and stacks: an idle page never loads those features."""
        from rivetr_core.projectnet import project_network_name
        from rivetr_core.stacks.naming import project_alias  # a names-only module: the feature stays unloaded

        members: list[dict[str, Any]] = []
        where = "project_id IS NULL" if project_id is None else "project_id = :id"
        async with self.ctx.db.session() as session:
            if project_id is not None and await session.get(Project, project_id) is None:
                raise NotFound.of("project", project_id)
            apps = (await session.exec(select(App.id, App.name).where(App.project_id == project_id))).all()
            services = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text(f"SELECT id, name FROM services WHERE {where} ORDER BY name"),
                    params={"id": project_id},
                )
            ).all()
            stacks = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text(
                        "SELECT s.id, s.name, d.services FROM stacks s JOIN stack_deployments d "
                        f"ON d.id = s.current_deployment_id WHERE s.{where} ORDER BY s.name"
                    ),
                    params={"id": project_id},
                )
            ).all()
        for app_id, name in sorted(apps, key=lambda a: a[1]):
            members.append({"kind": "app", "id": app_id, "name": name, "internal_names": [name]})
        for service_id, name in services:
            members.append({"kind": "service", "id": service_id, "name": name, "internal_names": [name]})
        for stack_id, stack, recorded in stacks:
            ran = json.loads(recorded) if isinstance(recorded, str) else (recorded or {})
            for service in sorted(ran):
                members.append(
                    {
                        "kind": "stack_service",
                        "id": stack_id,
                        "name": f"{stack}/{service}",
                        "internal_names": [project_alias(stack, service)],
                    }
                )
        return {"project_id": project_id, "network": project_network_name(project_id), "members": members}

    async def _app_ids(self, project_id: str) -> list[str]:
        async with self.ctx.db.session() as session:
            rows = await session.exec(
                select(App.id).where(App.project_id == project_id).order_by(col(App.name))
            )
            return list(rows.all())
