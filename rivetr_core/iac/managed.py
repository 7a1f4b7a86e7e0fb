"""Settings an app's repository manages: "managed by rivetr.toml at <commit>" (issue 24).

A setting is managed while the app's current deployment (the one serving, else its latest that served) applied
it from its file (``deployments.applied_config``, written by :mod:`rivetr_core.engine.repo_config`): the file's
top-level keys (``port``, ``health_check``, ``env``...) and, for ``env``/``build_env``, the names of the
variables it sets. A later deployment whose file drops a key hands the setting back: its recorded file no longer
has it. Secrets a file names (``secrets``) stay editable: their values live on the server only.

A change of a managed setting is refused (409 ``managed_by_file``, nothing applied) by the service function that
makes it (``AppService.update`` and its variables, ``import_env``, ``scale``, the volume, task, link, route
settings, git settings and backup schedule services), so no caller (the API, hence the dashboard, the CLI and
scripts, but also code in the process) drifts from the file until the next deployment silently undoes it. Those
functions take ``managed_ok=True`` from the file's own application (:mod:`rivetr_core.engine.repo_config`) and
from ``rivetr apply`` (:func:`rivetr_core.iac.apply.apply_project`, which refuses its whole plan first:
:func:`refuse_managed_plan`), through the :class:`~rivetr_core.iac.apply.Planner` both run. Each deployment that
changed settings through its file writes an audit entry (:func:`audit_applied`), the file at its commit as the
actor.

Loaded on first use (an app page, a change of an app or a variable, a deployment with a file): never at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rivetr_core.contract.errors import Conflict

if TYPE_CHECKING:
    from rivetr_core.db import Database

#: A file key → the API fields of ``PUT /api/apps/{id}`` it also decides (the legacy health-check fields say
#: what ``health_check`` says; a source names the git URL or the image).
ALIASES: dict[str, tuple[str, ...]] = {
    "health_check": (
        "healthcheck_path",
        "healthcheck_status",
        "healthcheck_timeout",
        "healthcheck_retries",
        "healthcheck_interval",
    ),
    "source": ("git_url",),
    "git_url": ("source",),
}
#: File keys whose tables name variables: those names are managed, not the whole environment.
ENV_TABLES = ("env", "build_env")
#: Deployment statuses that served the app (``replaced``: served until a later one took over).
SERVED = ("running", "replaced")
CODE = "managed_by_file"
#: A file's tables of named rows of the app → the row's model (module, class), loaded on use, and its word.
NAMED: dict[str, tuple[str, str, str]] = {
    "volumes": ("rivetr_core.models.volumes", "Volume", "volume"),
    "tasks": ("rivetr_core.models.tasks", "AppTask", "task"),
}


@dataclass(frozen=True)
class ManagedByFile:
    """What the current deployment's file manages."""

    path: str
    commit: str | None
    deployment_id: str
    keys: tuple[str, ...]  # the file's top-level keys, sorted
    env: tuple[str, ...]  # names of the variables its env/build_env tables set, sorted
    git: tuple[str, ...] = ()  # the keys of its git_settings table (PUT /api/apps/{id}/git-settings), sorted
    #: The names of the volumes and tasks it declares (``NAMED``) and of the services it links to
    #: (``links``): those rows are the file's.
    named: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Its ``route_settings``: route key → that route's table (the fields it sets; ``basic_auth`` with users by
    #: name). A route's password hashes stay the server's: see :func:`refuse_managed_route`.
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Its ``backups`` by (destination name, cron): changing either makes another schedule, so that pair is one.
    backups: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """``rivetr.toml at 1a2b3c4d5e6f`` (the commit's first 12 characters)."""
        return f"{self.path} at {self.commit[:12]}" if self.commit else self.path

    def json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "commit": self.commit,
            "deployment_id": self.deployment_id,
            "keys": list(self.keys),
            "env": list(self.env),
        }

    def fields(self) -> set[str]:
        """Every ``PUT /api/apps/{id}`` field the file decides."""
        out = set(self.keys)
        for key in self.keys:
            out.update(ALIASES.get(key, ()))
        return out


def from_applied(deployment_id: str, applied: dict[str, Any] | None) -> ManagedByFile | None:
    """The managed settings a deployment's ``applied_config`` records; None when it applied no file or an
    empty one."""
    if not applied:
        return None
    document = applied.get("file") or {}
    keys = tuple(sorted(document))
    if not keys:
        return None
    env = sorted({name for table in ENV_TABLES for name in (document.get(table) or {})})
    return ManagedByFile(
        path=str(applied.get("path") or "rivetr.toml"),
        commit=applied.get("commit"),
        deployment_id=deployment_id,
        keys=keys,
        env=tuple(env),
        git=tuple(sorted(document.get("git_settings") or {})),
        named={
            **{
                table: tuple(sorted(str(item.get("name")) for item in document.get(table) or ()))
                for table in NAMED
            },
            "links": tuple(sorted(str(item.get("service")) for item in document.get("links") or ())),
        },
        routes={
            _route_key(key): dict(table or {})
            for key, table in (document.get("route_settings") or {}).items()
        },
        backups=tuple(
            sorted(
                (str(item.get("destination")), str(item.get("cron")))
                for item in document.get("backups") or ()
            )
        ),
    )


def _route_key(key: str) -> str:
    """A file's route key as the routes API spells it (``Web.Example.com/v1/`` → ``web.example.com/v1``)."""
    from rivetr_core.routepaths import check_route_target

    try:
        return check_route_target(str(key))
    except ValueError:  # the file was validated when applied: keep what it said
        return str(key)


async def managed_by_file(db: Database, app_id: str) -> ManagedByFile | None:
    """What the app's current deployment (serving, else the latest that served) applied from its file."""
    from sqlmodel import col, select

    from rivetr_core.models.apps import App, Deployment

    async with db.session() as session:
        app = await session.get(App, app_id)
        if app is None:
            return None
        dep = await session.get(Deployment, app.current_deployment_id) if app.current_deployment_id else None
        if dep is None:
            query = (
                select(Deployment)
                .where(Deployment.app_id == app_id, col(Deployment.status).in_(SERVED))
                .order_by(col(Deployment.created_at).desc(), col(Deployment.id).desc())
                .limit(1)
            )
            dep = (await session.exec(query)).first()
    return from_applied(dep.id, dep.applied_config) if dep is not None else None


async def managed_json(db: Database, app_id: str) -> dict[str, Any] | None:
    """``managed_by_file`` of the app's API answer."""
    managed = await managed_by_file(db, app_id)
    return managed.json() if managed is not None else None


def refusal(managed: ManagedByFile, names: list[str], what: str) -> Conflict:
    """409 ``managed_by_file`` naming the settings, the file and its commit, and the two ways out."""
    them = "it" if len(names) == 1 else "them"
    listed = ", ".join(names)
    return Conflict(
        f"Managed by {managed.where}: {what} {listed}. Change {them} in the file and deploy, or remove "
        f"{them} from the file to edit {them} here",
        code=CODE,
        details={
            "keys": names,
            "path": managed.path,
            "commit": managed.commit,
            "deployment_id": managed.deployment_id,
        },
    )


async def refuse_managed_fields(db: Database, app_id: str, fields: Any) -> None:
    """Raise 409 when ``fields`` (a ``PUT /api/apps/{id}`` body's keys) holds one the file manages: the whole
    request is refused, so no unmanaged field of it is applied either."""
    managed = await managed_by_file(db, app_id)
    if managed is None:
        return
    hit = sorted(set(fields) & managed.fields())
    if hit:
        raise refusal(managed, hit, "setting" if len(hit) == 1 else "settings")


async def refuse_managed_env(db: Database, app_id: str, names: Any) -> None:
    """Raise 409 when a variable of ``names`` is one of the file's ``env``/``build_env`` defaults."""
    managed = await managed_by_file(db, app_id)
    if managed is None or not managed.env:
        return
    hit = sorted(set(names) & set(managed.env))
    if hit:
        raise refusal(managed, hit, "variable" if len(hit) == 1 else "variables")


async def refuse_managed_git(db: Database, app_id: str, fields: Any) -> None:
    """Raise 409 when ``fields`` (a ``PUT /api/apps/{id}/git-settings`` body's keys) holds one of the file's
    ``git_settings`` keys."""
    managed = await managed_by_file(db, app_id)
    if managed is None or not managed.git:
        return
    hit = sorted(set(fields) & set(managed.git))
    if hit:
        raise refusal(managed, hit, "git setting" if len(hit) == 1 else "git settings")


async def refuse_managed_row(db: Database, app_id: str, table: str, row_id: str) -> None:
    """Raise 409 when the app's row ``row_id`` of ``table`` (a volume, a task) is one the file declares by
    name (changing or deleting it through the API; the next deployment would put it back)."""
    import importlib

    managed = await managed_by_file(db, app_id)
    names = managed.named.get(table) if managed is not None else None
    if not names or managed is None:
        return
    module, cls, word = NAMED[table]
    model = getattr(importlib.import_module(module), cls)
    async with db.session() as session:
        row = await session.get(model, row_id)
    if row is not None and row.app_id == app_id and row.name in names:
        raise refusal(managed, [row.name], word)


async def refuse_managed_link(db: Database, app_id: str, link_id: str) -> None:
    """Raise 409 when the app's link ``link_id`` is to a service the file links to, by name (removing it
    through the API; the next deployment would link it again)."""
    from rivetr_core.models.services import ManagedService, ServiceLink

    managed = await managed_by_file(db, app_id)
    names = managed.named.get("links") if managed is not None else None
    if not names or managed is None:
        return
    async with db.session() as session:
        link = await session.get(ServiceLink, link_id)
        service = await session.get(ManagedService, link.service_id) if link is not None else None
    if link is not None and service is not None and link.app_id == app_id and service.name in names:
        raise refusal(managed, [service.name], "link to")


async def refuse_managed_route(db: Database, key: str, changes: dict[str, Any]) -> None:
    """Raise 409 when ``changes`` (a ``PUT /api/routes/settings/{key}`` body) changes a field the file of the app
    owning the route key ``key`` sets in its ``route_settings`` table for that key.

    Basic auth is the exception the file itself needs: it names users, their passwords are set here (never in a
    file), so a body that keeps the file's realm and gives only users the file names (a password for each, or a
    name alone to keep one) passes; turning auth off, another realm or another user is refused."""
    from rivetr_core.models.apps import AppDomain

    async with db.session() as session:
        owner = await session.get(AppDomain, key)
    managed = await managed_by_file(db, owner.app_id) if owner is not None else None
    table = managed.routes.get(key) if managed is not None else None
    if not table or managed is None:
        return
    hit = sorted(
        name for name in set(changes) & set(table) if not _passwords_only(table, name, changes[name])
    )
    if hit:
        raise refusal(managed, hit, f"route {key}: setting" if len(hit) == 1 else f"route {key}: settings")


def _passwords_only(table: dict[str, Any], name: str, value: Any) -> bool:
    """Whether ``value`` of the body's ``name`` only sets passwords of the basic auth the file declares."""
    if name != "basic_auth" or not isinstance(value, dict):
        return False
    declared = table.get("basic_auth") or {}
    users = {user.get("name") for user in value.get("users") or ()}
    return (
        value.get("realm", "Restricted") == declared.get("realm", "Restricted")
        and bool(users)
        and users <= set(declared.get("users") or ())
    )


async def managed_schedules(db: Database, schedules: list[dict[str, Any]]) -> dict[str, ManagedByFile]:
    """Schedule id → the file that declares it, of backup schedules in ``GET /api/backup-schedules``'s shape (an
    app's volumes whose destination name and cron are in its file's ``backups``): the Backups page's rows."""
    from sqlmodel import select

    from rivetr_core.models.backups import BackupDestination

    out: dict[str, ManagedByFile] = {}
    files: dict[str, ManagedByFile | None] = {}
    names: dict[str, str] | None = None
    for schedule in schedules:
        app_id = schedule.get("app_id")
        if not app_id or schedule.get("what") != "volumes":
            continue
        if app_id not in files:
            files[app_id] = await managed_by_file(db, app_id)
        managed = files[app_id]
        if managed is None or not managed.backups:
            continue
        if names is None:
            async with db.session() as session:
                names = dict((await session.exec(select(BackupDestination.id, BackupDestination.name))).all())
        destination = names.get(schedule["destination_id"], schedule["destination_id"])
        if (destination, schedule["cron"]) in managed.backups:
            out[schedule["id"]] = managed
    return out


async def refuse_managed_schedule(db: Database, schedule_id: str) -> None:
    """Raise 409 when the backup schedule ``schedule_id`` is one the file of its app declares (changing or
    deleting it through the API; the next deployment would put it back)."""
    from rivetr_core.models.backups import BackupDestination, BackupSchedule

    async with db.session() as session:
        row = await session.get(BackupSchedule, schedule_id)
        destination = await session.get(BackupDestination, row.destination_id) if row is not None else None
    if row is None:
        return  # the service answers 404
    fields = {"id": row.id, "app_id": row.app_id, "what": row.what, "destination_id": row.destination_id}
    managed = (await managed_schedules(db, [{**fields, "cron": row.cron}])).get(row.id)
    if managed is not None:
        name = destination.name if destination is not None else row.destination_id
        raise refusal(managed, [f"to {name} at {row.cron}"], "backup schedule")


def managed_changes(managed: ManagedByFile, app: str, changes: list[Any]) -> list[str]:
    """Of a project file's plan (:class:`rivetr_core.iac.apply.Change` rows, labelled ``app web``, ``app web:
    env KEY``...), what would change settings of app ``app`` that its repository's file manages: ``port``, ``env
    LOG_LEVEL``, ``volume uploads``, ``route web.example.com compression``, ``backup to nightly at 0 2 * * *``.
    What the plan leaves as it is (unchanged, not in the project file) is not a change."""
    fields = managed.fields()
    named = {
        "env": set(managed.env),
        "volume": set(managed.named.get("volumes", ())),
        "task": set(managed.named.get("tasks", ())),
        "link": set(managed.named.get("links", ())),
    }
    out: list[str] = []
    for change in changes:
        if change.action not in ("create", "update", "delete"):
            continue
        label: str = change.resource
        if label == f"app {app}":
            out += sorted(set(change.fields) & fields) if change.action == "update" else []
            continue
        head = f"app {app}: "
        if not label.startswith(head):
            continue
        kind, _, rest = label[len(head) :].partition(" ")
        if kind in named and rest in named[kind]:
            out.append(f"{kind} {rest}")
        elif kind == "route" and rest in managed.routes:
            table = managed.routes[rest]
            hit = [
                k
                for k in change.fields
                if k in table and not _passwords_only(table, k, change.fields[k]["new"])
            ]
            out += [f"route {rest} {k}" for k in sorted(hit)]
        elif kind == "git" and managed.git:
            out += [f"git setting {k}" for k in sorted(set(change.fields) & set(managed.git))]
        elif kind == "backup":
            where, _, cron = rest.removeprefix("to ").partition(" at ")
            if (where, cron) in managed.backups:
                out.append(f"backup {rest}")
    return out


async def refuse_managed_plan(db: Database, apps: dict[str, str], changes: list[Any]) -> None:
    """Raise 409 ``managed_by_file`` when a project file's plan changes what an app's repository file manages
    (``apps``: name → id of the apps that exist): ``rivetr apply`` is refused as the API calls it stands for
    would be, before anything is applied."""
    for name, app_id in sorted(apps.items()):
        managed = await managed_by_file(db, app_id)
        hit = managed_changes(managed, name, changes) if managed is not None else []
        if hit and managed is not None:
            raise refusal(managed, hit, f"app {name}:")


#: The audit entry of a deployment's file: its action, and how the audit log's route column names it.
AUDIT_ACTION = "deployments.repo_config"


async def audit_applied(
    db: Database, *, app_id: str, deployment_id: str, path: str, commit: str | None, lines: list[str]
) -> None:
    """One audit entry for a deployment whose file changed settings: the actor is the file at its commit,
    ``changes`` the deployment log's lines (``port 8000 -> 8080``; a secret is never a value there: files hold
    none, and a variable the file turns from secret to plain reads ``(secret) -> ...``)."""
    from rivetr_core.audit.recorder import AuditLog
    from rivetr_core.audit.teams import entry_team
    from rivetr_core.db.engine import utcnow

    if not lines:
        return
    where = f"{path} at {commit[:12]}" if commit else path
    await AuditLog(db).record(
        ts=utcnow(),
        actor=where[:200],
        action=AUDIT_ACTION,
        method="DEPLOY",
        route=path[:300],
        path=f"/api/deployments/{deployment_id}"[:500],
        target={"app_id": app_id, "deployment_id": deployment_id},
        status=200,
        client="rivetr",
        request_id=None,
        team_id=await entry_team(db, None, {"app_id": app_id}),
        changes=lines,
    )
