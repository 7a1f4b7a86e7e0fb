"""``ServiceService`` (``ctx.services.managed``): managed services (databases, one-click services), shared by the
API, the dashboard and the CLI (through the API). See docs/services.md.

Rules:

* ``name`` DNS-safe, unique across apps and services (409): it is the service's host name on its project network.
* ``type`` a catalogue template (422 listing them); ``version`` one of the template's (422 listing them;
  default its first); ``project_id`` an existing project (404).
* ``public_port`` 1024-65535, used by no other service and free on this host (409); null keeps the service
  on its private network only. Limits: ``memory_limit`` at least 16 MiB, ``cpu_limit`` more than 0.
* Credentials are generated from the template (password: 32 letters and digits), stored only encrypted with
  the user's environment; shown masked unless the caller is an administrator asking ``reveal``.

Engine work (pull, run, readiness) runs in the background (``ctx.spawn``), one operation at a time per service;
a stop or a deletion cancels the one in flight. Create, start, restart and update answer at once with status
``starting``; the service becomes ``running`` when its template's readiness command passes, else ``failed``
with ``error`` naming why (and the container's last lines). An upgrade (version change) that does not become
ready is rolled back to the previous version on the same volumes: the data is never touched by a failed upgrade.

Data lives on named engine volumes (``service_volume_name``), kept across restarts, upgrades and recreations;
deleted with the service unless ``keep_volumes``. A service with linked apps is deleted only with ``force``
(the links go too). After a restart of Rivetr, :meth:`ServiceService.reconcile` brings every service whose
``desired_state`` is running back (start, or recreate if its container is gone) and checks readiness.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.managed.events import EventLog
from rivetr_core.managed.images import resolve_image
from rivetr_core.managed.lifecycle import LABEL_SERVICE, ContainerPlan, Lifecycle, NotReady
from rivetr_core.models.apps import App, Project
from rivetr_core.models.services import (
    ManagedService,
    ServiceLink,
    project_network_name,
    service_container_name,
    service_volume_name,
)
from rivetr_core.tags import check_tags, has_tags

from .managed_responses import MASK

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

log = logging.getLogger("rivetr.services")

MIN_MEMORY = 16 * 1024**2
#: Seconds a stop waits for the database to shut down cleanly before the engine kills it.
STOP_TIMEOUT = 30.0
#: Principals that are administrators without an account row (the admin token and tokens made with it).
ADMIN_PRINCIPALS = ("admin", "token:admin/")


def _port_free(port: int) -> bool:
    """Whether this host can bind ``0.0.0.0:port`` now (the engine would publish it on every interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


#: Seconds between two rounds of the monitor's readiness checks of running services.
MONITOR_INTERVAL = 30.0


class ServiceService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self.events = EventLog()
        self.lifecycle = Lifecycle(self.events)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._monitor: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------------------------------ templates
    def catalog(self) -> Any:
        from rivetr_core.managed.catalog import catalog_for

        return catalog_for(self.ctx.plugins)

    def template(self, service_type: str) -> Any:
        """The template of a type; ``ValidationFailed`` naming ``type`` and listing the available ones."""
        return self.catalog().get(service_type)

    async def templates_json(self, query: str | None = None, category: str | None = None) -> dict[str, Any]:
        """The catalogue as ``GET /api/templates`` answers it: ``{"items", "errors"}``."""
        catalog = self.catalog()
        items = [t.summary() for t in catalog.list(query, category)]
        return {"items": items, "next": None, "errors": [p.as_dict() for p in catalog.errors]}

    # ------------------------------------------------------------------------------------------- reading
    async def get(self, service_id: str) -> ManagedService:
        async with self.ctx.db.session() as session:
            row = await session.get(ManagedService, service_id)
            if row is None:
                raise NotFound.of("service", service_id)
            return row

    async def page(
        self,
        page: PageQuery,
        *,
        project_id: str | None = None,
        service_type: str | None = None,
        tags: list[str] | None = None,
    ) -> tuple[list[ManagedService], str | None]:
        from rivetr_core.pagination import keyset_page

        stmt = select(ManagedService)
        if project_id is not None:
            stmt = stmt.where(ManagedService.project_id == (project_id or None))
        if service_type:
            stmt = stmt.where(ManagedService.type == service_type)
        if tags:
            stmt = stmt.where(has_tags(ManagedService.tags, tags))
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, ManagedService, page)

    async def page_json(
        self,
        page: PageQuery,
        *,
        project_id: str | None = None,
        service_type: str | None = None,
        tags: list[str] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows, next_cursor = await self.page(page, project_id=project_id, service_type=service_type, tags=tags)
        links = await self._links([r.id for r in rows])
        return [self.service_json(r, links=links.get(r.id, [])) for r in rows], next_cursor

    async def listing(
        self,
        project_id: str | None = None,
        service_type: str | None = None,
        limit: int = 200,
        tags: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The first ``limit`` services as the API shows them (the dashboard's list), only those holding every
        one of ``tags`` when given."""
        from rivetr_core.pagination import PageQuery

        items, _ = await self.page_json(
            PageQuery(limit=min(limit, 200)), project_id=project_id, service_type=service_type, tags=tags
        )
        return items

    async def detail(self, service_id: str, *, reveal: bool = False) -> dict[str, Any]:
        """One service as the API shows it, with its linked apps and the bytes its volumes use."""
        row = await self.get(service_id)
        links = (await self._links([row.id])).get(row.id, [])
        out = self.service_json(row, reveal=reveal, links=links, sizes=await self._sizes(row))
        out["host_address"] = await self._host_address(row)
        return out

    async def find_json(self, service_id: str, *, reveal: bool = False) -> dict[str, Any] | None:
        try:
            return await self.detail(service_id, reveal=reveal)
        except NotFound:
            return None

    async def _links(self, service_ids: list[str]) -> dict[str, list[dict[str, str]]]:
        if not service_ids:
            return {}
        async with self.ctx.db.session() as session:
            rows = await session.exec(
                select(ServiceLink.service_id, ServiceLink.env_prefix, App.id, App.name)
                .where(col(ServiceLink.service_id).in_(service_ids), ServiceLink.app_id == App.id)
                .order_by(col(App.name), col(ServiceLink.env_prefix))
            )
            out: dict[str, list[dict[str, str]]] = {}
            for service_id, prefix, app_id, app_name in rows.all():
                out.setdefault(service_id, []).append(
                    {"app_id": app_id, "app_name": app_name, "env_prefix": prefix}
                )
            return out

    async def _sizes(self, row: ManagedService) -> dict[str, int | None]:
        runtime = self.ctx.runtime_if_ready()
        names = [service_volume_name(row.id, v.name) for v in self._volumes_of(row)]
        if runtime is None or not names:
            return {}
        try:
            return dict(await runtime.volume_sizes(names))
        except RivetrError:
            return {}

    async def _host_address(self, row: ManagedService) -> str | None:
        """The container's IP on the project network, which this host can reach (rootful engines): the end of
        an SSH tunnel from a laptop, since the host cannot resolve the service's name (only the network's DNS
        knows it). None when the engine does not say (not running, rootless) or does not answer quickly."""
        runtime = self.ctx.runtime_if_ready()
        if runtime is None or not row.container_id:
            return None
        try:
            info = await asyncio.wait_for(runtime.inspect(row.container_id), 5)
        except (RivetrError, TimeoutError):
            return None
        # The engine's ip:port names the image's first exposed port; the template's port is the one that counts.
        return info.address.rsplit(":", 1)[0] if info.address else None

    def _volumes_of(self, row: ManagedService) -> list[Any]:
        try:
            return list(self.template(row.type).volumes)
        except RivetrError:  # a plugin's template gone: the service is still listed
            return []

    def credentials(self, row: ManagedService) -> dict[str, str]:
        """Decrypted (in memory only: never logged, never stored in clear)."""
        creds: dict[str, str] = json.loads(self.ctx.secrets.decrypt(row.credentials_enc))
        return creds

    def environment(self, row: ManagedService) -> dict[str, str]:
        if not row.environment_enc:
            return {}
        env: dict[str, str] = json.loads(self.ctx.secrets.decrypt(row.environment_enc))
        return env

    def service_json(
        self,
        row: ManagedService,
        *,
        reveal: bool = False,
        links: list[dict[str, str]] | None = None,
        sizes: Mapping[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """The service as the API shows it (:class:`~.managed_responses.ServiceOut`)."""
        creds = self.credentials(row)
        url = None
        port = 0
        volumes = []
        try:
            template = self.template(row.type)
        except RivetrError:
            template = None
        if template is not None:
            port = template.port
            shown = creds if reveal else {**creds, "password": MASK}
            try:
                url = template.link_env("X", row.name, None, shown, row.name).get("X_URL")
            except Exception:  # a template that cannot render a URL still shows the rest
                url = None
            for v in template.volumes:
                engine = service_volume_name(row.id, v.name)
                volumes.append(
                    {"name": v.name, "path": v.path, "engine_name": engine, "size": (sizes or {}).get(engine)}
                )
        env = self.environment(row)
        return {
            "id": row.id,
            "name": row.name,
            "type": row.type,
            "version": row.version,
            "image": row.image,
            "project_id": row.project_id,
            "status": row.status,
            "desired_state": row.desired_state,
            "error": row.error,
            "memory_limit": row.memory_limit,
            "cpu_limit": row.cpu_limit,
            "public_port": row.public_port,
            "internal_host": row.name,
            "internal_port": port,
            "network": project_network_name(row.project_id),
            "volumes": volumes,
            "credentials": {
                "user": creds.get("user"),
                "password": creds.get("password") if reveal else (MASK if creds.get("password") else None),
                "database": creds.get("database"),
            },
            "connection_url": url,
            "environment": env if reveal else {k: MASK for k in env},
            "linked_apps": links or [],
            "tags": list(row.tags or ()),
            "created_at": isoformat(row.created_at) or "",
            "updated_at": isoformat(row.updated_at) or "",
        }

    # ------------------------------------------------------------------------------------------ checking
    def _check_limits(self, fields: Mapping[str, Any]) -> None:
        memory = fields.get("memory_limit")
        if memory is not None and memory < MIN_MEMORY:
            raise ValidationFailed.on("memory_limit", "must be at least 16m (a database needs more)")
        cpus = fields.get("cpu_limit")
        if cpus is not None and cpus <= 0:
            raise ValidationFailed.on("cpu_limit", "must be more than 0")

    async def _check_public_port(self, session: Any, port: int | None, own_id: str | None) -> None:
        if port is None:
            return
        if not 1024 <= port <= 65535:
            raise ValidationFailed.on("public_port", "must be 1024-65535")
        other = (await session.exec(select(ManagedService).where(ManagedService.public_port == port))).first()
        if other is not None and other.id != own_id:
            raise Conflict.on("public_port", f"already used by service {other.name!r}")
        if other is None and not _port_free(port):
            raise Conflict.on("public_port", f"port {port} is already in use on this host")

    async def _check_name(self, session: Any, name: str) -> None:
        if (await session.exec(select(App.id).where(App.name == name))).first() is not None:
            raise Conflict.on("name", "already taken", summary=f"an app named {name!r} already exists")
        if (await session.exec(select(ManagedService.id).where(ManagedService.name == name))).first():
            raise Conflict.on("name", "already taken", summary=f"a service named {name!r} already exists")
        stack = await session.exec(
            sa.text("SELECT 1 FROM stacks WHERE name = :name LIMIT 1"), params={"name": name}
        )
        if stack.first() is not None:
            raise Conflict.on("name", "already taken", summary=f"a stack named {name!r} already exists")

    def _check_version(self, template: Any, version: str | None) -> str:
        """The version checked against the template's (default: its first); 422 listing them."""
        _template, checked = self.catalog().resolve(template.name, version)
        return str(checked)

    def _image(self, template: Any, version: str) -> str:
        return resolve_image(template.image_ref(version), self.ctx.config.runtime.image_map)

    # ------------------------------------------------------------------------------------------ changing
    async def create(self, fields: Mapping[str, Any]) -> ManagedService:
        """A new service (status ``starting``); its container is pulled, started and checked in the
        background."""
        from rivetr_core.validation import check_name

        name = fields["name"]
        try:
            check_name(name)
        except ValueError as exc:
            raise ValidationFailed.on("name", str(exc)) from None
        template = self.template(fields["type"])
        version = self._check_version(template, fields.get("version"))
        self._check_limits(fields)
        environment = dict(fields.get("environment") or {})
        credentials = template.generate_credentials()
        try:
            template.render(name, credentials, environment)
        except KeyError as exc:
            raise ValidationFailed.on("environment", f"cannot render the template: {exc}") from None
        row = ManagedService(
            name=name,
            project_id=fields.get("project_id") or None,
            type=template.name,
            version=version,
            image=self._image(template, version),
            cpu_limit=fields.get("cpu_limit"),
            memory_limit=fields.get("memory_limit"),
            public_port=fields.get("public_port"),
            environment_enc=self.ctx.secrets.encrypt(json.dumps(environment)) if environment else None,
            credentials_enc=self.ctx.secrets.encrypt(json.dumps(credentials)),
            desired_state="running",
            status="starting",
            tags=check_tags(fields.get("tags")),
        )
        try:
            async with self.ctx.db.session() as session:
                if row.project_id and await session.get(Project, row.project_id) is None:
                    raise NotFound.on("project_id", f"no project with id {row.project_id!r}")
                await self._check_name(session, name)
                await self._check_public_port(session, row.public_port, None)
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except IntegrityError as exc:
            field = "public_port" if "public_port" in str(exc.orig) else "name"
            raise Conflict.on(field, "already in use") from None
        log.info("service %s (%s %s) created", row.name, row.type, row.version)
        self._background(row.id, lambda: self._converge(row.id, recreate=True, pull=True))
        self.start_monitor()
        return row

    async def update(self, service_id: str, fields: Mapping[str, Any]) -> ManagedService:
        """Change version (upgrade), limits, public port or environment: the container is recreated on the
        same volumes and checked again (in the background; status ``starting``). Tags alone just change."""
        for key in ("version", "environment", "tags"):
            if key in fields and fields[key] is None:
                raise ValidationFailed.on(key, "must not be null")
        tags = check_tags(fields["tags"]) if "tags" in fields else None
        # Tags label the service: changing only them neither recreates the container nor waits for a backup.
        runs_again = bool(set(fields) - {"tags"})
        if runs_again:
            self._refuse_during_backup(service_id, "change")
        self._check_limits(fields)
        async with self.ctx.db.session() as session:
            row = await session.get(ManagedService, service_id)
            if row is None:
                raise NotFound.of("service", service_id)
            if row.status == "deleting":
                raise Conflict("the service is being deleted", code="service_deleting")
            template = self.template(row.type)
            previous = row.version
            if "version" in fields:
                row.version = self._check_version(template, fields["version"])
                row.image = self._image(template, row.version)
            if "public_port" in fields:
                await self._check_public_port(session, fields["public_port"], row.id)
                row.public_port = fields["public_port"]
            for key in ("memory_limit", "cpu_limit"):
                if key in fields:
                    setattr(row, key, fields[key])
            if "environment" in fields:
                env = dict(fields["environment"])
                try:
                    template.render(row.name, self.credentials(row), env)
                except KeyError as exc:
                    raise ValidationFailed.on("environment", f"cannot render the template: {exc}") from None
                row.environment_enc = self.ctx.secrets.encrypt(json.dumps(env)) if env else None
            if tags is not None:
                row.tags = tags
            recreate = runs_again and row.desired_state == "running"
            if recreate:
                row.status, row.error = "starting", None
            row.updated_at = utcnow()
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict.on("public_port", "already in use") from None
            await session.refresh(row)
        if recreate:
            rollback = previous if row.version != previous else None
            self._background(
                row.id, lambda: self._converge(row.id, recreate=True, pull=True, rollback_to=rollback)
            )
        return row

    async def start(self, service_id: str) -> ManagedService:
        row = await self._set_desired(service_id, "running", status="starting")
        self._background(row.id, lambda: self._converge(row.id, recreate=False, pull=False))
        return row

    async def restart(self, service_id: str) -> ManagedService:
        row = await self._set_desired(service_id, "running", status="starting")

        async def restart() -> None:
            async with self._lock(service_id):
                current = await self.get(service_id)
                runtime = await self.ctx.runtime()
                self.events.add(service_id, "restarting")
                await self.lifecycle.stop(runtime, current.container_id, STOP_TIMEOUT)
            await self._converge(service_id, recreate=False, pull=False)

        self._background(row.id, restart)
        return row

    async def stop(self, service_id: str) -> ManagedService:
        """Stop the container (the data stays); it stays stopped across engine and Rivetr restarts."""
        self._refuse_during_backup(service_id, "stop")
        await self._set_desired(service_id, "stopped")
        self._cancel(service_id)
        async with self._lock(service_id):
            runtime = await self.ctx.runtime()
            for info in await runtime.list(labels={LABEL_SERVICE: service_id}):
                await self.lifecycle.stop(runtime, info.id, STOP_TIMEOUT)
            self.events.add(service_id, "stopped")
            return await self._set(service_id, status="stopped", error=None)

    async def delete(self, service_id: str, *, keep_volumes: bool = False, force: bool = False) -> None:
        """Remove the container, the volumes unless ``keep_volumes``, and the row. 409 naming the linked apps
        unless ``force`` (which deletes the links too: those apps lose the service at their next deploy)."""
        self._refuse_during_backup(service_id, "delete")
        row = await self.get(service_id)
        links = (await self._links([service_id])).get(service_id, [])
        if links and not force:
            names = sorted({link["app_name"] for link in links})
            raise Conflict(
                f"service {row.name!r} is linked to {', '.join(names)}: unlink first or delete with force=true",
                code="service_linked",
                details={"apps": [{"app_id": link["app_id"], "name": link["app_name"]} for link in links]},
            )
        await self._set(service_id, desired_state="deleting", status="deleting")
        self._cancel(service_id)
        async with self._lock(service_id):
            runtime = await self.ctx.runtime()
            for info in await runtime.list(labels={LABEL_SERVICE: service_id}):
                await runtime.remove(info.id, force=True)
            left: list[str] = []
            if not keep_volumes:
                names = [service_volume_name(row.id, v.name) for v in self._volumes_of(row)]
                left = await self.lifecycle.remove_volumes(runtime, names)
            async with self.ctx.db.session() as session:
                await session.exec(sql_delete(ServiceLink).where(col(ServiceLink.service_id) == service_id))  # type: ignore[call-overload]
                found = await session.get(ManagedService, service_id)
                if found is not None:
                    await session.delete(found)
                await session.commit()
            await self._drop_network(runtime, row.project_id)
        self.events.forget(service_id)
        self._locks.pop(service_id, None)
        log.info("service %s deleted%s", row.name, " (volumes kept)" if keep_volumes else "")
        if left:
            log.warning("volumes of deleted service %s left behind: %s", row.name, left)

    async def _drop_network(self, runtime: Any, project_id: str | None) -> None:
        """The project network goes with the project's last app, service or stack (best effort)."""
        from rivetr_core.projectnet import release_project_network

        await release_project_network(self.ctx.db, runtime, project_id)

    async def rotate_credentials(
        self, service_id: str, *, redeploy_apps: bool = True, may_deploy: bool = True
    ) -> dict[str, Any]:
        """Change the password in the running service (the template's rotate command), store it, recreate the
        container when its command carries the password (Redis' ``--requirepass``), then redeploy the linked
        apps that run (or are being deployed) so they get the new one: ``{"service", "redeployed",
        "not_redeployed", "apps_to_redeploy"}``. ``redeploy_apps`` False leaves every app to its next deploy;
        ``may_deploy`` False (the caller lacks the ``deploy`` permission) lists them as ``permission_denied``."""
        from rivetr_core.managed.template import PASSWORD_LENGTH, generate_secret

        self._refuse_during_backup(service_id, "rotate the credentials of")
        row = await self.get(service_id)
        template = self.template(row.type)
        if not template.rotatable:
            raise ValidationFailed.on(
                None, f"Services of type {template.name} cannot rotate their password in place"
            )
        if row.status != "running" or not row.container_id:
            raise Conflict("the service must be running to rotate its password", code="service_not_running")
        async with self._lock(service_id):
            row = await self.get(service_id)
            creds = self.credentials(row)
            env, _ = template.render(row.name, creds, self.environment(row))
            new_password = generate_secret(PASSWORD_LENGTH)
            command = template.rotate_command(creds, new_password, env, row.name)
            runtime = await self.ctx.runtime()
            assert row.container_id is not None and command is not None
            result = await runtime.exec(row.container_id, command)
            if result.exit_code != 0:
                # The output may echo the command line (with the passwords): keep only its last line's gist.
                raise RivetrError(
                    f"rotating the password failed in the service (exit code {result.exit_code})",
                    code="rotate_failed",
                )
            creds["password"] = new_password
            await self._set(service_id, credentials_enc=self.ctx.secrets.encrypt(json.dumps(creds)))
            self.events.add(service_id, "password rotated")
            recreate = any("${password}" in part for part in (template.command or ()))
        if recreate:
            await self._set(service_id, status="starting")
            self._background(service_id, lambda: self._converge(service_id, recreate=True, pull=False))
        redeployed, not_redeployed = await self._redeploy_linked(
            service_id, redeploy=redeploy_apps, may_deploy=may_deploy
        )
        return {
            "service": await self.detail(service_id),
            "redeployed": redeployed,
            "not_redeployed": not_redeployed,
            # Those still running with the old password (one never deployed gets the new one at its first).
            "apps_to_redeploy": [
                {"app_id": a["app_id"], "name": a["app_name"]}
                for a in not_redeployed
                if a["code"] not in ("not_deployed", "app_deleting")
            ],
        }

    async def _redeploy_linked(
        self, service_id: str, *, redeploy: bool, may_deploy: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Queue a deployment of each linked app that has a container running the old password, through the
        same entry point as ``POST /api/apps/{id}/deploy``; every other linked app is listed with why not."""
        from rivetr_core.models.apps import ACTIVE_STATUSES, Deployment

        async with self.ctx.db.session() as session:
            apps = (
                await session.exec(
                    select(App)
                    .where(
                        col(App.id).in_(
                            select(ServiceLink.app_id).where(ServiceLink.service_id == service_id)
                        )
                    )
                    .order_by(col(App.name))
                )
            ).all()
            ids = [a.id for a in apps]
            busy = (
                set(
                    (
                        await session.exec(
                            select(Deployment.app_id).where(
                                col(Deployment.app_id).in_(ids), col(Deployment.status).in_(ACTIVE_STATUSES)
                            )
                        )
                    ).all()
                )
                if ids
                else set()
            )
        redeployed: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []

        def skip(app: App, code: str, reason: str) -> None:
            skipped.append({"app_id": app.id, "app_name": app.name, "code": code, "reason": reason})

        for app in apps:
            # A deployment in flight may have read the old password already: it is superseded by a new one.
            deployed = app.current_deployment_id is not None or app.id in busy
            if app.status == "deleting":
                skip(app, "app_deleting", "the app is being deleted")
            elif not redeploy:
                skip(
                    app, "redeploy_off", "redeploy_apps was false: it keeps the old password until redeployed"
                )
            elif app.status == "stopped":
                skip(app, "app_stopped", "stopped: deploy it (Start would run the old password)")
            elif not deployed:
                skip(app, "not_deployed", "no deployed container: its next deployment gets the new password")
            elif not may_deploy:
                skip(app, "permission_denied", "redeploying needs the 'deploy' permission, which you lack")
            else:
                try:
                    dep = await self.ctx.services.apps.deploy(app.id, trigger="rotate-credentials")
                except RivetrError as exc:
                    skip(app, exc.code, exc.message)
                    continue
                redeployed.append({"app_id": app.id, "app_name": app.name, "deployment_id": dep.id})
        if redeployed:
            self.events.add(service_id, f"redeploying {', '.join(a['app_name'] for a in redeployed)}")
        return redeployed, skipped

    # ------------------------------------------------------------------------------------------- logs
    async def logs(self, service_id: str, tail: int, *, events: bool = False) -> list[dict[str, Any]]:
        """The container's last ``tail`` lines; before a container exists (pulling, a failed pull), or with
        ``events``, what Rivetr did (``stream: "rivetr"``: pull progress, starts, readiness, rotations)."""
        row = await self.get(service_id)
        runtime = self.ctx.runtime_if_ready()
        if row.container_id and runtime is not None and not events:
            try:
                return [
                    {"line": e.line, "stream": e.stream, "ts": isoformat(e.ts)}
                    async for e in runtime.logs(row.container_id, tail=tail)
                ]
            except RivetrError:
                pass
        return [
            {"line": e.line, "stream": e.stream, "ts": isoformat(e.ts)}
            for e in self.events.tail(service_id, tail)
        ]

    async def follow_logs(self, service_id: str, tail: int) -> AsyncIterator[dict[str, Any]]:
        """The container's output, live (the last ``tail`` lines first); ``NotFound`` before it answers,
        ``Conflict`` when the service has no container yet."""
        row = await self.get(service_id)
        if not row.container_id:
            raise Conflict("the service has no container yet", code="no_container")
        runtime = await self.ctx.runtime()
        entries = runtime.logs(row.container_id, tail=tail, follow=True)

        async def lines() -> AsyncIterator[dict[str, Any]]:
            async for e in entries:
                yield {"line": e.line, "stream": e.stream, "ts": isoformat(e.ts)}

        return lines()

    async def metrics(self, service_id: str, span: timedelta, points: int) -> dict[str, Any]:
        """The service's container over time, as an app's (``scope = "service"`` in the history)."""
        from rivetr_core.history.query import series

        await self.get(service_id)
        history = await series(self.ctx.db, "service", service_id, span, points)
        sampler = self.ctx.services.get("sampler")
        latest = dict((getattr(sampler, "last_services", {}) or {}).get(service_id) or {})
        latest.pop("name", None)
        return {"app_id": service_id, "points": history, "latest": latest or None}

    # --------------------------------------------------------------------------------------- start-up
    async def reconcile(self) -> list[str]:
        """After Rivetr starts: every service that should run and whose container does not is started (or
        recreated if the container is gone) and checked; one that runs is checked again. Returns their ids."""
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(select(ManagedService).where(ManagedService.desired_state == "running"))
            ).all()
            deleting = (
                await session.exec(select(ManagedService).where(ManagedService.desired_state == "deleting"))
            ).all()
        for row in deleting:  # a deletion the last stop cut short: finish it, keeping the volumes (safe side)
            try:
                await self.delete(row.id, keep_volumes=True, force=True)
            except RivetrError as exc:
                log.warning("could not finish deleting service %s: %s", row.name, exc.message)
        started = []
        for row in rows:
            await self._set(row.id, status="starting")
            self._background(row.id, functools.partial(self._converge, row.id, recreate=False, pull=False))
            started.append(row.id)
        if started:
            log.info("bringing %d managed service(s) back", len(started))
        if rows:
            self.start_monitor()
        return started

    # ------------------------------------------------------------------------------------------ monitor
    def start_monitor(self) -> None:
        """Watch the services from now on (once; only a server that has services runs it)."""
        if self._monitor is None or self._monitor.done():
            self._monitor = self.ctx.spawn(self._watch(), "services-monitor")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(MONITOR_INTERVAL)
            try:
                await self.check_all()
            except RivetrError as exc:  # the engine went away: the next round tries again
                log.debug("service monitor: %s", exc.message)

    async def check_all(self) -> None:
        """Run each settled service's readiness check once, so its status says whether it answers now, not only
        whether it did at its last start: ``running`` → ``failed`` (with why) when the check fails or the
        container stopped, and back to ``running`` once it passes (the engine's restart policy restarts a
        crashed container; this notices it). A service with an operation in flight is left to it."""
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(
                    select(ManagedService).where(
                        ManagedService.desired_state == "running",
                        col(ManagedService.status).in_(("running", "failed")),
                        col(ManagedService.container_id).is_not(None),
                    )
                )
            ).all()
        if not rows:
            return
        runtime = await self.ctx.runtime()
        for row in rows:
            task = self._tasks.get(row.id)
            if (
                (task is not None and not task.done())
                or self._lock(row.id).locked()
                or self._backing_up(row.id)
            ):
                continue  # an operation in flight, or a backup that may hold the container paused
            try:
                template = self.template(row.type)
            except RivetrError:
                continue
            problem = await self.lifecycle.check_once(
                runtime, self.plan(row, template, self._instance_id()), row
            )
            if problem and row.status == "running":
                self.events.add(row.id, f"not ready: {problem}")
                await self._set(row.id, status="failed", error=problem)
            elif not problem and row.status == "failed" and not (row.error or "").startswith("upgrade to"):
                self.events.add(row.id, "ready again")
                await self._set(row.id, status="running", error=None)

    # -------------------------------------------------------------------------------------- internals
    def _backing_up(self, service_id: str) -> str | None:
        """The backup or restore of the service in progress, if any (only a loaded backups feature runs one)."""
        backups = self.ctx.services.__dict__.get("backups")
        return backups.running_for(f"service:{service_id}") if backups is not None else None

    def _refuse_during_backup(self, service_id: str, action: str) -> None:
        """A dump or a restore runs against the live container: changing, stopping or deleting it meanwhile
        would cut it short (a restore half applied). 409 until it is over."""
        running = self._backing_up(service_id)
        if running:
            raise Conflict(
                f"cannot {action} the service while its backup or restore {running} runs; wait for it to finish",
                code="backup_in_progress",
                details={"running": running},
            )

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    def _cancel(self, service_id: str) -> None:
        task = self._tasks.pop(service_id, None)
        if task is not None and not task.done():
            task.cancel()

    def _background(self, service_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` after the service's current operation (one at a time per service)."""
        previous = self._tasks.get(service_id)

        async def run() -> None:
            if previous is not None and not previous.done():
                try:
                    await asyncio.shield(previous)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # this operation was cancelled (a stop, a deletion), not only the one before
                except Exception:
                    pass
            await work()

        self._tasks[service_id] = self.ctx.spawn(run(), f"service-{service_id}")

    async def _set(self, service_id: str, **fields: Any) -> ManagedService:
        async with self.ctx.db.session() as session:
            row = await session.get(ManagedService, service_id)
            if row is None:
                raise NotFound.of("service", service_id)
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
            await session.refresh(row)
            return row

    async def _set_desired(self, service_id: str, desired: str, **fields: Any) -> ManagedService:
        row = await self.get(service_id)
        if row.desired_state == "deleting":
            raise Conflict("the service is being deleted", code="service_deleting")
        return await self._set(service_id, desired_state=desired, **fields)

    def plan(self, row: ManagedService, template: Any, instance_id: str) -> ContainerPlan:
        """What to run for the service now (credentials and env decrypted in memory only)."""
        creds = self.credentials(row)
        env, command = template.render(row.name, creds, self.environment(row))
        health = template.health
        return ContainerPlan(
            service_id=row.id,
            name=row.name,
            container_name=service_container_name(row.name),
            image=row.image,
            network=project_network_name(row.project_id),
            project_id=row.project_id,
            instance_id=instance_id,
            port=template.port,
            env=env,
            command=command,
            volumes=[(v.name, v.path, service_volume_name(row.id, v.name)) for v in template.volumes],
            health_command=template.health_command(creds, env, row.name),
            health_timeout=health.timeout if health else 60.0,
            health_interval=health.interval if health else 1.0,
            public_port=row.public_port,
            cpu_limit=row.cpu_limit,
            memory_limit=row.memory_limit,
        )

    def _instance_id(self) -> str:
        return str(getattr(self.ctx.services.get("deployments"), "instance_id", "") or "")

    async def _converge(
        self, service_id: str, *, recreate: bool, pull: bool, rollback_to: str | None = None
    ) -> None:
        """Bring the service's container to running and ready; the status says how it went."""
        async with self._lock(service_id):
            try:
                row = await self.get(service_id)
            except NotFound:
                return
            if row.desired_state != "running":
                return
            try:
                template = self.template(row.type)
                runtime = await self.ctx.runtime()
                await self._up(runtime, row, template, recreate=recreate, pull=pull)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                message = exc.message if isinstance(exc, RivetrError) else f"{type(exc).__name__}: {exc}"
                tail = exc.details.get("log_tail") if isinstance(exc, NotReady) and exc.details else None
                if tail:
                    message += "\n" + "\n".join(tail)
                if not isinstance(exc, RivetrError):
                    log.exception("service %s: bringing it up failed", row.name)
                self.events.add(service_id, f"failed: {message.splitlines()[0]}")
                if rollback_to is not None:
                    await self._rollback(row, template, rollback_to, message)
                    return
                await self._set(service_id, status="failed", error=message)
                return
            self.events.add(service_id, "running")
            await self._set(service_id, status="running", error=None)

    async def _up(
        self, runtime: Any, row: ManagedService, template: Any, *, recreate: bool, pull: bool
    ) -> None:
        plan = self.plan(row, template, self._instance_id())
        container_id = row.container_id
        started = False
        if not recreate and container_id:
            await self.lifecycle.ensure_network(runtime, plan)
            started = await self.lifecycle.start_existing(runtime, container_id)
            if started:
                self.events.add(row.id, "container started")
        if not started:
            info = await self.lifecycle.bring_up(runtime, plan, container_id, pull_always=pull)
            container_id = info.id
            await self._set(row.id, container_id=info.id)
        assert container_id is not None
        await self.lifecycle.wait_ready(runtime, plan, container_id)

    async def _rollback(self, row: ManagedService, template: Any, version: str, why: str) -> None:
        """An upgrade that did not become ready: back to ``version`` on the same volumes (the data as it was)."""
        failed_version = row.version
        self.events.add(row.id, f"upgrade to {failed_version} failed: rolling back to {version}")
        row = await self._set(row.id, version=version, image=self._image(template, version))
        error = f"upgrade to {failed_version} failed, rolled back to {version}: {why}"
        try:
            runtime = await self.ctx.runtime()
            await self._up(runtime, row, template, recreate=True, pull=False)
        except Exception as exc:
            message = exc.message if isinstance(exc, RivetrError) else str(exc)
            await self._set(row.id, status="failed", error=f"{error}\nthe rollback failed too: {message}")
            return
        await self._set(row.id, status="running", error=error)
