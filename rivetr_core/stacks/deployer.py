"""One deployment of a compose stack: ``source → build/pull → start (depends_on order) → health → switch → drain``.

Per service, against what the previous deployment runs (its config hash: the service's definition, its image and
where it is routed):

* unchanged and running → kept as it is (a one-shot that exited is run again, as ``docker-compose up`` does);
* routed (a stack domain points at it) → blue/green like an app: the new containers start beside the old ones,
  pass their health check, and the proxy switches to them once every service of the stack is ready; the old
  ones drain and stop;
* otherwise → recreated: the old containers are stopped (a database must not run twice on one volume), the new
  ones started. They are removed only once the deployment succeeds; when it fails, the new containers go and the
  stopped ones start again, so the old stack keeps running.

Services start concurrently as soon as what they depend on is ready (``service_started``, ``service_healthy``,
``service_completed_successfully``), like compose; a dependency that fails or never gets healthy fails the
deployment, naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import BuildSpec, ContainerInfo, ContainerNotFound, ImageNotFound, RivetrError
from rivetr_core.db import utcnow
from rivetr_core.engine.steps import timed_step

from . import naming
from .restart_limits import ignored_restart_timing
from .runspec import StackContext, label_map, run_spec

if TYPE_CHECKING:
    from rivetr_core.compose.model import ComposeProject, ServiceSpec
    from rivetr_core.contract import ContainerRuntime
    from rivetr_core.services.stacks import StackService

log = logging.getLogger("rivetr.stacks")

#: Longest wait for a dependency or a routed service to become ready when its healthcheck gives no bound.
READY_CAP = 600.0
#: Longest pause between two looks at a container that is not ready yet: a health state is seen at most this
#: late (compose waits on engine events; polling every 0.25 s costs one inspect per service and period).
POLL_CAP = 0.25
#: How long a routed service without a healthcheck may take to accept TCP connections on its routed port.
TCP_READY_TIMEOUT = 120.0


class StackDeployError(Exception):
    """A deployment step failed; the message is what the user reads."""


@dataclass
class Running:
    """The containers of one service in this deployment."""

    image: str
    hash: str
    routed: bool
    containers: list[dict[str, Any]] = field(default_factory=list)
    source_hash: str | None = None
    #: "kept", "recreated", "replaced" (blue/green), "started" (new service)
    action: str = "started"

    def as_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "hash": self.hash,
            "routed": self.routed,
            "containers": self.containers,
            "source_hash": self.source_hash,
            "action": self.action,
        }


@dataclass
class Ready:
    """Events a dependent waits on."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the service's own task ended (ok or not)
    error: str | None = None


class StackDeployer:
    def __init__(self, service: StackService, plan: Any) -> None:
        self.svc = service
        self.plan = plan  # services.stacks.DeployPlan: stack, deployment, env, domains, previous, source
        self.dep_id: str = plan.deployment.id
        self.steps: dict[str, Any] = {}
        self.workdir: Path | None = None
        self.project: ComposeProject | None = None
        self.running: dict[str, Running] = {}
        self.ready: dict[str, Ready] = {}
        #: containers this deployment started (removed if it fails)
        self.started_ids: list[str] = []
        #: old containers this deployment stopped (started again if it fails)
        self.stopped_old: list[str] = []
        #: old containers to remove once the deployment succeeded (after the switch and drain)
        self.retire: list[dict[str, Any]] = []
        self.built_images: list[str] = []
        self._source_hashes: dict[str, str] = {}
        self.switched = False

    # ------------------------------------------------------------------------------------------ helpers
    def log(self, line: str) -> None:
        self.svc.logs.append(self.dep_id, line)

    def step(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        return timed_step(self.steps, name)

    async def status(self, status: str, **fields: Any) -> None:
        await self.svc.update_deployment(self.dep_id, status=status, steps=dict(self.steps), **fields)

    @property
    def previous(self) -> dict[str, Any]:
        prev = self.plan.previous
        return dict(prev.services) if prev is not None else {}

    # ---------------------------------------------------------------------------------------------- run
    async def run(self) -> None:
        svc, stack = self.svc, self.plan.stack
        svc.logs.open(self.dep_id)
        try:
            runtime = await svc.ctx.runtime()
            await self.status("cloning", started_at=utcnow())
            async with self.step("clone"):
                text, base_dir = await self._source()
            project = self.project = self._load(text, base_dir)
            for warning in ignored_restart_timing(runtime, project):
                self.log(f"warning: {warning}")
            aliases = [naming.project_alias(stack.name, name) for name in project.services]
            clashes = await svc.alias_clashes(stack.project_id, aliases)
            if clashes:
                raise StackDeployError(
                    f"{', '.join(clashes)}: already the name of an app or service of this project; rename the "
                    "stack or the service (a stack service is <stack>-<service> on the project network)"
                )
            await self.svc.update_deployment(self.dep_id, compose=text, networks=sorted(project.networks))
            await self.status("building")
            async with self.step("build"):
                images = await self._images(runtime, project, base_dir)
            await self.status("starting")
            async with self.step("start"):
                ctx = await self._context(runtime, project)
                await self._start_all(runtime, project, ctx, images)
            self._retire_removed(project)
            await self.status("switching")
            # Shielded: a cancel or shutdown arriving now must not leave routes moved and the stack unrecorded.
            await asyncio.shield(self._go_live())
            async with self.step("drain"):
                await self._retire(runtime)
            await svc.update_deployment(self.dep_id, steps=dict(self.steps))
            await svc.prune_images(stack, runtime)
        except asyncio.CancelledError:
            if self.switched:
                raise
            await asyncio.shield(self._abort("cancelled", None))
        except Exception as exc:
            if self.switched:
                log.exception("post-switch step of stack deployment %s failed", self.dep_id)
                await svc.update_deployment(self.dep_id, steps=dict(self.steps))
            else:
                from rivetr_core.engine.gitsource import GitSourceError

                if not isinstance(exc, RivetrError | StackDeployError | GitSourceError):
                    log.exception("stack deployment %s failed unexpectedly", self.dep_id)
                message = exc.message if isinstance(exc, RivetrError) else str(exc)
                await asyncio.shield(self._abort("failed", message, exc))
        finally:
            if self.workdir is not None:
                await asyncio.to_thread(shutil.rmtree, self.workdir, True)
            await svc.logs.close(self.dep_id)

    async def _go_live(self) -> None:
        async with self.step("switch"):
            await self._switch()
        await self.svc.deployment_succeeded(
            self.plan,
            status="running",
            steps=dict(self.steps),
            finished_at=utcnow(),
            services={name: r.as_json() for name, r in self.running.items()},
        )
        self.log(f"stack {self.plan.stack.name} is live: {', '.join(sorted(self.running))}")

    def _retire_removed(self, project: ComposeProject) -> None:
        """Services of the previous deployment the file no longer runs (removed, or left out by a profile)
        go once this deployment is live, like compose's ``--remove-orphans``."""
        for name, entry in self.previous.items():
            if name in project.services or not isinstance(entry, dict):
                continue
            containers = [c for c in entry.get("containers") or [] if c.get("id")]
            self.retire.extend({**c, "service": name} for c in containers)
            if containers:
                self.log(f"[{name}] no longer in the file: its containers go once the stack is live")

    # ------------------------------------------------------------------------------------------- source
    async def _source(self) -> tuple[str, Path | None]:
        """The compose text and the directory it lives in (None for a pasted file)."""
        stack, source = self.plan.stack, self.plan.source
        if source is not None:  # rollback: the file as that deployment read it, its images (no build)
            self.log(f"rolling back to deployment {source.id}: its compose file and images")
            if not source.compose:
                raise StackDeployError(f"deployment {source.id} has no compose file to roll back to")
            if stack.source != "git" or not source.commit_sha:
                return source.compose, None
            # The repository at that commit: build contexts, env files, configs and secrets as they were.
            from .source import checkout

            self.workdir = self.svc.ctx.config.server.data_dir.resolve() / "builds" / f"stack-{self.dep_id}"
            result = await checkout(self, stack, self.workdir, commit=source.commit_sha)
            await self.svc.update_deployment(
                self.dep_id, commit_sha=result.commit_sha, commit_message=result.commit_message
            )
            return source.compose, result.base_dir
        if stack.source == "inline":
            self.log("compose file: pasted (no repository)")
            return stack.compose or "", None
        from .source import checkout

        self.workdir = self.svc.ctx.config.server.data_dir.resolve() / "builds" / f"stack-{self.dep_id}"
        result = await checkout(self, stack, self.workdir)
        await self.svc.update_deployment(
            self.dep_id, commit_sha=result.commit_sha, commit_message=result.commit_message
        )
        return result.text, result.base_dir

    def _load(self, text: str, base_dir: Path | None) -> ComposeProject:
        from rivetr_core.compose.loader import load_compose

        plan, config = self.plan, self.svc.ctx.config
        project = load_compose(
            text,
            env=plan.env,
            base_dir=base_dir,
            profiles=list(plan.stack.profiles or ()),
            allow_build=base_dir is not None,
            allowed_bind_roots=list(config.volumes.allowed_bind_roots),
            file_name=plan.stack.compose_path or "compose.yaml",
        )
        for warning in project.warnings:
            self.log(f"warning: {warning}")
        for domain in plan.domains:
            if domain.service not in project.services:
                raise StackDeployError(
                    f"domain {domain.domain} routes to service {domain.service!r}, which the compose file does "
                    f"not run (services: {', '.join(sorted(project.services))})"
                )
        order = " → ".join(", ".join(level) for level in project.start_order())
        self.log(f"compose file: {len(project.services)} services, start order: {order}")
        return project

    # ----------------------------------------------------------------------------------- images
    async def _images(
        self, runtime: ContainerRuntime, project: ComposeProject, base_dir: Path | None
    ) -> dict[str, str]:
        """Each service's image: built (or the previous build reused when its context did not change), or
        pulled when missing; a rollback reuses the images its source deployment ran."""
        images: dict[str, str] = {}
        source = self.plan.source
        if source is not None:
            for name in project.services:
                image = (source.services.get(name) or {}).get("image")
                if not image or not await runtime.image_exists(image):
                    raise StackDeployError(
                        f"cannot roll back: the image of service {name} ({image or 'unknown'}) is gone "
                        "(deploy again instead)"
                    )
                images[name] = image
            return images
        jobs = []
        for spec in project.services.values():
            if spec.build is not None and base_dir is not None:
                jobs.append(self._build(runtime, spec, base_dir, images))
            elif spec.image:
                jobs.append(self._pull(runtime, spec, images))
        for coro in jobs:  # builds share two cores: one at a time keeps each fast and its log readable
            await coro
        return images

    async def _pull(self, runtime: ContainerRuntime, spec: ServiceSpec, images: dict[str, str]) -> None:
        from rivetr_core.managed.images import resolve_image

        assert spec.image
        image = resolve_image(spec.image, self.svc.ctx.config.runtime.image_map)
        images[spec.name] = image
        if await runtime.image_exists(image):
            return
        pull = getattr(runtime, "pull", None)
        if pull is None:
            raise StackDeployError(
                f"service {spec.name}: image {image} is missing and {runtime.name} cannot pull"
            )
        self.log(f"[{spec.name}] pulling {image}")
        try:
            async for line in pull(image):
                self.log(f"[{spec.name}] {line}")
        except ImageNotFound as exc:
            raise StackDeployError(f"service {spec.name}: {exc.message}") from exc

    async def _build(
        self, runtime: ContainerRuntime, spec: ServiceSpec, base_dir: Path, images: dict[str, str]
    ) -> None:
        assert spec.build is not None
        build = spec.build
        context = (base_dir / build.context).resolve()
        source_hash = await asyncio.to_thread(_context_hash, context, build)
        prev = self.previous.get(spec.name) or {}
        if prev.get("source_hash") == source_hash and prev.get("image"):
            if await runtime.image_exists(prev["image"]):
                self.log(f"[{spec.name}] build context unchanged: reusing {prev['image']}")
                images[spec.name] = prev["image"]
                self._source_hashes[spec.name] = source_hash
                return
        tag = naming.image_tag(self.plan.stack.name, spec.name, self.dep_id)
        request = BuildSpec(
            context_dir=context,
            tag=tag,
            dockerfile=build.dockerfile,
            build_args=dict(build.args),
            labels={"rivetr.stack": self.plan.stack.id, "rivetr.instance": self.svc.instance_id},
            cpu_limit=spec.cpu_limit,
            memory_limit=spec.memory_limit,
            target=build.target,
        )
        self.log(f"[{spec.name}] building {tag} from {build.context or '.'} ({build.dockerfile})")
        async for line in runtime.build(request):
            self.log(f"[{spec.name}] {line}")
        self.built_images.append(tag)
        images[spec.name] = tag
        self._source_hashes[spec.name] = source_hash

    # ------------------------------------------------------------------------------------ networks, ctx
    async def _context(self, runtime: ContainerRuntime, project: ComposeProject) -> StackContext:
        stack, config = self.plan.stack, self.svc.ctx.config
        runtime_cfg = config.runtime
        log_size = runtime_cfg.log_max_size or None
        ctx = StackContext(
            stack_id=stack.id,
            stack=stack.name,
            deployment_id=self.dep_id,
            instance=self.svc.instance_id,
            project_network=None,
            # The host protection apps get by default (a compose file's own limits are its services' cpu/memory).
            log_max_size=log_size,
            log_max_files=runtime_cfg.log_max_files if log_size else None,
            oom_score_adj=runtime_cfg.oom_score_adj or None,
            pids_limit=runtime_cfg.pids_limit or None,
        )
        # A stack's own networks are isolated like project networks (podman does not keep bridges apart by
        # itself): only the stack's services are on them.
        ensure = getattr(runtime, "ensure_project_network", None) or getattr(runtime, "ensure_network", None)
        if ensure is None:
            raise StackDeployError(f"the {runtime.name} runtime cannot create networks, which stacks need")
        labels = {
            "rivetr.stack": stack.id,
            naming.LABEL_STACK_NAME: stack.name,
            "rivetr.instance": self.svc.instance_id,
        }
        for key, network in project.networks.items():
            name = naming.stack_network(stack.id, key)
            # The file's own network labels, then Rivetr's (which it may not override).
            await ensure(name, {**label_map((network or {}).get("labels")), **labels})
            ctx.networks[key] = name
        ctx.project_network = await self.svc.ensure_project_network(runtime, stack.project_id)
        for key, volume in project.volumes.items():
            ctx.volumes[key] = naming.volume_name(stack.id, key)
            ctx.volume_labels[key] = label_map((volume or {}).get("labels"))
        return ctx

    # ------------------------------------------------------------------------------------------ start
    async def _start_all(
        self, runtime: ContainerRuntime, project: ComposeProject, ctx: StackContext, images: dict[str, str]
    ) -> None:
        self.ready = {name: Ready() for name in project.services}
        files = await asyncio.to_thread(self._persist_files, project)
        tasks = {
            name: asyncio.ensure_future(self._service(runtime, project, ctx, images, name, files))
            for name in project.services
        }
        try:
            await asyncio.gather(*tasks.values())
        except BaseException:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise

    async def _await_dependencies(self, runtime: ContainerRuntime, spec: ServiceSpec) -> None:
        for dep in spec.depends_on:
            ready = self.ready[dep.service]
            await ready.started.wait()
            if ready.error:
                raise StackDeployError(
                    f"service {spec.name} depends on {dep.service}, which failed: {ready.error}"
                )
            running = self.running[dep.service]
            for container in running.containers:
                if dep.condition == "service_healthy":
                    await self._wait_healthy(runtime, dep.service, container["id"])
                elif dep.condition == "service_completed_successfully":
                    await self._wait_completed(runtime, dep.service, container["id"])

    async def _service(
        self,
        runtime: ContainerRuntime,
        project: ComposeProject,
        ctx: StackContext,
        images: dict[str, str],
        name: str,
        files: dict[str, str],
    ) -> None:
        spec = project.services[name]
        ready = self.ready[name]
        try:
            await self._await_dependencies(runtime, spec)
            routed_port = self.plan.routed_ports.get(name)
            image = images[name]
            config_hash = _hash(_stable(spec, files).config_hash(image), routed_port, ctx, files, spec)
            prev = self.previous.get(name) or {}
            running = Running(
                image=image,
                hash=config_hash,
                routed=routed_port is not None,
                source_hash=self._source_hashes.get(name),
            )
            self.running[name] = running
            old = [c for c in prev.get("containers") or [] if c.get("id")]
            if prev.get("hash") == config_hash and old and await self._keep(runtime, name, old, running):
                ready.started.set()
                return
            specs = [
                run_spec(
                    ctx,
                    spec,
                    image=image,
                    replica=i,
                    config_hash=config_hash,
                    routed_port=routed_port,
                    files=files,
                )
                for i in range(1, spec.replicas + 1)
            ]
            fixed_ports = any(p.host_port for p in spec.ports)
            if old and (routed_port is None or fixed_ports):
                running.action = "recreated"
                await asyncio.gather(*(self._stop_old(runtime, c["id"]) for c in old))
                self.retire.extend({**c, "service": name, "upstream": None} for c in old)
                self.log(f"[{name}] changed: stopped the previous container(s) to recreate")
            elif old:
                running.action = "replaced"
                self.retire.extend({**c, "service": name} for c in old)
            for run in specs:
                info = await runtime.run(run)
                self.started_ids.append(info.id)
                upstream = _upstream(info, routed_port)
                running.containers.append({"id": info.id, "name": run.name, "upstream": upstream})
                self.log(
                    f"[{name}] started {run.name} ({info.id[:12]})" + (f" at {upstream}" if upstream else "")
                )
            ready.started.set()
            if routed_port is not None:
                await self.status("health_checking")
                for container in running.containers:
                    await self._wait_serving(runtime, name, container, spec)
        except BaseException as exc:
            ready.error = str(exc) if not isinstance(exc, asyncio.CancelledError) else "cancelled"
            ready.started.set()
            raise
        finally:
            ready.done.set()

    async def _stop_old(self, runtime: ContainerRuntime, container_id: str) -> None:
        # Recorded first: a server stopped right now finds on record which old containers to start again.
        self.stopped_old.append(container_id)
        await self.svc.update_deployment(self.dep_id, stopped=list(self.stopped_old))
        with contextlib.suppress(ContainerNotFound):
            await runtime.stop(container_id, timeout=None)  # the service's stop_grace_period (or 10 s)

    async def _keep(
        self, runtime: ContainerRuntime, name: str, old: list[dict[str, Any]], running: Running
    ) -> bool:
        """Keep an unchanged service's containers (True), unless one is gone: then it is recreated."""
        infos: list[ContainerInfo] = []
        for c in old:
            try:
                infos.append(await runtime.inspect(c["id"]))
            except ContainerNotFound:
                return False
        for info, c in zip(infos, old, strict=True):
            if not info.running:
                if info.exit_code == 0 and info.status == "exited":
                    start = getattr(runtime, "start", None)
                    if start is None:
                        return False
                    await start(info.id)  # a one-shot (migrate) runs again at each deploy, as with compose
                    self.log(f"[{name}] unchanged; ran {c.get('name') or info.name} again")
                else:
                    return False
        running.containers = [dict(c) for c in old]
        running.action = "kept"
        self.log(f"[{name}] unchanged: kept {', '.join(str(c.get('name') or c['id'][:12]) for c in old)}")
        return True

    # ------------------------------------------------------------------------------------------ waits
    async def _wait_healthy(self, runtime: ContainerRuntime, service: str, container_id: str) -> None:
        spec = self.project.services[service] if self.project else None
        health = spec.healthcheck if spec else None
        if health is None or health.test[:1] == ["NONE"]:
            info = await runtime.inspect(container_id)
            if info.health is None:
                raise StackDeployError(
                    f"service {service} has no healthcheck, but a dependent waits for it to be healthy"
                )
        bound = READY_CAP
        if health is not None:
            bound = min(
                READY_CAP, health.start_period + (health.interval + health.timeout) * (health.retries + 2)
            )
        deadline = time.monotonic() + bound
        delay = 0.05
        while True:
            info = await runtime.inspect(container_id)
            if info.health == "healthy":
                return
            if not info.running:
                raise StackDeployError(
                    f"service {service} exited (code {info.exit_code}) before becoming healthy"
                    + await self._tail(runtime, container_id)
                )
            if info.health == "unhealthy":
                raise StackDeployError(
                    f"service {service} is unhealthy" + await self._tail(runtime, container_id)
                )
            if time.monotonic() > deadline:
                raise StackDeployError(f"service {service} did not become healthy within {bound:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_CAP)

    async def _wait_completed(self, runtime: ContainerRuntime, service: str, container_id: str) -> None:
        delay, deadline = 0.05, time.monotonic() + READY_CAP
        while True:
            info = await runtime.inspect(container_id)
            if not info.running and info.status in ("exited", "dead", "stopped"):
                if info.exit_code == 0:
                    return
                raise StackDeployError(
                    f"service {service} exited with code {info.exit_code}"
                    + await self._tail(runtime, container_id)
                )
            if time.monotonic() > deadline:
                raise StackDeployError(f"service {service} did not complete within {READY_CAP:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_CAP)

    async def _wait_serving(
        self, runtime: ContainerRuntime, service: str, container: dict[str, Any], spec: ServiceSpec
    ) -> None:
        """A routed container is ready when its healthcheck passes or, without one, when its routed port accepts
        TCP connections."""
        if spec.healthcheck is not None and spec.healthcheck.test[:1] != ["NONE"]:
            await self._wait_healthy(runtime, service, container["id"])
            self.log(f"[{service}] {container['name']} is healthy")
            return
        upstream = container.get("upstream")
        if not upstream:
            raise StackDeployError(f"service {service}: no address to route to (is the port exposed?)")
        host, _, port = upstream.rpartition(":")
        deadline, delay = time.monotonic() + TCP_READY_TIMEOUT, 0.02
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), 2)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                self.log(f"[{service}] {container['name']} accepts connections at {upstream}")
                return
            except (OSError, TimeoutError):
                pass
            info = await runtime.inspect(container["id"])
            if not info.running:
                raise StackDeployError(
                    f"service {service} exited (code {info.exit_code}) before accepting connections on {upstream}"
                    + await self._tail(runtime, container["id"])
                )
            if time.monotonic() > deadline:
                raise StackDeployError(f"service {service} accepted no connection on {upstream} in time")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _tail(self, runtime: ContainerRuntime, container_id: str, n: int = 5) -> str:
        lines: list[str] = []
        with contextlib.suppress(Exception):
            async for entry in runtime.logs(container_id, tail=n):
                lines.append(entry.line)
        return (": " + " | ".join(lines[-n:])) if lines else ""

    # ------------------------------------------------------------------------------------ switch, drain
    async def _switch(self) -> None:
        routes = self.svc.ctx.services.routes
        for domain in self.plan.domains:
            running = self.running.get(domain.service)
            upstreams = [c["upstream"] for c in (running.containers if running else []) if c.get("upstream")]
            if not upstreams:
                raise StackDeployError(f"domain {domain.domain}: service {domain.service} has no upstream")
        async with self.svc.db.session() as session:
            rows = []
            for domain in self.plan.domains:
                running = self.running[domain.service]
                upstreams = [c["upstream"] for c in running.containers if c.get("upstream")]
                rows.append(
                    await routes.stage(session, domain.domain, upstreams, stack_id=self.plan.stack.id)
                )
            await session.commit()
        self.switched = True
        for row in rows:
            await routes.publish(row)
            self.log(f"switched {row.domain} to {', '.join(row.upstreams)}")

    async def _retire(self, runtime: ContainerRuntime) -> None:
        # The same drain-then-stop an app's replicas go through (one helper for both kinds).
        from rivetr_core.engine.replicas import drain_and_remove

        await drain_and_remove(self.svc, runtime, [(c["id"], c.get("upstream")) for c in self.retire])
        if self.retire:
            self.log(f"removed {len(self.retire)} previous container(s)")

    # ------------------------------------------------------------------------------------------ abort
    async def _abort(self, status: str, error: str | None, exc: BaseException | None = None) -> None:
        svc = self.svc
        self.log(f"deployment {status}" + (f": {error}" if error else ""))
        runtime = svc.ctx.runtime_if_ready()
        if runtime is not None:
            for container_id in self.started_ids:
                await svc.remove_container(runtime, container_id)
            start = getattr(runtime, "start", None)
            for container_id in self.stopped_old:
                if start is None:
                    break
                try:
                    await start(container_id)
                    self.log(f"started the previous container {container_id[:12]} again")
                except Exception as start_exc:  # reported, the deployment already failed
                    self.log(f"could not start the previous container {container_id[:12]} again: {start_exc}")
            for image in self.built_images:
                with contextlib.suppress(Exception):
                    await runtime.remove_image(image, force=True)
        details = getattr(exc, "details", None)
        if isinstance(details, list):  # a compose file's problems, one per line (the error names the first)
            for item in details[:50]:
                if isinstance(item, dict):
                    self.log(f"  {item.get('field')}: {item.get('message')}")
        await svc.deployment_failed(
            self.plan,
            error,
            status=status,
            log_tail=svc.logs.tail(self.dep_id, 20),
            steps=dict(self.steps),
            finished_at=utcnow(),
        )

    # ------------------------------------------------------------------------------------------- files
    def _persist_files(self, project: ComposeProject) -> dict[str, str]:
        """Blocking: copy the configs and secrets of the file into the stack's data directory (a checkout is
        deleted after the deployment), by content so an unchanged file keeps its path (and the config hash). A
        secret from the stack's environment is written there the same way (mode 0444, as a file secret)."""
        from rivetr_core.compose.model import CONTENT_SOURCE, ENV_SOURCE

        out: dict[str, str] = {}
        root = self.svc.ctx.config.server.data_dir.resolve() / "stacks" / self.plan.stack.id / "files"
        for spec in project.services.values():
            for f in spec.files:
                if f.source_path.startswith(ENV_SOURCE):  # compose `environment:`: the stack's variable
                    data = self.plan.env[f.source_path[len(ENV_SOURCE) :]].encode()
                elif f.source_path.startswith(CONTENT_SOURCE):  # a config's compose `content:`
                    data = f.source_path[len(CONTENT_SOURCE) :].encode()
                else:
                    data = Path(f.source_path).read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                target = root / digest
                if not target.exists():
                    root.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_suffix(".tmp")
                    tmp.write_bytes(data)
                    os.chmod(tmp, 0o444)
                    tmp.replace(target)
                out[f"{f.kind}:{f.name}"] = str(target)
        return out


def _hash(base: str, routed_port: int | None, ctx: StackContext, files: dict[str, str], spec: Any) -> str:
    """The service's definition (with its image) and where Rivetr puts it: a change in either recreates it."""
    extra = {
        "routed_port": routed_port,
        "project_network": ctx.project_network,
        "networks": sorted(ctx.networks.get(k, k) for k in spec.networks),
        "files": sorted(files.get(f"{f.kind}:{f.name}", "") for f in spec.files),
    }
    return hashlib.sha256((base + json.dumps(extra, sort_keys=True)).encode()).hexdigest()


def _stable(spec: ServiceSpec, files: dict[str, str]) -> ServiceSpec:
    """The service with its config and secret files at their persisted (content-addressed) paths: a checkout's
    path changes at every deployment, the content does not."""
    if not spec.files:
        return spec
    moved = [
        dataclasses.replace(f, source_path=files.get(f"{f.kind}:{f.name}", f.source_path)) for f in spec.files
    ]
    return dataclasses.replace(spec, files=moved)


def _upstream(info: ContainerInfo, port: int | None) -> str | None:
    """Where the proxy reaches the routed port: a host port it is published on (on the address it is bound
    to; every interface: loopback, or the node's address for a task on another node), else the container's
    address on one of its networks (rootful engines)."""
    if port is None:
        return None
    for binding in info.ports:
        if binding.container_port == port and binding.host_port and binding.protocol == "tcp":
            # Every interface: loopback here, or the node's address when the task runs on another node.
            anywhere = info.node_address or "127.0.0.1"
            host = binding.host_ip if binding.host_ip not in ("", "0.0.0.0", "::") else anywhere
            return f"[{host}]:{binding.host_port}" if ":" in host else f"{host}:{binding.host_port}"
    for ip in info.networks.values():
        if ip:
            return f"{ip}:{port}"
    return info.upstream


def _context_hash(context: Path, build: Any) -> str:
    """Blocking: a digest of the build context's files (names, modes, contents) and the build settings, so an
    unchanged service is not rebuilt at each deployment."""
    digest = hashlib.sha256(json.dumps([build.dockerfile, sorted(build.args.items()), build.target]).encode())
    for root, dirs, names in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            path = Path(root, name)
            rel = path.relative_to(context).as_posix()
            try:
                st = path.lstat()
                digest.update(f"{rel}\0{st.st_mode}\0".encode())
                if path.is_symlink():
                    digest.update(os.readlink(path).encode())
                elif path.is_file():
                    with path.open("rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 16), b""):
                            digest.update(chunk)
            except OSError:
                continue
    return digest.hexdigest()
