"""Read-models: plain data objects for lists, read straight from the tables (no ORM object per row).

Lists are what the dashboard, CLI polling and scripts hit most. Loading an ORM ``App`` per row (identity map,
instance state, pydantic private attributes) cost more than the query itself with a few hundred apps, so lists
select the columns they show with SQLAlchemy Core and build frozen dataclasses from the rows: one query for the
page of apps with their project's name and their domains.

Used by ``GET /api/apps`` (:func:`app_page`) and the dashboard's app tables (:func:`list_apps`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from rivetr_core.db import isoformat
from rivetr_core.engine.gitsource import redact
from rivetr_core.engine.limits import effective_limits
from rivetr_core.engine.selection import health_check_json
from rivetr_core.models.apps import App, AppDomain, Project
from rivetr_core.models.git import not_a_preview_app
from rivetr_core.pagination import after, encode_cursor

if TYPE_CHECKING:
    from rivetr_core.config import RuntimeConfig
    from rivetr_core.db import Database


@dataclass(frozen=True, slots=True)
class AppSummary:
    """One app as lists show it. Field names match :class:`~rivetr_core.models.apps.App`'s columns (so the
    helpers that read an app, such as health_check_json and effective_limits, accept it), plus the derived
    ``has_git_token`` (never the token), ``project_name`` and ``domains``."""

    id: str
    name: str
    project_id: str | None
    environment: str
    git_url: str
    branch: str
    dockerfile: str
    build_context: str
    port: int
    healthcheck_path: str
    healthcheck_status: int | None
    healthcheck_timeout: float
    healthcheck_retries: int
    healthcheck_interval: float
    builder: str
    health_check: dict[str, Any]
    cpu_limit: float | None
    memory_limit: int | None
    pids_limit: int | None
    log_max_size: int | None
    log_max_files: int | None
    ssh_key_id: str | None
    git_token_user: str | None
    https_redirect: bool
    hsts: bool
    status: str
    current_deployment_id: str | None
    created_at: datetime
    updated_at: datetime
    has_git_token: bool
    project_name: str | None
    domains: tuple[str, ...]
    #: Columns of ``apps`` added after this class was written (never an encrypted one): lists show them too,
    #: so the list and ``GET /api/apps/{id}`` cannot drift apart.
    extra: dict[str, Any]

    def as_json(self, runtime: RuntimeConfig) -> dict[str, Any]:
        """The API's app object (the same as ``GET /api/apps/{id}`` answers)."""
        return {
            "id": self.id,
            "name": self.name,
            "project_id": self.project_id,
            "environment": self.environment,
            "git_url": redact(self.git_url),
            "branch": self.branch,
            "dockerfile": self.dockerfile,
            "build_context": self.build_context,
            "port": self.port,
            "domains": list(self.domains),
            "healthcheck_path": self.healthcheck_path,
            "healthcheck_status": self.healthcheck_status,
            "healthcheck_timeout": self.healthcheck_timeout,
            "healthcheck_retries": self.healthcheck_retries,
            "healthcheck_interval": self.healthcheck_interval,
            "builder": self.builder,
            "health_check": health_check_json(self),
            "cpu_limit": self.cpu_limit,
            "memory_limit": self.memory_limit,
            "pids_limit": self.pids_limit,
            "log_max_size": self.log_max_size,
            "log_max_files": self.log_max_files,
            "effective_limits": effective_limits(self, runtime).as_json(),  # type: ignore[arg-type]
            "ssh_key_id": self.ssh_key_id,
            "has_git_token": self.has_git_token,
            "git_token_user": self.git_token_user,
            "https_redirect": self.https_redirect,
            "hsts": self.hsts,
            "status": self.status,
            "current_deployment_id": self.current_deployment_id,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            **self.extra,
        }


_DERIVED = ("has_git_token", "project_name", "domains", "extra")
_APPS = App.__table__  # type: ignore[attr-defined]
_APP_COLUMNS = [_APPS.c[f.name] for f in fields(AppSummary) if f.name not in _DERIVED]
_EXTRA_COLUMNS = [
    c
    for c in _APPS.c
    if c.name not in {f.name for f in fields(AppSummary)} and not c.name.endswith("_enc")  # no secrets
]
_DOMAINS = AppDomain.__table__  # type: ignore[attr-defined]
_PROJECTS = Project.__table__  # type: ignore[attr-defined]


def _apps_select(*, environment: str | None, project_id: str | None, include_previews: bool) -> Any:
    # The domains come in the same statement, as a JSON array of [position, domain] pairs (SQLite before 3.44
    # cannot order inside an aggregate, so the pairs are sorted here): one round-trip to the database thread
    # per page instead of two.
    domains = (
        select(func.json_group_array(func.json_array(_DOMAINS.c.position, _DOMAINS.c.domain)))
        .where(_DOMAINS.c.app_id == _APPS.c.id)
        .scalar_subquery()
    )
    stmt = select(
        *_APP_COLUMNS,
        _APPS.c.git_token_enc.is_not(None).label("has_git_token"),
        _PROJECTS.c.name.label("project_name"),
        domains.label("domains"),
        *_EXTRA_COLUMNS,
    ).outerjoin(_PROJECTS, _PROJECTS.c.id == _APPS.c.project_id)
    if not include_previews:
        stmt = stmt.where(not_a_preview_app())
    if environment:
        stmt = stmt.where(_APPS.c.environment == environment)
    if project_id:
        stmt = stmt.where(_APPS.c.project_id == project_id)
    return stmt


_FIXED = len(_APP_COLUMNS) + 2  # the dataclass's columns, has_git_token, project_name


def _summary(row: Any) -> AppSummary:
    columns, domains, extra = row[:_FIXED], row[_FIXED], row[_FIXED + 1 :]
    pairs = sorted(json.loads(domains)) if domains else ()
    return AppSummary(
        *columns,
        domains=tuple(domain for _position, domain in pairs),  # type: ignore[misc]
        extra={c.name: v for c, v in zip(_EXTRA_COLUMNS, extra, strict=True)},
    )


async def _load(db: Database, stmt: Any) -> list[AppSummary]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [_summary(row) for row in rows]


async def app_page(
    db: Database,
    *,
    limit: int,
    cursor: str | None = None,
    environment: str | None = None,
    project_id: str | None = None,
    include_previews: bool = False,
) -> tuple[list[AppSummary], str | None]:
    """One page of apps in creation order (keyset on ``created_at, id``) and the cursor of the next page
    (None on the last). A bad cursor raises the 422 of :mod:`rivetr_core.pagination`."""
    stmt = _apps_select(environment=environment, project_id=project_id, include_previews=include_previews)
    if cursor:
        stmt = stmt.where(after(_APPS.c.created_at, _APPS.c.id, cursor))
    stmt = stmt.order_by(_APPS.c.created_at, _APPS.c.id).limit(limit + 1)  # one more: is there a next page?
    apps = await _load(db, stmt)
    if len(apps) <= limit:
        return apps, None
    apps = apps[:limit]
    return apps, encode_cursor((apps[-1].created_at, apps[-1].id))


async def list_apps(
    db: Database, *, environment: str | None = None, project_id: str | None = None
) -> list[AppSummary]:
    """Every app (previews left out), by name: the dashboard's tables."""
    stmt = _apps_select(environment=environment, project_id=project_id, include_previews=False)
    return await _load(db, stmt.order_by(_APPS.c.name))
