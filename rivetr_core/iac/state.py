"""The server's current state of a project in the files' terms: what export writes and what apply compares.

Reads go through core's services (and, for the lookups by name the services do not offer, one SELECT under the
request's visibility rules, so a principal sees only the projects its teams may see). Secret values never leave
here: a secret variable is known by its name only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from rivetr_core.api.config_path import DEFAULT_CONFIG_PATH
from rivetr_core.api.tasks import TaskIn as _TaskIn
from rivetr_core.api.volumes import VolumeIn as _VolumeIn
from rivetr_core.models.apps import App, Project
from rivetr_core.models.git import AppGitSettings, not_a_preview_app

from .model import APP_KEYS, BACKUP_KEYS, GIT_KEYS, PROJECT_APP_KEYS, ROUTE_KEYS, SERVICE_KEYS, STACK_KEYS

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: What a freshly created app shows for each setting (a setting at its default is left out of an export).
HEALTH_DEFAULTS: dict[str, Any] = {"timeout": 5.0, "retries": 30, "interval": 1.0}
HTTP_DEFAULTS: dict[str, Any] = {"path": "/", "status": None}
VOLUME_KEYS = tuple(_VolumeIn.model_fields)
TASK_KEYS = tuple(_TaskIn.model_fields)


def app_defaults() -> dict[str, Any]:
    """Each app setting's value on a new app created without it."""
    from rivetr_core.api.appschema import AppIn

    out: dict[str, Any] = {}
    for key in APP_KEYS:
        info = AppIn.model_fields.get(key)
        out[key] = None if info is None else info.get_default(call_default_factory=True)
    out["health_check"] = {"kind": "http", **HTTP_DEFAULTS, **HEALTH_DEFAULTS}
    out["source"] = None  # git
    out["git_url"] = None
    return out


def full_health_check(value: dict[str, Any]) -> dict[str, Any]:
    """A health check with the options it leaves out at the values the server gives them."""
    base = {**HEALTH_DEFAULTS, **(HTTP_DEFAULTS if value.get("kind") == "http" else {})}
    return {**base, **value}


def settings_of(app_json: dict[str, Any]) -> dict[str, Any]:
    """An app's settings (``APP_KEYS``) from what ``GET /api/apps/{id}`` answers."""
    out = {key: app_json.get(key) for key in (*APP_KEYS, *PROJECT_APP_KEYS)}
    if app_json.get("source_kind") == "image":
        out["source"] = {"kind": "image", "image": app_json.get("image")}
        out["git_url"] = None
    else:
        out["source"] = None
    return out


def same(key: str, wanted: Any, current: Any) -> bool:
    """Whether a file's value is what the server has (lists that are sets compare as sets, a health check
    with its options' defaults, a git source as no source)."""
    if key in ("domains", "tags", "profiles"):
        return sorted(wanted or [], key=repr) == sorted(current or [], key=repr)
    if key == "health_check" and isinstance(wanted, dict) and isinstance(current, dict):
        return full_health_check(wanted) == full_health_check(current)
    if key == "source":
        wanted = None if not wanted or wanted.get("kind") == "git" else wanted
        return bool(wanted == current)
    return bool(wanted == current)


@dataclass
class AppState:
    id: str
    name: str
    settings: dict[str, Any]
    #: key → {"value" (None for a secret), "is_secret", "scope"}
    env: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → VolumeIn fields + "id"
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → TaskIn fields + "id"
    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # service name → {"id", "env_prefix"}
    git: dict[str, Any] = field(default_factory=dict)  # GIT_KEYS → value
    backups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (destination, cron) → row
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # route key → settings (file terms)


#: A route's settings when nothing was changed (what an export leaves out).
ROUTE_DEFAULTS: dict[str, Any] = {
    "strip_prefix": False,
    "redirect_www": None,
    "redirects": [],
    "compression": True,
    "upstream_protocol": "http1",
}


async def route_settings(ctx: RivetrContext, key: str) -> dict[str, Any]:
    """A route key's settings in the file's terms: ROUTE_KEYS, and ``basic_auth`` {realm, users (names)} or None."""
    out = await ctx.services.routes.get_settings(key)
    return {**{k: out[k] for k in ROUTE_KEYS}, "basic_auth": out["basic_auth"]}


async def backup_schedules(ctx: RivetrContext, **owner: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The backup schedules of an app (``app_id=``) or a service (``service_id=``), by (destination name, cron)."""
    from rivetr_core.models.backups import BackupDestination
    from rivetr_core.pagination import PageQuery

    rows, _next = await ctx.services.backups.list_schedules(PageQuery(limit=200), **owner)
    if not rows:
        return {}
    async with ctx.db.session() as session:
        names = dict((await session.exec(select(BackupDestination.id, BackupDestination.name))).all())
    return {
        (names.get(row.destination_id, row.destination_id), row.cron): {
            "id": row.id,
            "destination": names.get(row.destination_id, row.destination_id),
            **{k: getattr(row, k) for k in BACKUP_KEYS},
        }
        for row in rows
        if row.what in ("volumes", "service")
    }


@dataclass
class ProjectState:
    id: str
    name: str
    description: str
    services: dict[str, dict[str, Any]]  # name → SERVICE_KEYS + "id"
    apps: dict[str, AppState]
    stacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → STACK_KEYS + "id"
    #: channel name → {"channel_id", "apps", "events"}: where the project's events are routed
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)


async def find_project(ctx: RivetrContext, name_or_id: str) -> Project | None:
    """A project the request may see, by id or name."""
    async with ctx.db.session() as session:
        rows = await session.exec(
            select(Project).where((col(Project.id) == name_or_id) | (col(Project.name) == name_or_id))
        )
        return rows.first()


async def read_app(ctx: RivetrContext, app_id: str) -> AppState:
    from rivetr_core.services.service_links import ServiceLinkService
    from rivetr_core.services.tasks import TaskService
    from rivetr_core.services.volumes import volume_json

    apps = ctx.services.apps
    app, domains = await apps.get(app_id)
    state = AppState(id=app.id, name=app.name, settings=settings_of(apps.app_json(app, domains)))
    for row in await apps.env_vars(app_id):
        value = None if row.is_secret else apps.env_var_json(row, reveal=True)["value"]
        state.env[row.key] = {"value": value, "is_secret": row.is_secret, "scope": row.scope}
    for volume in await ctx.services.volumes.for_app(app_id):
        out = volume_json(volume, None)
        state.volumes[volume.name] = {"id": volume.id, **{k: out.get(k) for k in VOLUME_KEYS}}
    for task in await TaskService(ctx).list_tasks(app_id):
        state.tasks[task.name] = {"id": task.id, **{k: getattr(task, k) for k in TASK_KEYS}}
    for link in await ServiceLinkService(ctx).listing(app_id):
        state.links[link["service_name"]] = {"id": link["id"], "env_prefix": link["env_prefix"]}
    git = await ctx.services.webhooks.git_settings(app_id)
    state.git = {k: getattr(git, k) for k in GIT_KEYS}
    state.backups = await backup_schedules(ctx, app_id=app_id)
    for key in state.settings.get("domains") or []:
        state.routes[key] = await route_settings(ctx, key)
    return state


async def read_project(ctx: RivetrContext, project: Project) -> ProjectState:
    async with ctx.db.session() as session:
        rows = await session.exec(
            select(App.id).where(App.project_id == project.id, not_a_preview_app()).order_by(col(App.name))
        )
        app_ids = list(rows.all())
    services: dict[str, dict[str, Any]] = {}
    for out in await ctx.services.managed.listing(project_id=project.id, limit=1000):
        services[out["name"]] = {"id": out["id"], **{k: out.get(k) for k in SERVICE_KEYS}}
        services[out["name"]]["backups"] = await backup_schedules(ctx, service_id=out["id"])
    apps = [await read_app(ctx, app_id) for app_id in app_ids]
    stacks: dict[str, dict[str, Any]] = {}
    from rivetr_core.pagination import PageQuery

    stack_rows, _next = await ctx.services.stacks.list(PageQuery(limit=200), project_id=project.id)
    for row in stack_rows:
        if row.preview_of is None:  # a pull request's preview stack belongs to its base
            detail = await ctx.services.stacks.detail(row.id)
            stacks[row.name] = {"id": row.id, **{k: detail.get(k) for k in STACK_KEYS}}
    return ProjectState(
        id=project.id,
        name=project.name,
        description=project.description,
        services=services,
        apps={a.name: a for a in apps},
        stacks=stacks,
        notifications=await notification_routes(ctx, project.id),
    )


async def notification_routes(ctx: RivetrContext, project_id: str) -> dict[str, dict[str, Any]]:
    """The project's notification routes by channel name (rivetr_core.notify.routes)."""
    from rivetr_core.notify.routes import RouteService

    return {
        channel.name: {
            "channel_id": channel.id,
            "apps": list(route.get("apps") or []),
            "events": list(route.get("events") or []),
        }
        for channel, route in await RouteService(ctx).for_project(project_id)
    }


def _changed_settings(settings: dict[str, Any]) -> dict[str, Any]:
    defaults = app_defaults()
    out: dict[str, Any] = {}
    for key in APP_KEYS:
        value = settings.get(key)
        if value is None or same(key, value, defaults.get(key)):
            continue
        if key == "health_check":  # the options at their defaults are left out
            full = full_health_check(value)
            base = full_health_check({"kind": value["kind"]})
            value = {k: v for k, v in full.items() if k == "kind" or v != base.get(k)}
        out[key] = value
    # Where the app's rivetr.toml is, unless at the default; "" when off (TOML has no null).
    where = settings.get("config_path")
    if where != DEFAULT_CONFIG_PATH:
        out["config_path"] = where or ""
    return out


def app_document(app: AppState) -> dict[str, Any]:
    """The app as a file writes it: settings that differ from a new app's, then its tables."""
    doc = _changed_settings(app.settings)
    env = {k: e["value"] for k, e in sorted(app.env.items()) if not e["is_secret"] and e["scope"] != "build"}
    build_env = {
        k: e["value"] for k, e in sorted(app.env.items()) if not e["is_secret"] and e["scope"] != "runtime"
    }
    secrets = sorted(k for k, e in app.env.items() if e["is_secret"])
    if secrets:
        doc["secrets"] = secrets
    if env:
        doc["env"] = env
    if build_env:
        doc["build_env"] = build_env
    defaults = {k: f.get_default(call_default_factory=True) for k, f in _VolumeIn.model_fields.items()}
    if app.volumes:
        doc["volumes"] = [_trim(v, defaults, VOLUME_KEYS) for _, v in sorted(app.volumes.items())]
    task_defaults = {k: f.get_default(call_default_factory=True) for k, f in _TaskIn.model_fields.items()}
    if app.tasks:
        doc["tasks"] = [_trim(t, task_defaults, TASK_KEYS) for _, t in sorted(app.tasks.items())]
    git_defaults = {k: AppGitSettings.model_fields[k].default for k in GIT_KEYS}
    git = {k: v for k, v in app.git.items() if v not in (None, "") and v != git_defaults[k]}
    if git:
        doc["git_settings"] = git
    if app.backups:
        doc["backups"] = backups_document(app.backups)
    routes = {}
    for key, settings in sorted(app.routes.items()):
        changed = {k: v for k, v in settings.items() if k in ROUTE_DEFAULTS and v != ROUTE_DEFAULTS[k]}
        if settings.get("basic_auth"):
            auth = settings["basic_auth"]
            changed["basic_auth"] = {"users": auth["users"]}
            if auth["realm"] != "Restricted":
                changed["basic_auth"] = {"realm": auth["realm"], "users": auth["users"]}
        if changed:
            routes[key] = changed
    if routes:
        doc["route_settings"] = routes
    if app.links:
        doc["links"] = [
            {"service": name, "env_prefix": link["env_prefix"]} for name, link in sorted(app.links.items())
        ]
    return doc


def _trim(values: dict[str, Any], defaults: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Required keys always, optional ones when they differ from their default."""
    return {
        k: values[k]
        for k in keys
        if values.get(k) is not None and (k == "name" or values[k] != defaults.get(k))
    }


def backups_document(backups: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    from rivetr_core.api.backups import ScheduleIn

    defaults = {k: ScheduleIn.model_fields[k].get_default() for k in BACKUP_KEYS if k != "cron"}
    out = []
    for _key, row in sorted(backups.items()):
        doc = {"destination": row["destination"], "cron": row["cron"]}
        doc.update({k: row[k] for k in BACKUP_KEYS if k != "cron" and row[k] != defaults[k]})
        out.append(doc)
    return out


def project_document(state: ProjectState) -> dict[str, Any]:
    """``project.toml``'s document of the project (stable order: services and apps by name)."""
    project: dict[str, Any] = {"name": state.name}
    if state.description:
        project["description"] = state.description
    services = []
    for _, service in sorted(state.services.items()):
        entry = {k: service.get(k) for k in SERVICE_KEYS if service.get(k) not in (None, [])}
        if service.get("backups"):
            entry["backups"] = backups_document(service["backups"])
        services.append(entry)
    apps = [{"name": name, **app_document(app)} for name, app in sorted(state.apps.items())]
    doc: dict[str, Any] = {"project": project}
    if services:
        doc["services"] = services
    if apps:
        doc["apps"] = apps
    stacks = [stack_document(stack) for _, stack in sorted(state.stacks.items())]
    if stacks:
        doc["stacks"] = stacks
    notifications = [
        {"channel": name, **{k: route[k] for k in ("apps", "events") if route[k]}}
        for name, route in sorted(state.notifications.items())
    ]
    if notifications:
        doc["notifications"] = notifications
    return doc


def stack_document(stack: dict[str, Any]) -> dict[str, Any]:
    """A stack's keys that differ from a new stack's (the name always)."""
    from rivetr_core.api.stacks import StackIn

    out: dict[str, Any] = {}
    for key in STACK_KEYS:
        value = stack.get(key)
        default = StackIn.model_fields[key].get_default(call_default_factory=True) if key != "name" else None
        if value is None or (key != "name" and same(key, value, default)):
            continue
        out[key] = value
    return out
