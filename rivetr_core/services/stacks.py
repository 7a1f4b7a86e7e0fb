"""Compose stacks: create, read, update and delete them, deploy and roll them back, their services' status and
logs, and the project network's members; see docs/compose.md.

Rules:

* ``name`` is DNS-safe (at most 40 characters: ``<stack>-<service>`` must stay a host name), unique across apps,
  managed services and stacks (409).
* A stack is ``inline`` (``compose``: the pasted file, validated at once: a 422 names the key, the service and
  the line) or ``git`` (``repo_url``, ``branch``, ``compose_path``; the file is read and validated at each
  deploy). A pasted file cannot ``build`` (there is no context).
* ``domains`` route a host name to a service and container port: unique across apps, stacks and manual routes
  (409); one port per service.
* ``env`` are the variables the file interpolates, encrypted at rest and masked in answers unless revealed.
* A private repository is cloned as an app's: ``ssh_key_id`` (a deploy key; an SSH URL needs one) and/or
  ``git_token`` (HTTPS, sent as ``git_token_user``), encrypted at rest and never returned (``has_git_token``). A
  token written into an https ``repo_url`` moves to ``git_token``. ``webhook_secret`` (encrypted, never returned:
  ``has_webhook_secret``) lets a push signed with it deploy this stack. A pasted stack takes none of them.
* One deployment of a stack runs at a time; later ones wait for it (``queued``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, RuntimeUnavailable, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.engine.logs import BuildLogStore
from rivetr_core.models.apps import App, AppDomain, Project
from rivetr_core.models.core import ProxyRoute
from rivetr_core.models.services import ManagedService
from rivetr_core.models.stacks import (
    STACK_ACTIVE_STATUSES,
    Stack,
    StackDeployment,
    StackDeploymentLog,
    StackDomain,
)
from rivetr_core.tags import check_tags, has_tags

if TYPE_CHECKING:
    from rivetr_core.compose.model import ComposeProject
    from rivetr_core.context import RivetrContext
    from rivetr_core.contract import ContainerRuntime
    from rivetr_core.pagination import PageQuery

log = logging.getLogger("rivetr.stacks")

MASK = "********"
#: Built images of a stack's deployments kept for rollbacks (the current one's always).
KEEP_IMAGES = 3


def _split_url_token(fields: dict[str, Any]) -> None:
    """A token written into an https ``repo_url`` (``https://user:token@host/...``) moves to ``git_token``
    (encrypted), as an app's does: no column holds it in clear."""
    if not fields.get("repo_url"):
        return
    from rivetr_core.services.apps import split_credentials

    moved: dict[str, Any] = {"git_url": fields["repo_url"], "git_token": fields.get("git_token")}
    split_credentials(moved)
    fields["repo_url"] = moved["git_url"]
    if moved.get("git_token"):
        fields["git_token"] = moved["git_token"]


@dataclass
class DeployPlan:
    """What one deployment works from, read when it starts (decrypted env in memory only)."""

    stack: Stack
    deployment: StackDeployment
    env: dict[str, str]
    domains: list[StackDomain]
    previous: StackDeployment | None
    source: StackDeployment | None = None
    routed_ports: dict[str, int] = field(default_factory=dict)


class StackService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.logs = BuildLogStore(ctx.db, StackDeploymentLog)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._stack_tasks: dict[str, set[asyncio.Task[Any]]] = {}

    @property
    def instance_id(self) -> str:
        deployments = self.ctx.services.get("deployments")
        return str(getattr(deployments, "instance_id", "") or "")

    # ------------------------------------------------------------------------------------------ reading
    async def get(self, stack_id: str) -> Stack:
        async with self.db.session() as session:
            row = await session.get(Stack, stack_id)
            if row is None:
                row = (await session.exec(select(Stack).where(Stack.name == stack_id))).first()
        if row is None:
            raise NotFound.of("stack", stack_id)
        return row

    async def domains(self, stack_id: str) -> builtins.list[StackDomain]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(StackDomain).where(StackDomain.stack_id == stack_id).order_by(col(StackDomain.domain))
            )
            return list(rows.all())

    def env_of(self, row: Stack) -> dict[str, str]:
        if not row.env_enc:
            return {}
        return dict(json.loads(self.ctx.secrets.decrypt(row.env_enc)))

    def token_of(self, row: Stack) -> str | None:
        """The stack's HTTPS token in clear (for a clone, or a preview copying it), None without one."""
        return self.ctx.secrets.decrypt(row.git_token_enc) if row.git_token_enc else None

    async def ssh_private_key(self, row: Stack) -> str | None:
        """The decrypted deploy key of the stack, None without one; ``NotFound`` on ``ssh_key_id`` when the
        key it names is gone (a deploy then fails saying so)."""
        if not row.ssh_key_id:
            return None
        from rivetr_core.models.apps import SshKey

        async with self.db.session() as session:
            key = await session.get(SshKey, row.ssh_key_id)
        if key is None:
            raise NotFound.on("ssh_key_id", f"no SSH key with id {row.ssh_key_id!r}")
        return self.ctx.secrets.decrypt(key.private_key_enc)

    def _secret_fields(self, row: Stack, fields: dict[str, Any]) -> None:
        """Write-only ``git_token`` and ``webhook_secret`` of a body into their encrypted columns (an empty
        value or null removes them)."""
        box = self.ctx.secrets
        if "git_token" in fields:
            token = fields.pop("git_token")
            row.git_token_enc = box.encrypt(token) if token else None
        if "webhook_secret" in fields:
            secret = fields.pop("webhook_secret")
            row.webhook_secret_enc = box.encrypt(secret) if secret else None

    async def list(
        self, page: PageQuery, project_id: str | None = None, tags: builtins.list[str] | None = None
    ) -> tuple[list[Stack], str | None]:
        from rivetr_core.pagination import list_page

        async with self.db.session() as session:
            query = select(Stack)
            if project_id:
                query = query.where(Stack.project_id == project_id)
            if tags:
                query = query.where(has_tags(Stack.tags, tags))
            rows = list((await session.exec(query)).all())
        return list_page(rows, lambda r: (r.name,), (str,), page)

    # ------------------------------------------------------------------------------------------ writing
    async def create(self, fields: dict[str, Any]) -> Stack:
        fields["tags"] = check_tags(fields.get("tags"))
        domains = fields.pop("domains", None) or []
        env = fields.pop("env", None) or {}
        _split_url_token(fields)
        secrets: dict[str, Any] = {k: fields.pop(k) for k in ("git_token", "webhook_secret") if k in fields}
        row = Stack(**fields)
        self._secret_fields(row, secrets)
        await self._validate(row, env, domains, own_id=None)
        row.env_enc = self.ctx.secrets.encrypt(json.dumps(env)) if env else None
        async with self.db.session() as session:
            session.add(row)
            for d in domains:
                session.add(
                    StackDomain(domain=d["domain"], stack_id=row.id, service=d["service"], port=d["port"])
                )
            await session.commit()
            await session.refresh(row)
        log.info("stack %s created (%s)", row.name, row.source)
        return row

    async def update(self, stack_id: str, fields: dict[str, Any]) -> Stack:
        if "tags" in fields:
            if fields["tags"] is None:
                raise ValidationFailed.on("tags", "must not be null")
            fields["tags"] = check_tags(fields["tags"])
        row = await self.get(stack_id)
        domains = fields.pop("domains", None)
        env = fields.pop("env", None)
        _split_url_token(fields)
        if fields.get("source") == "inline":
            # A pasted file has no repository: its credentials and webhook secret go with the old one.
            for key in ("ssh_key_id", "git_token", "git_token_user", "webhook_secret"):
                if fields.get(key):
                    raise ValidationFailed.on(key, "a pasted compose file has no repository to use it for")
                fields[key] = None
        self._secret_fields(row, fields)
        for key, value in fields.items():
            setattr(row, key, value)
        current_env = self.env_of(row) if env is None else env
        current_domains = (
            [{"domain": d.domain, "service": d.service, "port": d.port} for d in await self.domains(row.id)]
            if domains is None
            else domains
        )
        await self._validate(row, current_env, current_domains, own_id=row.id)
        if env is not None:
            row.env_enc = self.ctx.secrets.encrypt(json.dumps(env)) if env else None
        row.updated_at = utcnow()
        async with self.db.session() as session:
            session.add(row)
            if domains is not None:
                old = {
                    d.domain
                    for d in (
                        await session.exec(select(StackDomain).where(StackDomain.stack_id == row.id))
                    ).all()
                }
                await session.exec(  # type: ignore[call-overload]
                    sa.delete(StackDomain).where(col(StackDomain.stack_id) == row.id)
                )
                for d in domains:
                    session.add(
                        StackDomain(domain=d["domain"], stack_id=row.id, service=d["service"], port=d["port"])
                    )
            await session.commit()
            await session.refresh(row)
        if domains is not None:
            # A domain no longer in the list stops routing now; new ones route at the next deploy.
            for domain in old - {d["domain"] for d in domains}:
                existing = await self.ctx.services.routes.get(domain)
                if existing is not None and existing.stack_id == row.id:
                    await self.ctx.services.routes.remove(domain)
        return row

    async def _validate(
        self, row: Stack, env: Mapping[str, str], domains: builtins.list[dict[str, Any]], own_id: str | None
    ) -> None:
        if row.source == "inline":
            if not row.compose:
                raise ValidationFailed.on("compose", "a stack without a repository needs the compose file")
            for key, value in (
                ("ssh_key_id", row.ssh_key_id),
                ("git_token", row.git_token_enc),
                ("git_token_user", row.git_token_user),
                ("webhook_secret", row.webhook_secret_enc),
            ):
                if value:
                    raise ValidationFailed.on(key, "a pasted compose file has no repository to use it for")
            project = self.validate_compose(row.compose, env, list(row.profiles or ()))
            services = set(project.services)
        else:
            if not row.repo_url:
                raise ValidationFailed.on("repo_url", "a git stack needs a repository URL")
            from rivetr_core.engine.gitsource import classify_url

            kind = classify_url(row.repo_url)
            if kind in ("file", "local") and not self.ctx.config.git.allow_local:
                raise ValidationFailed.on(
                    "repo_url", "local paths and file:// URLs are disabled ([git] allow_local)"
                )
            if kind == "ssh" and not row.ssh_key_id:
                raise ValidationFailed.on(
                    "ssh_key_id", "an SSH repository URL needs a deploy key (ssh_key_id, POST /api/ssh-keys)"
                )
            if row.git_token_enc and kind not in ("https", "http"):
                raise ValidationFailed.on(
                    "git_token", "a token is sent over https:// or http:// only (SSH: ssh_key_id)"
                )
            services = set()
        if row.previews and row.source != "git":
            raise ValidationFailed.on("previews", "previews need a repository (pull requests): a git stack")
        ports: dict[str, int] = {}
        for i, d in enumerate(domains):
            if services and d["service"] not in services:
                raise ValidationFailed.on(
                    f"domains[{i}].service",
                    f"no service {d['service']!r} in the compose file",
                    available=sorted(services),
                )
            if ports.setdefault(d["service"], d["port"]) != d["port"]:
                raise ValidationFailed.on(
                    f"domains[{i}].port",
                    f"service {d['service']!r} is already routed on port {ports[d['service']]}",
                )
        async with self.db.session() as session:
            if row.project_id and await session.get(Project, row.project_id) is None:
                raise NotFound.on("project_id", f"no project with id {row.project_id!r}")
            if row.ssh_key_id:
                from rivetr_core.models.apps import SshKey

                if await session.get(SshKey, row.ssh_key_id) is None:
                    raise NotFound.on("ssh_key_id", f"no SSH key with id {row.ssh_key_id!r}")
            other = (await session.exec(select(Stack.id).where(Stack.name == row.name))).first()
            if other is not None and other != own_id:
                raise Conflict.on(
                    "name", "already taken", summary=f"a stack named {row.name!r} already exists"
                )
            if (await session.exec(select(App.id).where(App.name == row.name))).first() is not None:
                raise Conflict.on(
                    "name", "already taken", summary=f"an app named {row.name!r} already exists"
                )
            if (await session.exec(select(ManagedService.id).where(ManagedService.name == row.name))).first():
                raise Conflict.on(
                    "name", "already taken", summary=f"a service named {row.name!r} already exists"
                )
            seen: set[str] = set()
            for i, d in enumerate(domains):
                domain = d["domain"]
                if domain in seen:
                    raise ValidationFailed.on(f"domains[{i}].domain", f"{domain} is listed twice")
                seen.add(domain)
                if domain == self.ctx.config.server.dashboard_domain:
                    raise Conflict.on(f"domains[{i}].domain", f"{domain} is the dashboard's")
                from rivetr_core.domainhosts import check_host_shared_in_project

                # Paths of one host (api.example.com/v1) are shared inside one project only.
                await check_host_shared_in_project(
                    session,
                    domain,
                    field=f"domains[{i}].domain",
                    owner_id=own_id,
                    project_id=row.project_id,
                    dashboard_domain=self.ctx.config.server.dashboard_domain,
                )
                if await session.get(AppDomain, domain) is not None:
                    raise Conflict.on(f"domains[{i}].domain", f"{domain} is an app's domain")
                owner = await session.get(StackDomain, domain)
                if owner is not None and owner.stack_id != own_id:
                    raise Conflict.on(f"domains[{i}].domain", f"{domain} is another stack's domain")
                route = await session.get(ProxyRoute, domain)
                if route is not None and route.stack_id != own_id:
                    raise Conflict.on(f"domains[{i}].domain", f"{domain} is already routed (a manual route)")

    def validate_compose(
        self, text: str, env: Mapping[str, str], profiles: builtins.list[str]
    ) -> ComposeProject:
        """A pasted file, checked as a deploy would read it (422 naming the key, service, line)."""
        from rivetr_core.compose.loader import load_compose

        return load_compose(
            text,
            env=env,
            base_dir=None,
            profiles=profiles,
            allow_build=False,
            allowed_bind_roots=list(self.ctx.config.volumes.allowed_bind_roots),
        )

    async def delete(self, stack_id: str, *, volumes: bool = False) -> None:
        """Stop and remove every container, network and route of the stack (``volumes``: its data too); its
        previews go first, with their data."""
        row = await self.get(stack_id)
        async with self.db.session() as session:
            previews = (await session.exec(select(Stack.id).where(Stack.preview_of == row.id))).all()
        for preview_id in previews:
            await self.delete(preview_id, volumes=True)
        # Any deployment of the stack still working (queued, starting, or live and draining its old
        # containers) stops first: it would otherwise race this removal container by container.
        for task in [t for t in self._stack_tasks.get(row.id, set()) if not t.done()]:
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), 30)
        async with self.db.session() as session:
            db_row = await session.get(Stack, row.id)
            if db_row is not None:
                db_row.status = "deleting"
                session.add(db_row)
                await session.commit()
        for domain in await self.domains(row.id):
            existing = await self.ctx.services.routes.get(domain.domain)
            if existing is not None and existing.stack_id == row.id:
                await self.ctx.services.routes.remove(domain.domain)
        try:
            await self._remove_from_engine(await self.ctx.runtime(), row, volumes=volumes)
        except RuntimeUnavailable:
            if row.current_deployment_id is not None:
                raise  # its containers must go with it: delete again once the engine answers
            # It never ran: nothing of it is on the engine but perhaps a network, which the engine keeps.
            log.warning(
                "stack %s deleted without its engine (%s)", row.name, self.ctx.runtime_error or "down"
            )
        async with self.db.session() as session:
            db_row = await session.get(Stack, row.id)
            if db_row is not None:
                await session.delete(db_row)
                await session.commit()
        runtime = self.ctx.runtime_if_ready()
        if runtime is not None:
            from rivetr_core.projectnet import release_project_network

            await release_project_network(self.db, runtime, row.project_id)
        import shutil

        await asyncio.to_thread(
            shutil.rmtree, self.ctx.config.server.data_dir.resolve() / "stacks" / row.id, True
        )
        log.info("stack %s deleted", row.name)

    async def _remove_from_engine(self, runtime: ContainerRuntime, row: Stack, *, volumes: bool) -> None:
        # In parallel: a process without a SIGTERM handler (PID 1 without init, compose's default) takes the
        # whole stop timeout each.
        containers = await runtime.list(labels={"rivetr.stack": row.id})
        results = await asyncio.gather(
            *(self.remove_container(runtime, info.id) for info in containers), return_exceptions=True
        )
        failed = [(info.name, exc) for info, exc in zip(containers, results, strict=True) if exc is not None]
        if failed:  # the stack stays "deleting"; deleting it again retries
            name, exc = failed[0]
            raise RivetrError(
                f"stack {row.name}: {len(failed)} container(s) could not be removed ({name}: {exc}); try again",
                code="stack_delete_incomplete",
            )
        remove_network = getattr(runtime, "remove_network", None)
        if remove_network is not None:
            from rivetr_core.stacks.naming import stack_network

            for name in await self._network_keys(row):
                with contextlib.suppress(RivetrError):
                    await remove_network(stack_network(row.id, name))
        if volumes:
            for name in await runtime.list_volumes({"rivetr.stack": row.id}):
                try:
                    await runtime.remove_volume(name)
                except RivetrError as exc:
                    log.warning("stack %s: volume %s kept: %s", row.name, name, exc.message)
        for image in await runtime.list_images({"rivetr.stack": row.id}):
            with contextlib.suppress(Exception):
                await runtime.remove_image(image, force=True)

    async def _network_keys(self, row: Stack) -> set[str]:
        """The compose network keys the stack's deployments used."""
        keys = {"default"}
        async with self.db.session() as session:
            deps = (
                await session.exec(select(StackDeployment).where(StackDeployment.stack_id == row.id))
            ).all()
        for dep in deps:
            keys.update(dep.networks or [])
        return keys

    # ---------------------------------------------------------------------------------------- deploying
    async def deploy(
        self, stack_id: str, *, trigger: str = "api", rollback_of: str | None = None
    ) -> StackDeployment:
        row = await self.get(stack_id)
        if row.status == "deleting":
            raise Conflict(f"stack {row.name} is being deleted", code="stack_deleting")
        source = None
        if rollback_of is not None:
            source = await self.get_deployment(rollback_of)
            if source.stack_id != row.id:
                raise ValidationFailed.on("deployment_id", "that deployment belongs to another stack")
            if source.status not in ("running", "superseded"):
                raise ValidationFailed.on(
                    "deployment_id", f"deployment {source.id} never went live ({source.status})"
                )
        from rivetr_core.engine.planes import plane_id_of

        dep = StackDeployment(
            stack_id=row.id, trigger=trigger, rollback_of=rollback_of, plane_id=plane_id_of(self.ctx)
        )
        async with self.db.session() as session:
            session.add(dep)
            await session.commit()
            await session.refresh(dep)
        self.resume(row.id, dep.id, f"queued ({trigger})")
        return dep

    def resume(self, stack_id: str, dep_id: str, note: str = "") -> None:
        """Run a queued deployment here: one just created, or one a dead control plane queued and this one
        adopted (engine/adoption.py). Waits behind the stack's earlier deployments."""
        # Open from the start: a follower of a deployment still queued behind another waits for its lines
        # instead of being told it ended.
        self.logs.open(dep_id)
        self.logs.append(dep_id, note or "queued here: the control plane that queued it stopped")
        task = self._tasks[dep_id] = self.ctx.spawn(self._run(stack_id, dep_id), f"stack-deploy-{dep_id}")
        tasks = self._stack_tasks.setdefault(stack_id, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def rollback(self, stack_id: str, deployment_id: str | None) -> StackDeployment:
        """To ``deployment_id``, or the last deployment that went live before the current one."""
        row = await self.get(stack_id)
        if deployment_id is None:
            async with self.db.session() as session:
                rows = await session.exec(
                    select(StackDeployment)
                    .where(
                        StackDeployment.stack_id == row.id,
                        StackDeployment.status == "superseded",
                        StackDeployment.id != (row.current_deployment_id or ""),
                    )
                    .order_by(col(StackDeployment.created_at).desc())
                )
                target = rows.first()
            if target is None:
                raise Conflict(
                    f"stack {row.name} has no earlier deployment to roll back to", code="no_rollback"
                )
            deployment_id = target.id
        return await self.deploy(row.id, trigger="rollback", rollback_of=deployment_id)

    def deploy_lock(self, stack_id: str) -> asyncio.Lock:
        """Held by a deployment of the stack from its plan to its end, and by whatever else moves its routes
        (:mod:`rivetr_core.stacks.moved`)."""
        return self._locks.setdefault(stack_id, asyncio.Lock())

    async def _run(self, stack_id: str, dep_id: str) -> None:
        from rivetr_core.engine.claims import claim_stack_deployment
        from rivetr_core.engine.planes import plane_id_of
        from rivetr_core.stacks.deployer import StackDeployer

        lock = self._locks.setdefault(stack_id, asyncio.Lock())
        try:
            async with lock:
                plan = await self._plan(stack_id, dep_id)
                if plan is None:
                    return
                if self.db.dialect == "postgresql" and not await claim_stack_deployment(
                    self.db, dep_id, plane_id_of(self.ctx)
                ):
                    return  # another control plane on this database runs it (engine/claims.py)
                await self._set_stack(stack_id, status="deploying")
                await StackDeployer(self, plan).run()
        finally:
            self._tasks.pop(dep_id, None)
            await self.logs.close(dep_id)  # a deployment that never ran (cancelled while queued) ends too

    async def _plan(self, stack_id: str, dep_id: str) -> DeployPlan | None:
        async with self.db.session() as session:
            stack = await session.get(Stack, stack_id)
            dep = await session.get(StackDeployment, dep_id)
            if stack is None or dep is None or dep.status != "queued":
                return None
            previous = (
                await session.get(StackDeployment, stack.current_deployment_id)
                if stack.current_deployment_id
                else None
            )
            source = await session.get(StackDeployment, dep.rollback_of) if dep.rollback_of else None
        domains = await self.domains(stack_id)
        return DeployPlan(
            stack=stack,
            deployment=dep,
            env=self.env_of(stack),
            domains=domains,
            previous=previous,
            source=source,
            routed_ports={d.service: d.port for d in domains},
        )

    async def cancel(self, dep_id: str) -> StackDeployment:
        dep = await self.get_deployment(dep_id)
        if dep.status not in STACK_ACTIVE_STATUSES:
            raise Conflict(
                f"deployment {dep_id} is {dep.status}; only an active one can be cancelled", code="not_active"
            )
        task = self._tasks.get(dep_id)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(task), 60)
        dep = await self.get_deployment(dep_id)
        if dep.status == "queued":
            dep = await self.update_deployment(dep_id, status="cancelled", finished_at=utcnow())
        return dep

    async def get_deployment(self, dep_id: str) -> StackDeployment:
        async with self.db.session() as session:
            dep = await session.get(StackDeployment, dep_id)
        if dep is None:
            raise NotFound.of("deployment", dep_id)
        return dep

    async def list_deployments(
        self, stack_id: str, page: PageQuery
    ) -> tuple[builtins.list[StackDeployment], str | None]:
        from rivetr_core.pagination import list_page

        row = await self.get(stack_id)
        async with self.db.session() as session:
            rows = list(
                (await session.exec(select(StackDeployment).where(StackDeployment.stack_id == row.id))).all()
            )
        return list_page(
            rows, lambda d: (isoformat(d.created_at) or "", d.id), (str, str), page, descending=True
        )

    async def update_deployment(self, dep_id: str, **fields: Any) -> StackDeployment:
        async with self.db.session() as session:
            previous = await self._apply_deployment(session, dep_id, fields)
            await session.commit()
            dep = await session.get(StackDeployment, dep_id)
            if dep is None:  # deleted between the commit and the read
                raise NotFound.of("deployment", dep_id)
            await session.refresh(dep)
        self._mark(dep_id, previous, fields)
        return dep

    async def _set_stack(self, stack_id: str, **fields: Any) -> None:
        async with self.db.session() as session:
            row = await session.get(Stack, stack_id)
            if row is None:
                return
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()

    async def deployment_succeeded(self, plan: DeployPlan, **dep_fields: Any) -> None:
        """The deployment's final row and its stack's in one transaction: a client that sees the deployment
        running also sees the stack pointing at it."""
        async with self.db.session() as session:
            previous_status = await self._apply_deployment(session, plan.deployment.id, dep_fields)
            stack = await session.get(Stack, plan.stack.id)
            if stack is not None:
                if plan.previous is not None:
                    prev = await session.get(StackDeployment, plan.previous.id)
                    if prev is not None and prev.status == "running":
                        prev.status = "superseded"
                        session.add(prev)
                stack.current_deployment_id = plan.deployment.id
                stack.status, stack.error, stack.updated_at = "running", None, utcnow()
                session.add(stack)
            await session.commit()
        self._mark(plan.deployment.id, previous_status, dep_fields)
        self._emit("stack_deployment_succeeded", plan, f"stack {plan.stack.name} is live", "success")

    async def deployment_failed(self, plan: DeployPlan, error: str | None, **dep_fields: Any) -> None:
        # The old stack keeps running when there is one; a first deployment that failed leaves nothing.
        # Both rows change in one transaction, so a client never sees a failed deployment of a deploying stack.
        async with self.db.session() as session:
            previous_status = await self._apply_deployment(
                session, plan.deployment.id, {**dep_fields, "error": error}
            )
            stack = await session.get(Stack, plan.stack.id)
            if stack is not None:
                stack.status = "running" if plan.previous is not None else "failed"
                stack.error, stack.updated_at = error, utcnow()
                session.add(stack)
            await session.commit()
        self._mark(plan.deployment.id, previous_status, dep_fields)
        self._emit(
            "stack_deployment_failed",
            plan,
            f"deployment of stack {plan.stack.name} failed: {error}",
            "failure",
        )

    @staticmethod
    async def _apply_deployment(session: Any, dep_id: str, fields: dict[str, Any]) -> str | None:
        dep = await session.get(StackDeployment, dep_id)
        if dep is None:
            raise NotFound.of("deployment", dep_id)
        previous = dep.status
        for key, value in fields.items():
            setattr(dep, key, value)
        session.add(dep)
        return previous

    def _mark(self, dep_id: str, previous: str | None, fields: dict[str, Any]) -> None:
        if "status" in fields and fields["status"] != previous:
            self.logs.mark(dep_id, fields["status"])

    def _emit(self, kind: str, plan: DeployPlan, message: str, level: str) -> None:
        from rivetr_core.contract import RivetrEvent

        try:
            self.ctx.emit(
                RivetrEvent(
                    type=kind,
                    message=message,
                    level=level,  # type: ignore[arg-type]
                    deployment_id=plan.deployment.id,
                    data={"stack_id": plan.stack.id, "stack": plan.stack.name},
                )
            )
        except Exception:
            log.debug("emitting %s failed", kind, exc_info=True)

    async def remove_container(self, runtime: ContainerRuntime, container_id: str) -> None:
        from rivetr_core.contract import ContainerNotFound

        try:
            await runtime.stop(container_id, timeout=None)  # the service's stop_grace_period (or 10 s)
        except ContainerNotFound:
            return
        except Exception:
            log.warning("stopping container %s failed; removing it anyway", container_id[:12], exc_info=True)
        with contextlib.suppress(ContainerNotFound):
            await runtime.remove(container_id, force=True)

    async def alias_clashes(self, project_id: str | None, aliases: builtins.list[str]) -> builtins.list[str]:
        """Which of a stack's project-network names (``<stack>-<service>``) an app or managed service of the
        same project already answers to: both would resolve, so a deploy refuses it."""
        async with self.db.session() as session:
            apps = (
                await session.exec(
                    select(App.name).where(App.project_id == project_id, col(App.name).in_(aliases))
                )
            ).all()
            services = (
                await session.exec(
                    select(ManagedService.name).where(
                        ManagedService.project_id == project_id, col(ManagedService.name).in_(aliases)
                    )
                )
            ).all()
        return sorted({*apps, *services})

    async def ensure_project_network(self, runtime: ContainerRuntime, project_id: str | None) -> str | None:
        """The project's private network (isolated from other projects where the runtime can), or None when
        the runtime has no networks."""
        from rivetr_core.projectnet import ensure_project_network

        return await ensure_project_network(runtime, project_id, self.instance_id)

    async def prune_images(self, stack: Stack, runtime: ContainerRuntime) -> None:
        """Built images of deployments older than the last :data:`KEEP_IMAGES` that went live go."""
        async with self.db.session() as session:
            deps = list(
                (
                    await session.exec(
                        select(StackDeployment)
                        .where(StackDeployment.stack_id == stack.id)
                        .order_by(col(StackDeployment.created_at).desc())
                    )
                ).all()
            )
        keep: set[str] = set()
        live = [d for d in deps if d.status in ("running", "superseded")][:KEEP_IMAGES]
        for dep in live:
            keep.update(str(s.get("image")) for s in (dep.services or {}).values() if isinstance(s, dict))
        for image in await runtime.list_images({"rivetr.stack": stack.id}):
            if image not in keep:
                with contextlib.suppress(Exception):
                    await runtime.remove_image(image)

    # ---------------------------------------------------------------------------------------- observing
    async def detail(self, stack_id: str, *, reveal: bool = False) -> dict[str, Any]:
        """A stack as every face shows it (``GET /api/stacks/{id}``, the dashboard): variables masked unless
        ``reveal``, its services with their containers as the engine sees them now."""
        from rivetr_core.projectnet import project_network_name

        row = await self.get(stack_id)
        return {
            "id": row.id,
            "name": row.name,
            "project_id": row.project_id,
            "source": row.source,
            "compose": row.compose,
            "repo_url": row.repo_url,
            "branch": row.branch,
            "compose_path": row.compose_path,
            "ssh_key_id": row.ssh_key_id,
            "has_git_token": row.git_token_enc is not None,
            "git_token_user": row.git_token_user,
            "has_webhook_secret": row.webhook_secret_enc is not None,
            "profiles": list(row.profiles or ()),
            "previews": row.previews,
            "preview_of": row.preview_of,
            "pr_number": row.pr_number,
            "domains": [
                {"domain": d.domain, "service": d.service, "port": d.port} for d in await self.domains(row.id)
            ],
            "env": {k: (v if reveal else MASK) for k, v in self.env_of(row).items()},
            "status": row.status,
            "error": row.error,
            "current_deployment_id": row.current_deployment_id,
            "network": project_network_name(row.project_id),
            "services": await self.service_status(row),
            "tags": list(row.tags or ()),
            "created_at": isoformat(row.created_at) or "",
            "updated_at": isoformat(row.updated_at) or "",
        }

    async def service_status(self, row: Stack) -> builtins.list[dict[str, Any]]:
        """Each service of the current deployment with its containers as the engine sees them now."""
        current = await self.get_deployment(row.current_deployment_id) if row.current_deployment_id else None
        recorded = dict((current.services if current else {}) or {})
        domains = await self.domains(row.id)
        runtime = self.ctx.runtime_if_ready()
        live: dict[str, Any] = {}
        if runtime is not None and recorded:
            with contextlib.suppress(Exception):
                live = {c.id: c for c in await runtime.list(labels={"rivetr.stack": row.id})}
        from rivetr_core.stacks.naming import project_alias

        out = []
        for name in sorted(recorded):
            entry = recorded[name]
            containers: builtins.list[dict[str, Any]] = []
            for c in entry.get("containers") or []:
                info = live.get(c.get("id"))
                containers.append(
                    {
                        "id": c.get("id"),
                        "name": c.get("name"),
                        "status": info.status if info else ("unknown" if runtime is None else "missing"),
                        "health": info.health if info else None,
                        "upstream": c.get("upstream"),
                    }
                )
            statuses = {c["status"] for c in containers}
            out.append(
                {
                    "name": name,
                    "image": entry.get("image"),
                    "status": "running"
                    if statuses == {"running"}
                    else ", ".join(sorted(statuses)) or "unknown",
                    "replicas": len(containers),
                    "containers": containers,
                    "internal_names": [name, project_alias(row.name, name)],
                    "domains": [d.domain for d in domains if d.service == name],
                    "last_action": entry.get("action"),
                }
            )
        return out

    async def service_container_ids(self, stack_id: str, service: str) -> builtins.list[str]:
        row = await self.get(stack_id)
        current = await self.get_deployment(row.current_deployment_id) if row.current_deployment_id else None
        entry = ((current.services if current else {}) or {}).get(service)
        if not entry:
            raise NotFound.of("service", f"{row.name}/{service}")
        return [c["id"] for c in entry.get("containers") or [] if c.get("id")]

    async def metrics(self, stack_id: str, span: Any, points: int) -> dict[str, Any]:
        """All the stack's containers summed over time, as an app's (``scope = "stack"`` in the history)."""
        from rivetr_core.history.query import series

        row = await self.get(stack_id)
        history = await series(self.ctx.db, "stack", row.id, span, points)
        sampler = self.ctx.services.get("sampler")
        latest = dict((getattr(sampler, "last_stacks", {}) or {}).get(row.id) or {})
        latest.pop("name", None)
        return {"app_id": row.id, "points": history, "latest": latest or None}

    # ------------------------------------------------------------------------------------------ recovery
    async def recover(
        self, ids: builtins.list[str] | None = None, error: str = "interrupted: the server stopped"
    ) -> int:
        """At start-up: deployments a stopped server left active failed (their containers are removed, the
        previous ones started again where they were stopped). ``ids``: only those (a dead control plane's,
        engine/adoption.py)."""
        query = select(StackDeployment).where(col(StackDeployment.status).in_(STACK_ACTIVE_STATUSES))
        if ids is not None:
            query = query.where(col(StackDeployment.id).in_(ids))
        async with self.db.session() as session:
            rows = list((await session.exec(query)).all())
        if not rows:
            return 0
        runtime = self.ctx.runtime_if_ready()
        for dep in rows:
            if runtime is not None:
                with contextlib.suppress(Exception):
                    for info in await runtime.list(labels={"rivetr.deployment": dep.id}):
                        await self.remove_container(runtime, info.id)
            await self.update_deployment(dep.id, status="failed", error=error, finished_at=utcnow())
            async with self.db.session() as session:
                stack = await session.get(Stack, dep.stack_id)
                current = (
                    await session.get(StackDeployment, stack.current_deployment_id)
                    if stack and stack.current_deployment_id
                    else None
                )
            start = getattr(runtime, "start", None) if runtime is not None else None
            if start is not None:
                # The old containers the interrupted deployment had stopped (recreated services) run again.
                for container_id in dep.stopped or []:
                    with contextlib.suppress(Exception):
                        await start(container_id)
            if stack is not None:
                await self._set_stack(stack.id, status="running" if current else "failed")
        return len(rows)
