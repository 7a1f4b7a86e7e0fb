"""Apply a :class:`~.model.ProjectFile`: compare it with the server (:mod:`.state`), answer the plan, and carry
it out through core's services, so every check, event and route sync is the API's own.

Each resource gets one entry: ``create``, ``update`` (with ``field: {"old", "new"}``), ``unchanged``,
``not_in_file`` (on the server, absent from the file: left alone) or, with ``prune``, ``delete``. Secret values
never appear: a secret is ``"(secret)"`` in a change. Secrets the file names but the server lacks are listed in
``missing_secrets`` (not an error here: the deployment that needs one fails naming it).

The plan is computed in full before anything changes, so a file the server refuses (a link to no service, a
service's type changed) changes nothing. A change the services refuse while applying stops the apply there; the
error names the resource and lists what was applied before it, and applying the file again carries on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rivetr_core.contract.errors import RivetrError, ValidationFailed
from rivetr_core.models.git import AppGitSettings

from .model import APP_KEYS, GIT_KEYS, PROJECT_APP_KEYS, ProjectApp, ProjectFile
from .state import (
    TASK_KEYS,
    VOLUME_KEYS,
    AppState,
    ProjectState,
    find_project,
    read_project,
    route_settings,
    same,
)

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

SECRET = "(secret)"
Run = Callable[[], Awaitable[None]]
#: Told of each call apply makes, as the API call it stands for (``action`` = the endpoint's name, ``method``,
#: ``route``, ``path``, ``target`` = the ids in the URL): the API records them in the audit log, so a change
#: made by apply reads there as the same change made through the API.
OnCall = Callable[[dict[str, Any]], Awaitable[None]]

#: What each change of apply is in the API: (endpoint, method, route).
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "project.create": ("projects_api.create_project", "POST", "/api/projects"),
    "project.update": ("projects_api.update_project", "PUT", "/api/projects/<project_id>"),
    "service.create": ("services_api.create_service", "POST", "/api/services"),
    "service.update": ("services_api.update_service", "PUT", "/api/services/<service_id>"),
    "service.delete": ("services_api.delete_service", "DELETE", "/api/services/<service_id>"),
    "app.create": ("apps_api.create_app", "POST", "/api/apps"),
    "app.update": ("apps_api.update_app", "PUT", "/api/apps/<app_id>"),
    "app.delete": ("apps_api.delete_app", "DELETE", "/api/apps/<app_id>"),
    "env.create": ("env_vars_api.create_env_var", "POST", "/api/apps/<app_id>/env-vars"),
    "env.update": ("env_vars_api.update_env_var", "PUT", "/api/apps/<app_id>/env-vars/<key>"),
    "env.delete": ("env_vars_api.delete_env_var", "DELETE", "/api/apps/<app_id>/env-vars/<key>"),
    "volume.create": ("volumes_api.create_volume", "POST", "/api/apps/<app_id>/volumes"),
    "volume.update": ("volumes_api.update_volume", "PUT", "/api/apps/<app_id>/volumes/<volume_id>"),
    "volume.delete": ("volumes_api.delete_volume", "DELETE", "/api/apps/<app_id>/volumes/<volume_id>"),
    "task.create": ("tasks_api.create_task", "POST", "/api/apps/<app_id>/tasks"),
    "task.update": ("tasks_api.update_task", "PUT", "/api/apps/<app_id>/tasks/<task_id>"),
    "task.delete": ("tasks_api.delete_task", "DELETE", "/api/apps/<app_id>/tasks/<task_id>"),
    "link.create": ("links_api.create_link", "POST", "/api/apps/<app_id>/links"),
    "link.delete": ("links_api.delete_link", "DELETE", "/api/apps/<app_id>/links/<link_id>"),
    "git.update": ("webhooks_api.put_git_settings", "PUT", "/api/apps/<app_id>/git-settings"),
    "stack.create": ("stacks_api.create_stack", "POST", "/api/stacks"),
    "stack.update": ("stacks_api.update_stack", "PUT", "/api/stacks/<stack_id>"),
    "stack.delete": ("stacks_api.delete_stack", "DELETE", "/api/stacks/<stack_id>"),
    "route.update": ("routes_api.put_route_settings", "PUT", "/api/routes/settings/<key>"),
    "backup.create": ("backups_api.create_schedule", "POST", "/api/backup-schedules"),
    "backup.update": ("backups_api.update_schedule", "PUT", "/api/backup-schedules/<schedule_id>"),
    "backup.delete": ("backups_api.delete_schedule", "DELETE", "/api/backup-schedules/<schedule_id>"),
    "notification.update": (
        "notification_routes_api.put_route",
        "PUT",
        "/api/projects/<project_id>/notification-routes/<channel_id>",
    ),
    "notification.delete": (
        "notification_routes_api.delete_route",
        "DELETE",
        "/api/projects/<project_id>/notification-routes/<channel_id>",
    ),
}


@dataclass
class Change:
    resource: str
    action: str  # create | update | unchanged | not_in_file | delete
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: Run | None = None

    def json(self) -> dict[str, Any]:
        return {"resource": self.resource, "action": self.action, "fields": self.fields}


def _created(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"old": None, "new": v} for k, v in values.items()}


class Planner:
    def __init__(
        self,
        ctx: RivetrContext,
        spec: ProjectFile,
        *,
        prune: bool,
        on_call: OnCall | None = None,
        managed_ok: bool = False,
    ) -> None:
        self.ctx = ctx
        #: Whether its changes may touch what an app's repository file manages (the services refuse that,
        #: 409 managed_by_file, unless told): only for that file's own deployment (engine.repo_config) and for
        #: apply_project, which refuses a plan that would before running any of it.
        self.managed_ok = managed_ok
        self.on_call = on_call
        self.spec = spec
        self.prune = prune
        self.changes: list[Change] = []
        self.last: list[Change] = []  # deletions of whole apps and services: after everything else
        self.missing: list[dict[str, str | None]] = []
        self.destinations: dict[str, str] = {}  # backup destination name → id
        self.routes_now: dict[str, dict[str, Any]] = {}  # route key → its settings on the server
        self.ids: dict[str, str] = {}  # "project", "app:<name>", "service:<name>" → id, filled as they exist

    async def note(self, what: str, **target: str) -> None:
        """Tell ``on_call`` of a call just made (see :data:`OnCall`)."""
        if self.on_call is None:
            return
        endpoint, method, route = ENDPOINTS[what]
        path = route
        for name, value in target.items():
            path = path.replace(f"<{name}>", value)
        await self.on_call(
            {"action": endpoint, "method": method, "route": route, "path": path, "target": target}
        )

    def add(
        self, resource: str, action: str, fields: dict[str, Any] | None = None, run: Run | None = None
    ) -> None:
        self.changes.append(Change(resource, action, fields or {}, run))

    def leftover(self, resource: str, run: Run, *, last: bool = False) -> None:
        """Something on the server the file does not name: listed, deleted only with prune."""
        change = Change(resource, "delete", {}, run) if self.prune else Change(resource, "not_in_file")
        (self.last if last else self.changes).append(change)

    # ------------------------------------------------------------------------------------------ planning
    async def plan_app(self, app: ProjectApp, current: AppState, state: ProjectState) -> None:
        """Plan one existing app only (a deployment's rivetr.toml, rivetr_core.engine.repo_config): its
        settings, variables and secrets, volumes, tasks, links, git and route settings and backups, as
        :meth:`plan` plans each app of a project file. ``state``: its project (for links), or an empty one."""
        self.ids["project"] = state.id
        for name, service in state.services.items():  # what the app's links name (plan() has _services)
            self.ids[f"service:{name}"] = service["id"]
        self.destinations = await _destinations(self.ctx)
        for key in app.route_settings:
            self.routes_now[key] = await route_settings(self.ctx, key)
        self._app(0, app, current, state)

    async def plan(self) -> ProjectState | None:
        ctx, spec = self.ctx, self.spec
        self.destinations = await _destinations(ctx)
        for app in spec.apps:  # the routes a file names, as they are now (a new domain's: the defaults)
            for key in app.route_settings:
                self.routes_now[key] = await route_settings(ctx, key)
        row = await find_project(ctx, spec.project.name)
        state = await read_project(ctx, row) if row is not None else None
        name = spec.project.name
        if state is None:

            async def create_project() -> None:
                project = await ctx.services.projects.create(name, spec.project.description)
                self.ids["project"] = project.id
                await self.note("project.create")

            self.add(f"project {name}", "create", _created(spec.project.model_dump()), create_project)
        else:
            self.ids["project"] = state.id
            wanted = spec.project.description
            if "description" in spec.project.model_fields_set and wanted != state.description:
                pid = state.id

                async def describe() -> None:
                    await ctx.services.projects.update(pid, {"description": wanted})
                    await self.note("project.update", project_id=pid)

                diff = {"description": {"old": state.description, "new": wanted}}
                self.add(f"project {name}", "update", diff, describe)
            else:
                self.add(f"project {name}", "unchanged")
        self._services(state)
        for index, app in enumerate(spec.apps):
            self._app(index, app, state.apps.get(app.name) if state else None, state)
        self._stacks(state)
        await self._notifications(state)
        if state is not None:
            wanted_apps = {a.name for a in spec.apps}
            for app_name, app_state in sorted(state.apps.items()):
                if app_name not in wanted_apps:
                    self.leftover(f"app {app_name}", self._delete_app(app_state.id), last=True)
            wanted_stacks = {s.name for s in spec.stacks}
            for stack_name, stack in sorted(state.stacks.items()):
                if stack_name not in wanted_stacks:
                    self.leftover(f"stack {stack_name}", self._delete_stack(stack["id"]), last=True)
            wanted_services = {s.name for s in spec.services}
            for service_name, service in sorted(state.services.items()):
                if service_name not in wanted_services:
                    self.leftover(f"service {service_name}", self._delete_service(service["id"]), last=True)
        self.changes.extend(self.last)
        return state

    async def _notifications(self, state: ProjectState | None) -> None:
        """Routes of the project's events to channels, by channel name: a channel is the server's (it holds
        credentials), so a file naming one the server lacks is refused before any change, like a backup
        destination."""
        from rivetr_core.notify.routes import RouteService

        channels = {c.name: c.id for c in await self.ctx.services.notifications.list_channels()}
        routes = RouteService(self.ctx)
        have = state.notifications if state else {}
        for number, spec in enumerate(self.spec.notifications):
            if spec.channel not in channels:
                raise ValidationFailed.on(
                    f"notifications[{number}].channel",
                    f"no notification channel named {spec.channel} on this server (create it first)",
                )
            label = f"notifications to {spec.channel}"
            wanted = {"apps": spec.apps, "events": spec.events}
            cur = have.get(spec.channel)
            diff = {
                k: {"old": cur[k] if cur else None, "new": v}
                for k, v in wanted.items()
                if cur is None or not same("tags", v, cur[k])  # lists compared as sets
            }
            if cur is not None and not diff:
                self.add(label, "unchanged")
                continue

            async def put(channel_id: str = channels[spec.channel], wanted: dict[str, Any] = wanted) -> None:
                await routes.put(self.ids["project"], channel_id, **wanted)
                await self.note("notification.update", project_id=self.ids["project"], channel_id=channel_id)

            self.add(label, "create" if cur is None else "update", diff, put)
        named = {n.channel for n in self.spec.notifications}
        for name in sorted(set(have) - named):

            async def drop(channel_id: str = have[name]["channel_id"]) -> None:
                await routes.delete(self.ids["project"], channel_id)
                await self.note("notification.delete", project_id=self.ids["project"], channel_id=channel_id)

            self.leftover(f"notifications to {name}", drop)

    def _delete_app(self, app_id: str) -> Run:
        async def run() -> None:
            await self.ctx.services.apps.delete(app_id, keep_volumes=True)
            await self.note("app.delete", app_id=app_id)

        return run

    def _delete_service(self, service_id: str) -> Run:
        async def run() -> None:
            await self.ctx.services.managed.delete(service_id, keep_volumes=True, force=True)
            await self.note("service.delete", service_id=service_id)

        return run

    def _delete_stack(self, stack_id: str) -> Run:
        async def run() -> None:
            await self.ctx.services.stacks.delete(stack_id, volumes=False)
            await self.note("stack.delete", stack_id=stack_id)

        return run

    def _stacks(self, state: ProjectState | None) -> None:
        """Stacks through the stack service, with the API's own source rule (a pasted file or a repository)."""
        from rivetr_core.api.stacks import StackIn, _source_fields

        stacks = self.ctx.services.stacks
        for stack in self.spec.stacks:
            wanted = stack.model_dump(exclude_unset=True)
            current = state.stacks.get(stack.name) if state else None
            label = f"stack {stack.name}"
            if current is None:

                async def create(wanted: dict[str, Any] = wanted) -> None:
                    fields = StackIn.model_validate(
                        {**wanted, "project_id": self.ids["project"]}
                    ).model_dump()
                    fields.update(git_token=None, webhook_secret=None)
                    await stacks.create(_source_fields(fields))
                    await self.note("stack.create")

                self.add(label, "create", _created(wanted), create)
                continue
            diff = {
                k: {"old": current.get(k), "new": v}
                for k, v in wanted.items()
                if k != "name" and not same(k, v, current.get(k))
            }
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(sid: str = current["id"], diff: dict[str, Any] = diff) -> None:
                await stacks.update(sid, _source_fields({k: d["new"] for k, d in diff.items()}))
                await self.note("stack.update", stack_id=sid)

            self.add(label, "update", diff, update)

    def _services(self, state: ProjectState | None) -> None:
        from rivetr_core.api.services import ServiceIn

        ctx = self.ctx
        for index, service in enumerate(self.spec.services):
            wanted = service.model_dump(exclude_unset=True, exclude={"backups"})
            current = state.services.get(service.name) if state else None
            label = f"service {service.name}"
            if current is None:

                async def create(wanted: dict[str, Any] = wanted, name: str = service.name) -> None:
                    body = ServiceIn.model_validate({**wanted, "project_id": self.ids["project"]})
                    row = await ctx.services.managed.create(body.model_dump())
                    self.ids[f"service:{name}"] = row.id
                    await self.note("service.create")

                self.add(label, "create", _created(wanted), create)
                self._backups(f"services[{index}]", label, service.backups, {}, f"service:{service.name}")
                continue
            self.ids[f"service:{service.name}"] = current["id"]
            self._backups(
                f"services[{index}]",
                label,
                service.backups,
                current.get("backups", {}),
                f"service:{service.name}",
            )
            if wanted["type"] != current["type"]:
                raise ValidationFailed.on(
                    f"services[{index}].type",
                    f"{service.name} is a {current['type']} service on the server; a service's type cannot change",
                )
            diff = {
                k: {"old": current.get(k), "new": v}
                for k, v in wanted.items()
                if k not in ("name", "type") and not same(k, v, current.get(k))
            }
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(sid: str = current["id"], diff: dict[str, Any] = diff) -> None:
                await ctx.services.managed.update(sid, {k: d["new"] for k, d in diff.items()})
                await self.note("service.update", service_id=sid)

            self.add(label, "update", diff, update)

    def _app(self, index: int, app: ProjectApp, current: AppState | None, state: ProjectState | None) -> None:
        from rivetr_core.api.appschema import AppIn, AppUpdate

        ctx = self.ctx
        settings = app.model_dump(exclude_unset=True, include={*APP_KEYS, *PROJECT_APP_KEYS})
        label = f"app {app.name}"
        key = f"app:{app.name}"
        if current is None:
            image = (settings.get("source") or {}).get("kind") == "image"
            if not image and not settings.get("git_url"):  # the app service's rule, checked before any change
                raise ValidationFailed.on(
                    f"apps[{index}].git_url", f"{app.name} is new here: give git_url (or an image source)"
                )

            async def create() -> None:
                body = AppIn.model_validate({**settings, "name": app.name, "project_id": self.ids["project"]})
                row, _domains = await ctx.services.apps.create(body.model_dump())
                self.ids[key] = row.id
                await self.note("app.create")

            self.add(label, "create", _created(settings), create)
        else:
            self.ids[key] = current.id
            diff = {
                k: {"old": current.settings.get(k), "new": v}
                for k, v in settings.items()
                if not same(k, v, current.settings.get(k))
            }
            if diff:

                async def update(app_id: str = current.id) -> None:
                    body = AppUpdate.model_validate({k: d["new"] for k, d in diff.items()})
                    await ctx.services.apps.update(
                        app_id,
                        {k: getattr(body, k) for k in body.model_fields_set},
                        managed_ok=self.managed_ok,
                    )
                    await self.note("app.update", app_id=app_id)

                self.add(label, "update", diff, update)
            else:
                self.add(label, "unchanged")
        self._env(index, app, current)
        self._volumes(app, current)
        self._tasks(app, current)
        self._links(index, app, current, state)
        self._git(app, current)
        self._routes(app)
        self._backups(
            f"apps[{index}]",
            f"app {app.name}",
            app.backups,
            current.backups if current else {},
            f"app:{app.name}",
        )

    def _env(self, index: int, app: ProjectApp, current: AppState | None) -> None:
        apps = self.ctx.services.apps
        key = f"app:{app.name}"
        wanted: dict[str, tuple[str, str]] = {k: (v, "runtime") for k, v in app.env.items()}
        for k, v in app.build_env.items():
            if k in wanted and wanted[k][0] != v:
                raise ValidationFailed.on(
                    f"apps[{index}].build_env.{k}", "differs from env's value (one variable has one value)"
                )
            wanted[k] = (v, "both" if k in wanted else "build")
        have = current.env if current else {}
        for k, (value, scope) in sorted(wanted.items()):
            label = f"app {app.name}: env {k}"
            cur = have.get(k)
            if cur is None:

                async def add(k: str = k, value: str = value, scope: str = scope) -> None:
                    await apps.add_env_var(
                        self.ids[key], k, value, is_secret=False, scope=scope, managed_ok=self.managed_ok
                    )
                    await self.note("env.create", app_id=self.ids[key])

                self.add(label, "create", _created({"value": value, "scope": scope}), add)
                continue
            diff: dict[str, Any] = {}
            if cur["is_secret"]:
                diff["value"] = {"old": SECRET, "new": value}
                diff["is_secret"] = {"old": True, "new": False}
            elif cur["value"] != value:
                diff["value"] = {"old": cur["value"], "new": value}
            if cur["scope"] != scope:
                diff["scope"] = {"old": cur["scope"], "new": scope}
            if not diff:
                self.add(label, "unchanged")
                continue

            async def change(k: str = k, value: str = value, scope: str = scope) -> None:
                await apps.update_env_var(
                    self.ids[key], k, value=value, is_secret=False, scope=scope, managed_ok=self.managed_ok
                )
                await self.note("env.update", app_id=self.ids[key], key=k)

            self.add(label, "update", diff, change)
        for name in app.secrets:
            label = f"app {app.name}: secret {name}"
            cur = have.get(name)
            if cur is None:
                self.missing.append({"app": app.name, "name": name, "kind": "env", "route": None})
            elif not cur["is_secret"]:

                async def hide(name: str = name) -> None:
                    await apps.update_env_var(self.ids[key], name, is_secret=True, managed_ok=self.managed_ok)
                    await self.note("env.update", app_id=self.ids[key], key=name)

                self.add(label, "update", {"is_secret": {"old": False, "new": True}}, hide)
            else:
                self.add(label, "unchanged")
        named = set(wanted) | set(app.secrets)
        for k in sorted(set(have) - named):

            async def drop(k: str = k) -> None:
                await apps.delete_env_var(self.ids[key], k, managed_ok=self.managed_ok)
                await self.note("env.delete", app_id=self.ids[key], key=k)

            self.leftover(f"app {app.name}: env {k}", drop)

    def _volumes(self, app: ProjectApp, current: AppState | None) -> None:
        service = self.ctx.services.volumes
        key = f"app:{app.name}"
        have = current.volumes if current else {}
        for volume in app.volumes:
            wanted = volume.model_dump()
            label = f"app {app.name}: volume {volume.name}"
            cur = have.get(volume.name)
            if cur is None:

                async def create(wanted: dict[str, Any] = wanted) -> None:
                    await service.create(self.ids[key], wanted)
                    await self.note("volume.create", app_id=self.ids[key])

                self.add(label, "create", _created(volume.model_dump(exclude_unset=True)), create)
                continue
            diff = {k: {"old": cur.get(k), "new": wanted[k]} for k in VOLUME_KEYS if cur.get(k) != wanted[k]}
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(vid: str = cur["id"], diff: dict[str, Any] = diff) -> None:
                await service.update(
                    self.ids[key], vid, {k: d["new"] for k, d in diff.items()}, managed_ok=self.managed_ok
                )
                await self.note("volume.update", app_id=self.ids[key], volume_id=vid)

            self.add(label, "update", diff, update)
        for name in sorted(set(have) - {v.name for v in app.volumes}):

            async def drop(vid: str = have[name]["id"]) -> None:
                await service.delete(self.ids[key], vid, managed_ok=self.managed_ok)
                await self.note("volume.delete", app_id=self.ids[key], volume_id=vid)

            self.leftover(f"app {app.name}: volume {name}", drop)

    def _tasks(self, app: ProjectApp, current: AppState | None) -> None:
        from rivetr_core.services.tasks import TaskService

        service = TaskService(self.ctx)
        key = f"app:{app.name}"
        have = current.tasks if current else {}
        for task in app.tasks:
            wanted = task.model_dump()
            label = f"app {app.name}: task {task.name}"
            cur = have.get(task.name)
            if cur is None:

                async def create(wanted: dict[str, Any] = wanted) -> None:
                    await service.create(self.ids[key], wanted)
                    await self.note("task.create", app_id=self.ids[key])

                self.add(label, "create", _created(task.model_dump(exclude_unset=True)), create)
                continue
            diff = {k: {"old": cur.get(k), "new": wanted[k]} for k in TASK_KEYS if cur.get(k) != wanted[k]}
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(tid: str = cur["id"], diff: dict[str, Any] = diff) -> None:
                await service.update(
                    self.ids[key], tid, {k: d["new"] for k, d in diff.items()}, managed_ok=self.managed_ok
                )
                await self.note("task.update", app_id=self.ids[key], task_id=tid)

            self.add(label, "update", diff, update)
        for name in sorted(set(have) - {t.name for t in app.tasks}):

            async def drop(tid: str = have[name]["id"]) -> None:
                await service.delete(self.ids[key], tid, managed_ok=self.managed_ok)
                await self.note("task.delete", app_id=self.ids[key], task_id=tid)

            self.leftover(f"app {app.name}: task {name}", drop)

    def _links(
        self, index: int, app: ProjectApp, current: AppState | None, state: ProjectState | None
    ) -> None:
        from rivetr_core.services.service_links import ServiceLinkService

        service = ServiceLinkService(self.ctx)
        key = f"app:{app.name}"
        have = current.links if current else {}
        in_file = {s.name for s in self.spec.services}
        on_server = set(state.services) if state else set()
        for number, link in enumerate(app.links):
            if link.service not in in_file | on_server:
                raise ValidationFailed.on(
                    f"apps[{index}].links[{number}].service",
                    f"no service named {link.service} in the project",
                )
            label = f"app {app.name}: link {link.service}"
            cur = have.get(link.service)

            async def create(link_service: str = link.service, prefix: str | None = link.env_prefix) -> None:
                await service.create(self.ids[key], self.ids[f"service:{link_service}"], prefix)
                await self.note("link.create", app_id=self.ids[key])

            if cur is None:
                self.add(label, "create", _created(link.model_dump(exclude_unset=True)), create)
            elif link.env_prefix is not None and link.env_prefix != cur["env_prefix"]:

                async def relink(lid: str = cur["id"], create: Run = create) -> None:
                    await service.delete(self.ids[key], lid, managed_ok=self.managed_ok)
                    await self.note("link.delete", app_id=self.ids[key], link_id=lid)
                    await create()

                self.add(
                    label,
                    "update",
                    {"env_prefix": {"old": cur["env_prefix"], "new": link.env_prefix}},
                    relink,
                )
            else:
                self.add(label, "unchanged")
        for name in sorted(set(have) - {link.service for link in app.links}):

            async def drop(lid: str = have[name]["id"]) -> None:
                await service.delete(self.ids[key], lid, managed_ok=self.managed_ok)
                await self.note("link.delete", app_id=self.ids[key], link_id=lid)

            self.leftover(f"app {app.name}: link {name}", drop)

    def _backups(
        self, where: str, owner: str, wanted: list[Any], have: dict[tuple[str, str], dict[str, Any]], key: str
    ) -> None:
        """Backup schedules of an app (its volumes) or a service (its data), by (destination, cron)."""
        backups = self.ctx.services.backups
        kind = "app" if key.startswith("app:") else "service"
        for number, spec in enumerate(wanted):
            if spec.destination not in self.destinations:
                raise ValidationFailed.on(
                    f"{where}.backups[{number}].destination",
                    f"no backup destination named {spec.destination} on this server (create it first)",
                )
            label = f"{owner}: backup to {spec.destination} at {spec.cron}"
            values = spec.model_dump()
            cur = have.get((spec.destination, spec.cron))
            if cur is None:

                async def create(values: dict[str, Any] = values) -> None:
                    owner_id = self.ids[key]
                    body = {k: v for k, v in values.items() if k != "destination"}
                    body["destination_id"] = self.destinations[values["destination"]]
                    body.update(
                        {"what": "volumes", "app_id": owner_id}
                        if kind == "app"
                        else {"what": "service", "service_id": owner_id}
                    )
                    await backups.create_schedule(body)
                    await self.note("backup.create")

                self.add(label, "create", _created(spec.model_dump(exclude_unset=True)), create)
                continue
            diff = {
                k: {"old": cur[k], "new": values[k]}
                for k in values
                if k != "destination" and values[k] != cur[k]
            }
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(sid: str = cur["id"], diff: dict[str, Any] = diff) -> None:
                await backups.update_schedule(
                    sid, {k: d["new"] for k, d in diff.items()}, managed_ok=self.managed_ok
                )
                await self.note("backup.update", schedule_id=sid)

            self.add(label, "update", diff, update)
        named = {(s.destination, s.cron) for s in wanted}
        for destination, cron in sorted(set(have) - named):

            async def drop(sid: str = have[(destination, cron)]["id"]) -> None:
                await backups.delete_schedule(sid, managed_ok=self.managed_ok)
                await self.note("backup.delete", schedule_id=sid)

            self.leftover(f"{owner}: backup to {destination} at {cron}", drop)

    def _routes(self, app: ProjectApp) -> None:
        """Route settings by key; basic auth users by name: one without a password on the server is reported
        (like a secret) and left out, and auth is never turned off by a file."""
        routes = self.ctx.services.routes
        for key, spec in sorted(app.route_settings.items()):
            cur = self.routes_now[key]
            wanted = spec.model_dump(exclude_unset=True, by_alias=True)
            label = f"app {app.name}: route {key}"
            diff = {
                k: {"old": cur.get(k), "new": v}
                for k, v in wanted.items()
                if k != "basic_auth" and not same(k, v, cur.get(k))
            }
            changes = {k: d["new"] for k, d in diff.items()}
            if spec.basic_auth is not None:
                have_auth = cur.get("basic_auth") or {}
                existing = set(have_auth.get("users") or [])
                for name in spec.basic_auth.users:
                    if name not in existing:
                        self.missing.append(
                            {"app": app.name, "name": name, "kind": "basic_auth", "route": key}
                        )
                keep = [n for n in spec.basic_auth.users if n in existing]
                old = {"realm": have_auth.get("realm"), "users": sorted(existing)} if have_auth else None
                new = {"realm": spec.basic_auth.realm, "users": sorted(keep)}
                if keep and old != new:
                    diff["basic_auth"] = {"old": old, "new": new}
                    changes["basic_auth"] = {
                        "realm": spec.basic_auth.realm,
                        "users": [{"name": n} for n in keep],
                    }
            if not diff:
                self.add(label, "unchanged")
                continue

            async def update(key: str = key, changes: dict[str, Any] = changes) -> None:
                await routes.put_settings(key, changes, managed_ok=self.managed_ok)
                await self.note("route.update", key=key)

            self.add(label, "update", diff, update)

    def _git(self, app: ProjectApp, current: AppState | None) -> None:
        if app.git_settings is None:
            return
        wanted = app.git_settings.model_dump(exclude_unset=True)
        have = current.git if current else {k: AppGitSettings.model_fields[k].default for k in GIT_KEYS}
        label = f"app {app.name}: git settings"
        diff = {
            k: {"old": have.get(k), "new": v}
            for k, v in wanted.items()
            if (have.get(k) or None) != (v or None)
        }
        if not diff:
            self.add(label, "unchanged")
            return
        key = f"app:{app.name}"

        async def update() -> None:
            await self.ctx.services.webhooks.update_git_settings(
                self.ids[key], {k: d["new"] for k, d in diff.items()}, managed_ok=self.managed_ok
            )
            await self.note("git.update", app_id=self.ids[key])

        self.add(label, "update" if current else "create", diff, update)


async def _destinations(ctx: RivetrContext) -> dict[str, str]:
    """The server's backup destinations, name → id (a file names them; they hold credentials, so they are
    created on each server, not by a file)."""
    from sqlmodel import select

    from rivetr_core.models.backups import BackupDestination

    async with ctx.db.session() as session:
        return dict((await session.exec(select(BackupDestination.name, BackupDestination.id))).all())


def summary(changes: list[Change]) -> dict[str, int]:
    counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0, "not_in_file": 0}
    for change in changes:
        counts[change.action] += 1
    return counts


async def apply_project(
    ctx: RivetrContext,
    spec: ProjectFile,
    *,
    dry_run: bool = False,
    prune: bool = False,
    on_call: OnCall | None = None,
) -> dict[str, Any]:
    """Plan ``spec`` against the server, then (unless ``dry_run``) carry the plan out; the plan either way."""
    # managed_ok: what an app's repository file manages is refused below for the whole plan (one 409 before
    # any change, a dry run's too), so its changes need not each be refused again by the services.
    planner = Planner(ctx, spec, prune=prune, on_call=on_call, managed_ok=True)
    state = await planner.plan()
    if state is not None and state.apps:
        # What an app's repository file manages: 409 managed_by_file as its API calls would answer, before any
        # change (the app's next deployment would undo it); a dry run says so too.
        from .managed import refuse_managed_plan

        await refuse_managed_plan(ctx.db, {n: a.id for n, a in state.apps.items()}, planner.changes)
    applied: list[str] = []
    if not dry_run:
        for change in planner.changes:
            if change.run is None:
                continue
            try:
                await change.run()
            except RivetrError as exc:
                details = {"resource": change.resource, "applied": applied, "cause": exc.details}
                raise type(exc)(f"{change.resource}: {exc.message}", details=details, code=exc.code) from exc
            except ValidationError as exc:  # an API body the file's checks let through: the user's input
                details = {
                    "resource": change.resource,
                    "applied": applied,
                    "cause": exc.errors(include_url=False),
                }
                raise ValidationFailed(f"{change.resource}: {exc}", details=details) from exc
            applied.append(f"{change.action} {change.resource}")
    counts = summary(planner.changes)
    changed = any(counts[a] for a in ("create", "update", "delete"))
    return {
        "project": spec.project.name,
        "project_id": planner.ids.get("project"),
        "dry_run": dry_run,
        "prune": prune,
        "changed": changed,
        "summary": counts,
        "message": _message(counts, dry_run, changed),
        "changes": [c.json() for c in planner.changes],
        "missing_secrets": planner.missing,
    }


def _message(counts: dict[str, int], dry_run: bool, changed: bool) -> str:
    if not changed:
        return "nothing to change: the server matches the file"
    words = ("to create", "to update", "to delete") if dry_run else ("created", "updated", "deleted")
    done = [
        f"{counts[a]} {w}" for a, w in zip(("create", "update", "delete"), words, strict=True) if counts[a]
    ]
    head = "plan" if dry_run else "applied"
    return f"{head}: {', '.join(done)}; {counts['unchanged']} unchanged, {counts['not_in_file']} not in file"
