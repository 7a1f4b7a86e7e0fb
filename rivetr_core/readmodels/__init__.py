"""Read-models: plain data objects for lists and pages, read straight from the tables (no ORM object per row).

Lists are what the dashboard, CLI polling and scripts hit most. Loading an ORM ``App`` per row (identity map,
instance state, pydantic private attributes) cost more than the query itself with a few hundred apps, so lists
select the columns they show with SQLAlchemy Core and build frozen dataclasses from the rows: one query for the
page of apps with their project's name and their domains.

Used by ``GET /api/apps`` (:func:`app_page_json`, which keeps serialised pages until the next commit) and the
dashboard, which reads core only through this package (and ``ctx.services`` for what changes state):

* here — :class:`AppSummary`: :func:`app_page` / :func:`app_page_json` (the API's list), :func:`list_apps` (the
  dashboard's tables), :func:`get_app` (one app by id or name, for its page);
* :mod:`.overview` — the dashboard's counts, projects (:class:`ProjectSummary`) and the audit feed;
* :mod:`.deployments` — :class:`DeploymentSummary`: an app's timeline, the activity feed, one deployment;
* :mod:`.appparts` — an app's environment variables (secret values masked), its PR previews, SSH keys and
  pinned host keys;
* :mod:`.backups` — backup destinations, runs (with their latest restore) and schedules, as the API shows them;
* :mod:`.pending` — what changed since an app's running version started (:func:`pending_changes`);
* :mod:`.schedules` — scheduled jobs;
* :mod:`.app_tasks` — an app's tasks with their runs, and its scheduled deployments (its Tasks tab);
* :mod:`.stack_backups` — a stack's named volumes and backup runs (its Backups panel);
* :mod:`.tags` — the tags in use with their counts (:func:`tag_counts`);
* :mod:`.managed` — managed services' parts of pages: an app's links, a service's backup runs, the services of a
  project or the palette (:func:`services_if_any`: nothing loaded while the table is empty);
* :func:`isoformat` and :func:`redact` — how the API writes a timestamp and a git URL, for pages that show the
  same values; :func:`usable_tags` — a page's ``?tag=`` filter as the lists take it.

Pages are read-only: nothing here writes. The app list keeps its hot path in this module (precompiled SQL, page
cache); the rest are plain queries or calls of a service's read methods.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, and_, bindparam, event, func, or_, select

from rivetr_core.authz.visibility import current as current_visibility
from rivetr_core.db import isoformat
from rivetr_core.engine.gitsource import redact
from rivetr_core.engine.limits import HostLimits, effective_limits
from rivetr_core.engine.selection import health_check_json
from rivetr_core.models.apps import App, AppDomain, Project
from rivetr_core.models.git import not_a_preview_app
from rivetr_core.pagination import decode_time_id_cursor, encode_cursor
from rivetr_core.tags import like_pattern, tag_clause, usable_tags

from .app_tasks import app_tasks
from .appparts import EnvVarView, SshKeySummary, app_domains, env_vars, known_hosts, previews, ssh_keys
from .backups import backup_destinations, backup_runs, backup_schedules
from .deployments import DeploymentSummary, get_deployment, recent_deployments
from .managed import app_links, service_backup_runs, services_if_any
from .overview import (
    DashboardCounts,
    ProjectSummary,
    dashboard_counts,
    get_project,
    list_projects,
    project_names,
    recent_audit,
)
from .pending import PendingChanges, pending_changes
from .schedules import list_schedules, schedule_json
from .stack_backups import stack_backup_runs, stack_volumes
from .tags import tag_counts

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
    deploy_strategy: str
    backup_consistency: str
    pre_backup_command: str | None
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
            "port": self.port
            or None,  # 0: not chosen yet, as GET /api/apps/{id} says (engine.ports.PORT_DETECT)
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
            "deploy_strategy": self.deploy_strategy,
            "backup_consistency": self.backup_consistency,
            "pre_backup_command": self.pre_backup_command,
            "status": self.status,
            "current_deployment_id": self.current_deployment_id,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            **self.extra,
        }

    @property
    def tags(self) -> list[str]:
        """The app's tags, sorted (a column added after this class: kept in ``extra``)."""
        return list(self.extra.get("tags") or ())

    def limits(self, runtime: RuntimeConfig) -> HostLimits:
        """What the app's next container gets: its own limits, else ``[runtime]``'s defaults."""
        return effective_limits(self, runtime)  # type: ignore[arg-type]

    def shown_health_check(self) -> dict[str, Any]:
        """The app's health check as the API shows it (``{"kind": ..., options}``)."""
        return health_check_json(self)


_DERIVED = ("has_git_token", "project_name", "domains", "extra")
_APPS = App.__table__  # type: ignore[attr-defined]
_APP_COLUMNS = [_APPS.c[f.name] for f in fields(AppSummary) if f.name not in _DERIVED]
_EXTRA_COLUMNS = [
    c
    for c in _APPS.c
    if c.name not in {f.name for f in fields(AppSummary)} and not c.name.endswith("_enc")  # no secrets
]
_EXTRA_NAMES = [c.name for c in _EXTRA_COLUMNS]
_DOMAINS = AppDomain.__table__  # type: ignore[attr-defined]
_PROJECTS = Project.__table__  # type: ignore[attr-defined]


def _apps_select(
    *,
    environment: bool,
    project_id: bool,
    include_previews: bool,
    cursor: bool,
    paged: bool,
    one: bool = False,
    tags: int = 0,
) -> Any:
    """The list statement for one combination of filters; values are bound parameters (see :func:`_sql`)."""
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
        stmt = stmt.where(_APPS.c.environment == bindparam("environment"))
    if project_id:
        stmt = stmt.where(_APPS.c.project_id == bindparam("project_id"))
    for index in range(tags):  # each a LIKE on the stored JSON text (rivetr_core.tags.has_tags)
        stmt = stmt.where(tag_clause(_APPS.c.tags, bindparam(f"tag_{index}")))
    if one:  # an id or a name (links and the palette use either)
        stmt = stmt.where(or_(_APPS.c.id == bindparam("app"), _APPS.c.name == bindparam("app")))
    if cursor:  # keyset: rows after the cursor's (created_at, id)
        at: Any = bindparam("after_created_at")
        ident: Any = bindparam("after_id")
        stmt = stmt.where(or_(_APPS.c.created_at > at, and_(_APPS.c.created_at == at, _APPS.c.id > ident)))
    if paged:
        return stmt.order_by(_APPS.c.created_at, _APPS.c.id).limit(bindparam("limit", type_=Integer))
    return stmt.order_by(_APPS.c.name)


#: SQL text and parameter order per filter combination, compiled once per dialect. Lists run the text as it
#: is (``exec_driver_sql``): building, cache-keying and type-processing a Core statement on every request cost
#: several times the query itself; the few conversions the rows need are done in :func:`_summary`.
_SQL: dict[tuple[Any, ...], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def _sql(dialect: Any, **variant: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """SQL text, parameter names in order, and the values the statement fixes itself (its literals)."""
    key = (dialect.name, *sorted(variant.items()))
    if key not in _SQL:
        compiled = _apps_select(**variant).compile(dialect=dialect)
        _SQL[key] = (str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))
    return _SQL[key]


_FIXED = len(_APP_COLUMNS) + 2  # the dataclass's columns, has_git_token, project_name
_PROCESSORS: dict[str, list[tuple[int, Any]]] = {}


def _json_list(value: Any) -> Any:
    """A JSON list column as stored (``tags``): "[]" for most apps, so the common case skips the parser (and
    the type's wrappers around it: a list of 50 apps parsed a few microseconds per row more with tags)."""
    if value == "[]":
        return []
    return json.loads(value) if isinstance(value, str) else value


#: JSON list columns read with :func:`_json_list` instead of their type's processor.
_JSON_LISTS = frozenset({"tags"})


def _processors(dialect: Any) -> list[tuple[int, Any]]:
    """(row index, converter) for the columns whose stored form differs from the Python value (booleans,
    timestamps, JSON), as the column types define it; the rest pass through."""
    if dialect.name not in _PROCESSORS:
        columns = [*_APP_COLUMNS, _APPS.c.hsts, None, None, *_EXTRA_COLUMNS]  # has_git_token: a boolean
        if dialect.name != "sqlite":  # asyncpg hands over Python values (its codecs decode JSON too)
            columns = []
        found = []
        for index, column in enumerate(columns):
            impl = column.type.dialect_impl(dialect) if column is not None else None
            process = impl.result_processor(dialect, None) if impl is not None else None
            if process is not None and column.name in _JSON_LISTS:  # type: ignore[union-attr]
                process = _json_list
            if process is not None:
                found.append((index, process))
        _PROCESSORS[dialect.name] = found
    return _PROCESSORS[dialect.name]


def _summary(row: Any, processors: list[tuple[int, Any]]) -> AppSummary:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    domains = values[_FIXED]
    pairs = sorted(json.loads(domains) if isinstance(domains, str) else domains) if domains else ()
    return AppSummary(
        *values[:_FIXED],
        domains=tuple(domain for _position, domain in pairs),  # type: ignore[misc]
        extra=dict(zip(_EXTRA_NAMES, values[_FIXED + 1 :], strict=True)),
    )


def _visible_sql(
    dialect: Any, visibility: Any, **variant: Any
) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """:func:`_sql` for a team-restricted request: the visibility's clause (rivetr_core.authz.visibility) added
    with its ids as literals (ids, quoted by the dialect), so the text still runs as it is; kept per visibility."""
    key = (dialect.name, visibility, *sorted(variant.items()))
    if key not in _SQL:
        from sqlalchemy import text

        from rivetr_core.authz.visibility import visible_apps

        clause = visible_apps(_APPS.c)
        literal = (
            clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            if clause is not None
            else "1 = 1"
        )
        compiled = _apps_select(**variant).where(text(str(literal))).compile(dialect=dialect)
        if len(_SQL) >= 1024:  # one entry per team and filter combination: bounded anyway
            _SQL.clear()
        _SQL[key] = (str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))
    return _SQL[key]


def _tag_params(params: dict[str, Any], tags: Sequence[str] | None) -> int:
    """Bind the ``LIKE`` patterns of a tag filter into ``params``; how many there are (the SQL variant)."""
    for index, tag in enumerate(tags or ()):
        params[f"tag_{index}"] = like_pattern(tag)
    return len(tags or ())


async def _load(db: Database, params: dict[str, Any], **variant: Any) -> list[AppSummary]:
    visibility = current_visibility()
    async with db.engine.connect() as conn:
        dialect = conn.dialect
        if visibility is not None and visibility.restricted:
            sql, order, fixed = _visible_sql(dialect, visibility, **variant)
        else:
            sql, order, fixed = _sql(dialect, **variant)
        values = {**fixed, **params}
        rows = (await conn.exec_driver_sql(sql, tuple(values[name] for name in order))).all()
    processors = _processors(dialect)
    return [_summary(row, processors) for row in rows]


def _stored_time(value: datetime) -> str:
    """A timestamp as SQLAlchemy stores it in SQLite (compared as text by the keyset clause)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


async def app_page(
    db: Database,
    *,
    limit: int,
    cursor: str | None = None,
    environment: str | None = None,
    project_id: str | None = None,
    include_previews: bool = False,
    tags: Sequence[str] | None = None,
) -> tuple[list[AppSummary], str | None]:
    """One page of apps in creation order (keyset on ``created_at, id``) and the cursor of the next page
    (None on the last), only apps holding every one of ``tags`` (checked ones: rivetr_core.tags). A bad cursor
    raises the 422 of :mod:`rivetr_core.pagination`."""
    params: dict[str, Any] = {"limit": limit + 1}  # one more: is there a next page?
    if cursor:
        created, params["after_id"] = decode_time_id_cursor(cursor)
        # SQLite compares the stored text; PostgreSQL a real timestamp.
        params["after_created_at"] = _stored_time(created) if db.dialect == "sqlite" else created
    params["environment"], params["project_id"] = environment, project_id
    apps = await _load(
        db,
        params,
        environment=bool(environment),
        project_id=bool(project_id),
        include_previews=include_previews,
        cursor=bool(cursor),
        paged=True,
        tags=_tag_params(params, tags),
    )
    if len(apps) <= limit:
        return apps, None
    apps = apps[:limit]
    return apps, encode_cursor((apps[-1].created_at, apps[-1].id))


class _PageCache:
    """Serialised pages of the app list, valid until the next commit on this database.

    Every commit through the database's engine (any table: a status change, a new domain, a deleted project)
    empties it, so a client reads its own writes. A page read while a commit lands is not kept (the
    generation moved on), and entries older than :data:`PAGE_CACHE_SECONDS` are dropped anyway, which bounds
    how stale a write by another process (a restore, a second server on the same file) can leave a page."""

    def __init__(self, db: Database) -> None:
        self.generation = 0
        self.entries: dict[tuple[Any, ...], tuple[float, bytes]] = {}
        #: Pages being rendered: key → (generation, task), shared by the requests that arrive meanwhile.
        self.loading: dict[tuple[Any, ...], tuple[int, asyncio.Future[bytes]]] = {}
        # "commit" fires before the database has committed: a page read in between would still see the old
        # rows, so the connection is marked and the cache emptied again when it returns to the pool (after
        # the commit completed).
        event.listen(db.engine.sync_engine, "commit", self._committing)
        event.listen(db.engine.sync_engine, "checkin", self._checked_in)

    def invalidate(self) -> None:
        self.generation += 1
        self.entries.clear()

    def _committing(self, conn: Any) -> None:
        conn.info["rivetr_committed"] = True
        self.invalidate()

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("rivetr_committed", False):
            self.invalidate()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        found = self.entries.get(key)
        if found is None or time.monotonic() - found[0] > PAGE_CACHE_SECONDS:
            return None
        return found[1]

    def forget_loading(self, key: tuple[Any, ...], task: asyncio.Future[bytes]) -> None:
        if self.loading.get(key, (0, None))[1] is task:
            del self.loading[key]

    def put(self, key: tuple[Any, ...], generation: int, body: bytes) -> None:
        if generation != self.generation:
            return
        if len(self.entries) >= PAGE_CACHE_SIZE:
            self.entries.clear()
        self.entries[key] = (time.monotonic(), body)


PAGE_CACHE_SECONDS = 2.0
PAGE_CACHE_SIZE = 256
_CACHES: weakref.WeakKeyDictionary[Database, _PageCache] = weakref.WeakKeyDictionary()


async def app_page_json(
    db: Database,
    runtime: RuntimeConfig,
    *,
    limit: int,
    decorate: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
    **query: Any,
) -> bytes:
    """The ``{"items", "next"}`` JSON of :func:`app_page`, from the page cache when no commit happened since
    the same page was last served (lists are polled far more often than apps change). ``decorate`` adds what
    the API's app object holds beyond the read model (the same for every request of this server)."""
    cache = _CACHES.get(db)
    if cache is None:
        cache = _CACHES[db] = _PageCache(db)
    # A team-restricted request has pages of its own (the rendering below runs under its restriction).
    key = (limit, current_visibility(), *sorted(query.items()))
    body = cache.get(key)
    if body is not None:
        return body
    # One rendering per page and generation: when an entry expires under load, the clients asking for it at
    # that moment wait for one query instead of each running its own (a burst of identical queries is what
    # made the tail latency). A task of its own, so a client that goes away does not cancel the others' page.
    pending = cache.loading.get(key)
    task: asyncio.Future[bytes]
    if pending is None or pending[0] != cache.generation:
        generation = cache.generation

        async def render() -> bytes:
            apps, next_cursor = await app_page(db, limit=limit, **query)
            items = [a.as_json(runtime) for a in apps]
            if decorate is not None:
                items = [await decorate(item) for item in items]
            page = {"items": items, "next": next_cursor}
            rendered = json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode()
            cache.put(key, generation, rendered)
            return rendered

        task = asyncio.ensure_future(render())
        cache.loading[key] = (generation, task)
        task.add_done_callback(lambda done: cache.forget_loading(key, done))
    else:
        task = pending[1]
    return await asyncio.shield(task)


async def list_apps(
    db: Database,
    *,
    environment: str | None = None,
    project_id: str | None = None,
    tags: Sequence[str] | None = None,
) -> list[AppSummary]:
    """Every app (previews left out), by name, optionally only those holding all ``tags``: the dashboard's
    tables."""
    params: dict[str, Any] = {"environment": environment, "project_id": project_id}
    return await _load(
        db,
        params,
        environment=bool(environment),
        project_id=bool(project_id),
        include_previews=False,
        cursor=False,
        paged=False,
        tags=_tag_params(params, tags),
    )


async def get_app(db: Database, app_id_or_name: str) -> AppSummary | None:
    """One app (a preview app too) by id, else by name; None when neither matches."""
    found = await _load(
        db,
        {"app": app_id_or_name, "environment": None, "project_id": None},
        environment=False,
        project_id=False,
        include_previews=True,
        cursor=False,
        paged=False,
        one=True,
    )
    # An id wins over another app's name that happens to spell it (names and ids are both unique).
    return next((a for a in found if a.id == app_id_or_name), found[0] if found else None)


__all__ = [
    "AppSummary",
    "DashboardCounts",
    "DeploymentSummary",
    "EnvVarView",
    "PendingChanges",
    "ProjectSummary",
    "SshKeySummary",
    "app_domains",
    "app_links",
    "app_page",
    "app_page_json",
    "app_tasks",
    "backup_destinations",
    "backup_runs",
    "backup_schedules",
    "dashboard_counts",
    "env_vars",
    "get_app",
    "get_deployment",
    "get_project",
    "isoformat",
    "known_hosts",
    "list_apps",
    "list_projects",
    "list_schedules",
    "pending_changes",
    "previews",
    "project_names",
    "recent_audit",
    "recent_deployments",
    "redact",
    "schedule_json",
    "service_backup_runs",
    "services_if_any",
    "ssh_keys",
    "stack_backup_runs",
    "stack_volumes",
    "tag_counts",
    "usable_tags",
]
