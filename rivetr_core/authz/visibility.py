"""Team isolation: which rows a request may see, enforced once, at the ORM, for every service.

The auth guard calls :func:`activate` with the request's principal; the principal's ``team_ids``,
``project_ids`` and ``app_ids`` (None: no restriction) become the request's :class:`Visibility`, held in a
ContextVar. :class:`VisibleSession` (the Database's session class) adds, to every ORM SELECT, UPDATE and DELETE
that touches a team-owned table, a ``with_loader_criteria`` keeping only the visible rows: projects by
``team_id``; apps, services and stacks through their project (no project: the default team's); everything of
an app (deployments and their logs, env vars, volumes, backups, restores, backup schedules and their scheduler
jobs, previews, git settings, links, metric samples, webhook deliveries) through its app; stack deployments
(and a stack's backups and schedules) through their stack. So another team's resource is simply not found (404, the usual body), and lists hold only
visible rows, without a check in each service.

Teams and their members are filtered by team too (a member sees their own team only), and audit entries by the
team they record. Not filtered, on purpose: server-level tables (proxy routes, certificates, registries, backup
destinations, notification channels, SSH keys and known hosts), accounts (their service decides), and the name
spaces every team shares (``app_domains``, ``stack_domains``: a domain taken by another team must still be a
409, never a second owner). Raw SQL (``sa.text``) is not filtered either: core uses it only for existence and
name checks and for loading nothing a request returns.

Where the ContextVar lives and dies: the guard sets it in the request's (or websocket's) own task, which ends
with the request; a streamed body still runs in it, under the same restriction. Work a request starts in the
background (``ctx.spawn``: the deploy pipeline, backups, service operations; plugin event hooks) runs in
:func:`background_context`, without restriction: it reads server-level rows the principal never sees.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlmodel.orm.session import Session

#: The team that owns apps, services and stacks created without a project (``models.apps.DEFAULT_TEAM_ID``;
#: repeated here so this module, loaded by the auth guard at start-up, imports no model).
DEFAULT_TEAM_ID = "default"


@dataclass(frozen=True, slots=True)
class Visibility:
    """What a request may see; each field None means no restriction of that kind. Empty: nothing."""

    team_ids: frozenset[str] | None = None
    project_ids: frozenset[str] | None = None
    app_ids: frozenset[str] | None = None
    #: The team the request acts in (where a new project goes); None: no single team.
    team_id: str | None = field(default=None, compare=False)

    @property
    def restricted(self) -> bool:
        return not (self.team_ids is None and self.project_ids is None and self.app_ids is None)

    def sees_team(self, team_id: str) -> bool:
        return self.team_ids is None or team_id in self.team_ids

    def criterion(self, entity: Any) -> Any | None:
        """The WHERE clause keeping the visible rows of the mapped class ``entity``, or None: not team-owned.
        Built once per restriction and table, then shared by every request with the same restriction: building
        the subqueries cost more than running them (a restriction's ids are bound values inside the clause)."""
        key = (entity.__tablename__, self)
        try:
            return _BUILT[key]
        except KeyError:
            build = _CRITERIA.get(key[0])
            if len(_BUILT) >= _BUILT_SIZE:
                _BUILT.clear()
            made = _BUILT[key] = build(self, entity) if build is not None else None
            return made


#: (table, restriction) → criterion; bounded (a restriction is a team, a token's app or project set).
_BUILT: dict[tuple[str, Visibility], Any] = {}
_BUILT_SIZE = 4096

_current: contextvars.ContextVar[Visibility | None] = contextvars.ContextVar(
    "rivetr_visibility", default=None
)


def current() -> Visibility | None:
    """The running request's visibility; None: unrestricted (server owners and admins, background work)."""
    return _current.get()


def acting_team() -> str | None:
    """The team the running request acts in, None when no single one (or outside a request)."""
    visibility = _current.get()
    return visibility.team_id if visibility is not None else None


def visibility_of(principal: Any) -> Visibility | None:
    """The principal's restrictions (authz.permissions.Principal's ``team_ids``, ``project_ids``, ``app_ids``),
    or None when it has none. ``getattr``: a principal without these fields sees everything."""
    found = Visibility(
        team_ids=_frozen(getattr(principal, "team_ids", None)),
        project_ids=_frozen(getattr(principal, "project_ids", None)),
        app_ids=_frozen(getattr(principal, "app_ids", None)),
        team_id=getattr(principal, "team_id", None),
    )
    return found if found.restricted or found.team_id is not None else None


def activate(principal: Any) -> None:
    """Restrict the current request (its task) to what ``principal`` may see. Called by the auth guard once the
    principal is known, for HTTP requests and WebSockets alike."""
    _current.set(visibility_of(principal))


@contextmanager
def restricted_to(visibility: Visibility | None) -> Iterator[None]:
    """Run a block under ``visibility`` (None: unrestricted), then restore the previous one."""
    token = _current.set(visibility)
    try:
        yield
    finally:
        _current.reset(token)


def visible_apps(app: Any) -> Any | None:
    """The current restriction as a clause on ``app``'s columns (``App`` or its table's ``.c``), for a list read
    with Core instead of the ORM (the app list's hot path); None when unrestricted."""
    visibility = _current.get()
    if visibility is None or not visibility.restricted:
        return None
    return _apps_clause(visibility, app)


def core_criteria(table: Any) -> list[Any]:
    """The current restriction for a Core query on ``table`` (a team-owned table, e.g. ``App.__table__``):
    ``[clause]`` to splat into ``.where(...)``, ``[]`` when unrestricted or not team-owned (the dashboard's
    read-models select columns with Core, which the session's criteria do not reach)."""
    visibility = _current.get()
    if visibility is None or not visibility.restricted or table.name not in _CRITERIA:
        return []
    return [_CRITERIA[table.name](visibility, table.c)]


def background_context() -> contextvars.Context:
    """A copy of the current context without restriction, for a task the request starts but does not own
    (``asyncio.create_task`` would otherwise copy the request's restriction into the pipeline)."""
    context = contextvars.copy_context()
    context.run(_current.set, None)
    return context


def _frozen(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


# ------------------------------------------------------------------------------------------------ criteria
# Plain table clauses, not the models: building a criterion must not import a feature's models (idle memory),
# and the ORM does not apply loader criteria to them, so a subquery is never filtered twice.
_projects = sa.table("projects", sa.column("id"), sa.column("team_id"))
_apps = sa.table("apps", sa.column("id"), sa.column("project_id"))
_services = sa.table("services", sa.column("id"), sa.column("project_id"))
_stacks = sa.table("stacks", sa.column("id"), sa.column("project_id"))
_deployments = sa.table("deployments", sa.column("id"), sa.column("app_id"))
_backups = sa.table(
    "backups", sa.column("id"), sa.column("app_id"), sa.column("service_id"), sa.column("stack_id")
)
_backup_schedules = sa.table(
    "backup_schedules", sa.column("id"), sa.column("app_id"), sa.column("service_id"), sa.column("stack_id")
)
_scheduled_jobs = sa.table("scheduled_jobs", sa.column("id"), sa.column("name"))
_stack_deployments = sa.table("stack_deployments", sa.column("id"), sa.column("stack_id"))
#: models.backups.schedule_job_name's prefix: a backup schedule's scheduler job is named after it.
_SCHEDULE_JOB_PREFIX = "backup-schedule:"


def _project_team_clause(v: Visibility) -> Any:
    conditions = []
    if v.team_ids is not None:
        conditions.append(_projects.c.team_id.in_(v.team_ids))
    if v.project_ids is not None:
        conditions.append(_projects.c.id.in_(v.project_ids))
    return sa.and_(sa.true(), *conditions)


def _in_visible_project(v: Visibility, project_id: Any) -> Any:
    """``project_id`` names a visible project; NULL (no project) counts as the default team's, invisible under
    a project restriction."""
    owned = project_id.in_(sa.select(_projects.c.id).where(_project_team_clause(v)))
    return sa.or_(owned, project_id.is_(None)) if _projectless_visible(v) else owned


def _projectless_visible(v: Visibility) -> bool:
    return v.project_ids is None and (v.team_ids is None or DEFAULT_TEAM_ID in v.team_ids)


def _apps_clause(v: Visibility, app: Any) -> Any:
    """The visible apps, on ``app``'s columns (the App entity, or ``_apps.c`` in a subquery)."""
    clause = _in_visible_project(v, app.project_id)
    if v.app_ids is not None:
        clause = sa.and_(clause, app.id.in_(v.app_ids))
    return clause


def _visible_ids(v: Visibility, table: Any) -> Any:
    """SELECT of the visible ids of apps, services or stacks. An app-restricted token sees no service or stack:
    they are not its apps."""
    if table is _apps:
        return sa.select(_apps.c.id).where(_apps_clause(v, _apps.c))
    if v.app_ids is not None:
        return sa.select(table.c.id).where(sa.false())
    return sa.select(table.c.id).where(_in_visible_project(v, table.c.project_id))


def _in_project_unless_app_restricted(v: Visibility, project_id: Any) -> Any:
    return sa.false() if v.app_ids is not None else _in_visible_project(v, project_id)


def _projects_criterion(v: Visibility, project: Any) -> Any:
    conditions = []
    if v.team_ids is not None:
        conditions.append(project.team_id.in_(v.team_ids))
    if v.project_ids is not None:
        conditions.append(project.id.in_(v.project_ids))
    if v.app_ids is not None:  # only the projects of the apps it may see
        conditions.append(project.id.in_(sa.select(_apps.c.project_id).where(_apps_clause(v, _apps.c))))
    return sa.and_(sa.true(), *conditions)


def _in_teams(v: Visibility, team_id: Any) -> Any:
    return team_id.in_(v.team_ids) if v.team_ids is not None else sa.true()


def _of_app(v: Visibility, row: Any) -> Any:
    return row.app_id.in_(_visible_ids(v, _apps))


def _of_app_or_service(v: Visibility, row: Any) -> Any:
    """Backups and backup schedules: of an app, a managed service or a stack (one of them is set)."""
    return sa.or_(
        row.app_id.in_(_visible_ids(v, _apps)),
        row.service_id.in_(_visible_ids(v, _services)),
        row.stack_id.in_(_visible_ids(v, _stacks)),
    )


def _schedule_job_names(v: Visibility) -> Any:
    """Scheduler jobs a team sees: those of its visible backup schedules (the server's own jobs, e.g. the state
    backup, belong to no team)."""
    return sa.select(sa.literal(_SCHEDULE_JOB_PREFIX) + _backup_schedules.c.id).where(
        _of_app_or_service(v, _backup_schedules.c)
    )


def _webhook_deliveries_clause(v: Visibility, delivery: Any) -> Any:
    """Deliveries that deployed one of the visible apps. ``app_ids`` is a small JSON list whose text form holds
    each id quoted: matched as text, which SQLite and PostgreSQL both do."""
    app_ids = sa.cast(delivery.app_ids, sa.String)
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(_apps)
        .where(_apps_clause(v, _apps.c), app_ids.contains(sa.literal('"') + _apps.c.id + sa.literal('"')))
    )


#: table → criterion builder ``(visibility, entity) -> clause``; the clause uses the entity's own columns, so the
#: ORM can adapt it to aliases and joins.
_CRITERIA: dict[str, Callable[[Visibility, Any], Any]] = {
    "projects": _projects_criterion,
    "apps": _apps_clause,
    "services": lambda v, e: _in_project_unless_app_restricted(v, e.project_id),
    "stacks": lambda v, e: _in_project_unless_app_restricted(v, e.project_id),
    "env_vars": _of_app,
    "deployments": _of_app,
    "deployment_logs": lambda v, e: e.deployment_id.in_(
        sa.select(_deployments.c.id).where(_deployments.c.app_id.in_(_visible_ids(v, _apps)))
    ),
    "volumes": _of_app,
    "git_app_settings": _of_app,
    "git_previews": _of_app,
    "service_links": _of_app,
    "metric_samples": lambda v, e: sa.or_(e.app_id.is_(None), _of_app(v, e)),
    "git_webhook_deliveries": _webhook_deliveries_clause,
    "backups": _of_app_or_service,
    "backup_restores": lambda v, e: e.backup_id.in_(
        sa.select(_backups.c.id).where(_of_app_or_service(v, _backups.c))
    ),
    "backup_schedules": _of_app_or_service,
    "scheduled_jobs": lambda v, e: e.name.in_(_schedule_job_names(v)),
    "job_runs": lambda v, e: e.job_id.in_(
        sa.select(_scheduled_jobs.c.id).where(_scheduled_jobs.c.name.in_(_schedule_job_names(v)))
    ),
    # Teams and their members: a member sees their own team, not the others (nor who is in them); the audit
    # log: a team's entries (what audit.teams records). With no team restriction, all of them.
    "teams": lambda v, e: _in_teams(v, e.id),
    "team_members": lambda v, e: _in_teams(v, e.team_id),
    "audit_log": lambda v, e: _in_teams(v, e.team_id),
    "stack_deployments": lambda v, e: e.stack_id.in_(_visible_ids(v, _stacks)),
    "stack_deployment_logs": lambda v, e: e.deployment_id.in_(
        sa.select(_stack_deployments.c.id).where(_stack_deployments.c.stack_id.in_(_visible_ids(v, _stacks)))
    ),
}

#: The team-owned tables (what :class:`VisibleSession` filters); tests and docs read it.
TEAM_OWNED_TABLES = frozenset(_CRITERIA)


# ------------------------------------------------------------------------------------------------- session
class VisibleSession(Session):
    """The Database's session class (``Database.sessionmaker``'s ``sync_session_class``): every ORM statement
    runs :func:`_only_visible` (event below). ``get`` of an object already in the identity map answers without
    SQL, so under a restriction it reloads team-owned rows (``populate_existing``): an object loaded before the
    restriction, or by a path that escaped it, cannot be handed out by key."""

    def get(self, entity: Any, ident: Any, *args: Any, **kwargs: Any) -> Any:
        visibility = _current.get()
        if (
            visibility is not None
            and visibility.restricted
            and not kwargs.get("populate_existing")
            and getattr(entity, "__tablename__", None) in TEAM_OWNED_TABLES
            and self.identity_key(entity, ident) in self.identity_map
        ):
            kwargs["populate_existing"] = True
        return super().get(entity, ident, *args, **kwargs)


#: Tables whose rows hang off a project; without one they are the default team's.
_PROJECT_CHILDREN = frozenset({"apps", "services", "stacks"})


@event.listens_for(VisibleSession, "before_flush")
def _no_invisible_orphans(session: Session, _context: Any, _instances: Any) -> None:
    """A request that cannot see the default team's resources may not make an app, service or stack without a
    project (or take one out of its project): it would belong to the default team and vanish from its own view
    at once. 422 naming ``project_id``."""
    visibility = _current.get()
    if visibility is None or not visibility.restricted or _projectless_visible(visibility):
        return
    for row in (*session.new, *session.dirty):
        if (
            getattr(row, "__tablename__", None) in _PROJECT_CHILDREN
            and getattr(row, "project_id", "") is None
        ):
            from rivetr_core.contract.errors import ValidationFailed

            raise ValidationFailed.on(
                "project_id",
                "required when acting in a team: give one of its projects (without a project it would belong"
                " to the default team, which this request cannot see)",
            )


@event.listens_for(VisibleSession, "do_orm_execute")
def _only_visible(state: ORMExecuteState) -> None:
    """Add the visibility's criterion for each team-owned entity of a SELECT, UPDATE or DELETE. Loads of one
    expired column of an object already loaded are left alone; relationship loads get it through
    ``propagate_to_loaders`` (with_loader_criteria's default)."""
    visibility = _current.get()
    if visibility is None or state.is_column_load or not visibility.restricted:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    options = []
    for mapper in state.all_mappers:
        criterion = visibility.criterion(mapper.class_)
        if criterion is not None:
            options.append(with_loader_criteria(mapper.class_, criterion, include_aliases=True))
    if options:
        state.statement = state.statement.options(*options)
