"""The steps of one deployment, each timed into ``Deployment.steps``.

``clone → build → [release] → start → health → switch → drain → [post_deploy]`` (a rollback skips clone and build
and reuses the image; the bracketed steps run when the app sets the command, see :mod:`.release`; a pre-built
image app pulls instead of clone and build, see :mod:`.image_source`).
Status moves ``queued → cloning → building → starting → health_checking → switching → running``; any failure
marks the deployment ``failed`` with the reason and the build-log tail, removes what it started (container,
image) and leaves the previous version serving: the proxy is only touched in ``switch``, after the new
container passed its health check.

Only ``switch`` is shielded from cancellation (a half-switched route set is worse than either state); once it
began, the deployment finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import (
    BuildFailed,
    BuildRequest,
    ClusterRuntime,
    ContainerInfo,
    ContainerRuntime,
    HealthCheck,
    HealthResult,
    HealthTarget,
    Mount,
    RivetrError,
    RunSpec,
)
from rivetr_core.contract.repofiles import read_repo_text
from rivetr_core.db import utcnow
from rivetr_core.models.apps import App, Deployment
from rivetr_core.secrets import MASK

from .gitsource import CloneRequest, GitSourceError, classify_url, clone_sync
from .limits import effective_limits
from .ports import DEFAULT_PORT, PORT_DETECT, chosen_port, port_reason
from .selection import health_kind, health_options
from .steps import timed_step
from .untrusted import LogCap, find_dockerfile, remote_adds

if TYPE_CHECKING:
    from .service import DeploymentService

log = logging.getLogger("rivetr.engine.pipeline")

LABEL_MANAGED = "rivetr.managed"
LABEL_INSTANCE = "rivetr.instance"
LABEL_APP = "rivetr.app"
LABEL_DEPLOYMENT = "rivetr.deployment"
TAIL_LINES = 20


class PipelineError(Exception):
    """A step failed for a reason worth showing the user as the deployment's ``error``."""


@dataclass
class AppSnapshot:
    """What a pipeline needs of an app, read once at its start (later edits apply to the next deploy)."""

    app: App
    domains: list[str]
    env: dict[str, str]
    ssh_private_key: str | None
    git_token: str | None
    git_token_user: str | None = None  # user name sent with git_token (None: the askpass default)
    #: The code comes from a fork's pull request: built and run on the isolated ``[previews] fork_network``,
    #: with the fork build limits, its log capped and ``ADD <url>`` refused.
    untrusted: bool = False
    #: The app's volumes and bind mounts: every container of the app (deploy, rollback, crash restart) gets
    #: the same ones, so named volumes carry its data from one container to the next.
    mounts: list[Mount] = field(default_factory=list)
    #: What the app's links to managed services give it (``DATABASE_URL``...); the app's own ``env`` wins
    #: over a variable of the same name. Empty for an app without links (and for previews: they get none).
    link_env: dict[str, str] = field(default_factory=dict)
    #: The app's project network (already created): the container joins it, reaches the project's services,
    #: apps and stack services by name, and is reachable as the app's name. None: the engine's default
    #: network (a runtime without networks).
    network: str | None = None
    #: Variables with ``build`` or ``both`` scope: the build's arguments (``env`` holds ``runtime``/``both``).
    build_env: dict[str, str] = field(default_factory=dict)
    #: The secret ones among ``build_env``: builders keep them out of the image's history where they can, and
    #: their values are masked in the build log.
    build_secrets: list[str] = field(default_factory=list)


#: Secret build values shorter than this are not masked in the build log (masking "1" or "yes" would garble
#: every line; docs/builds.md says so).
MIN_MASKED_LENGTH = 4


def secret_build_values(request: BuildRequest) -> list[str]:
    """The values of the request's secret build arguments to mask in its log, longest first (a secret that
    contains another is masked whole)."""
    values = {request.build_args.get(name, "") for name in request.secret_build_args}
    return sorted((v for v in values if len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True)


def mask_secrets(line: str, values: list[str]) -> str:
    for value in values:
        if value in line:
            line = line.replace(value, MASK)
    return line


def app_build_request(
    app: App, source_dir: Path, tag: str, build_args: dict[str, str], secret_build_args: list[str]
) -> BuildRequest:
    """What a build of ``app`` asks its builder (deployments and build plans): the app's Dockerfile settings and
    its overrides for zero-config builders."""
    return BuildRequest(
        source_dir=source_dir,
        tag=tag,
        dockerfile=app.dockerfile,
        build_context=app.build_context,
        build_args=build_args,
        secret_build_args=secret_build_args,
        settings={
            "install_command": app.install_command,
            "build_command": app.build_command,
            "start_command": app.start_command,
            "base_image": app.base_image,
            # None while the first deployment has not chosen the port: the builder's detection decides.
            "port": None if app.port == PORT_DETECT else str(app.port),
        },
    )


def image_tag(app_name: str, deployment_id: str) -> str:
    return f"localhost/rivetr/{app_name}:{deployment_id}"


def container_name(app_name: str, deployment_id: str, restart: int = 0, replica: int = 0) -> str:
    """Replica 0 keeps the name a one-container app always had; replica ``i`` adds ``-<i>``."""
    return (
        f"rivetr-{app_name}-{deployment_id[:12]}"
        + (f"-{replica}" if replica else "")
        + (f"-r{restart}" if restart else "")
    )


def run_spec(
    service: DeploymentService,
    snap: AppSnapshot,
    dep: Deployment,
    image: str,
    *,
    restart: int = 0,
    host_port: int = 0,
    replica: int = 0,
) -> RunSpec:
    """The container of a deployment (also used by crash restarts, with the same env and limits); ``replica``
    ≥ 1: one of its extra replicas (rivetr_core.engine.replicas), labelled with its index."""
    app, runtime_cfg = snap.app, service.ctx.config.runtime
    limits = effective_limits(app, runtime_cfg)
    env = {
        **snap.link_env,
        **snap.env,
        "PORT": str(app.port),
        "RIVETR_APP_NAME": app.name,
        "RIVETR_DEPLOYMENT_ID": dep.id,
        "SOURCE_COMMIT": dep.commit_sha or "",
    }
    labels = service.labels(app.id, dep.id)
    if replica:
        labels["rivetr.replica"] = str(replica)  # engine.replicas.LABEL_REPLICA (that module loads lazily)
    return RunSpec(
        image=image,
        name=container_name(app.name, dep.id, restart, replica),
        env=env,
        labels=labels,
        container_port=app.port,
        host_port=host_port,
        cpu_limit=limits.cpu,
        memory_limit=limits.memory,
        pids_limit=limits.pids,
        log_max_size=limits.log_max_size,
        log_max_files=limits.log_max_files,
        oom_score_adj=limits.oom_score_adj,
        init=True,
        publish=runtime_cfg.publish_ports,
        network=service.ctx.config.previews.fork_network if snap.untrusted else snap.network,
        # On its project network the app is reachable by its name (a fork's preview is on the isolated one).
        network_aliases=[app.name] if snap.network and not snap.untrusted else [],
        mounts=list(snap.mounts),
        placement=list(app.placement or ()),
    )


@dataclass
class Pipeline:
    service: DeploymentService
    deployment: Deployment
    snap: AppSnapshot
    source: Deployment | None = None  # the deployment a rollback reuses the image of
    steps: dict[str, Any] = field(default_factory=dict)
    workdir: Path | None = None
    container_id: str | None = None
    built_image: str | None = None
    switched: bool = False
    start_task: asyncio.Future[ContainerInfo] | None = None
    switch_task: asyncio.Future[Deployment | None] | None = None
    #: The deployment a ``recreate`` stopped before starting this one (nothing serves if this one fails).
    stopped_previous: Deployment | None = None
    #: Containers of replicas 1..N-1 this deployment started (removed if it fails) and their upstreams.
    replica_ids: list[str] = field(default_factory=list)
    replica_upstreams: list[str] = field(default_factory=list)

    @property
    def dep_id(self) -> str:
        return self.deployment.id

    def log(self, line: str) -> None:
        self.service.logs.append(self.dep_id, line)

    def step(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        return timed_step(self.steps, name)

    async def status(self, status: str, **fields: Any) -> None:
        await self.service.update_deployment(self.dep_id, status=status, steps=dict(self.steps), **fields)

    # ---------------------------------------------------------------------------------------------- run
    async def run(self) -> None:
        svc, app = self.service, self.snap.app
        svc.logs.open(self.dep_id)
        try:
            runtime = await svc.ctx.runtime()
            # A pre-built image app pulls (its rollback: the digest that ran) instead of clone and build.
            if app.source_kind == "image":
                image = await self._image_source(runtime)
            elif self.source is not None:
                image = await self._reuse_image(runtime)
                if self.source.applied_config:  # settings go back with the image they were deployed with
                    app = await self._repo_config(self.source.applied_config.get("file") or {})
            else:
                await self.status("cloning", started_at=utcnow())
                svc.emit("deployment_started", self.deployment, app.name, f"deploying {app.name}")
                async with self.step("clone"):
                    await self._clone()
                app = await self._repo_config()
                await self.status(
                    "building",
                    commit_sha=self.deployment.commit_sha,
                    commit_message=self.deployment.commit_message,
                )
                async with self.step("build"):
                    image = await self._build(runtime)
                # The source is no longer needed: free the disk now, in the background (the default thread
                # pool may be busy with engine calls; a removal must not delay the container start).
                workdir, self.workdir = self.workdir, None
                if workdir is not None:
                    svc.ctx.spawn(asyncio.to_thread(shutil.rmtree, workdir, True), f"rm-{self.dep_id}")
            if app.port == PORT_DETECT:  # an image (or a switched-to image app): nothing detected it
                await self._record_port(DEFAULT_PORT)
            await self.status("starting", image=image, image_digest=self.deployment.image_digest)
            if app.release_command:  # also on a rollback, as Heroku does (see engine.release)
                from .release import run_release

                async with self.step("release"):
                    await run_release(self, runtime, image)
            from .rollout import serving_to_roll

            rolled = await serving_to_roll(self)
            if rolled is not None:  # replicas replace the serving ones max_surge at a time (engine.rollout)
                from .rollout import run as rolling_update

                await rolling_update(self, runtime, image, rolled)
            else:
                async with self.step("start"):
                    upstream = await self._start(runtime, image)
                await self.status("health_checking", container_id=self.container_id, upstream=upstream)
                async with self.step("health"):
                    await self._health(runtime, upstream)
                    if app.replicas > 1:
                        await self._start_replicas(runtime, image)
                await self.status("switching")
                self.switch_task = asyncio.ensure_future(self._switch(upstream))
                old = await asyncio.shield(self.switch_task)
                await self._drain(runtime, old)
            if app.post_deploy_command:  # a failure is reported, never rolled back
                from .release import run_post_deploy

                async with self.step("post_deploy"):
                    await run_post_deploy(self, runtime)
            # Volumes deleted while the old container mounted them can go now (best effort, logged).
            await svc.ctx.services.volumes.prune(app.id, runtime)
            await svc.update_deployment(self.dep_id, steps=dict(self.steps))
            await svc.prune_images(app.id, keep=svc.ctx.config.cleanup.keep_images)
        except asyncio.CancelledError:
            if self.switch_task is not None and not self.switch_task.done():
                # Cancelled while switching: let the switch finish, never leave routes half-moved.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self.switch_task)
            if self.switched:
                raise  # the new version serves; an interrupted drain leaves an orphan recovery removes
            reason = svc.queue.reason(self.dep_id)
            if reason is None:
                # Shutdown: record it fast (the DB closes soon); recovery removes the container at start-up.
                await asyncio.shield(self._abort("failed", "interrupted: the server stopped", engine=False))
            else:
                await self._settle_start()
                await asyncio.shield(self._abort(reason, None))
        except Exception as exc:
            if self.switched:
                log.exception("post-switch step of deployment %s failed", self.dep_id)
                await svc.update_deployment(self.dep_id, steps=dict(self.steps))
            else:
                message = _describe(exc)
                if not isinstance(exc, RivetrError | PipelineError | GitSourceError):
                    log.exception("deployment %s failed unexpectedly", self.dep_id)
                await asyncio.shield(self._abort("failed", message))
        finally:
            if self.workdir is not None:
                await asyncio.to_thread(shutil.rmtree, self.workdir, True)
            await svc.logs.close(self.dep_id)

    # -------------------------------------------------------------------------------------------- steps
    async def _repo_config(self, document: dict[str, Any] | None = None) -> App:
        """The commit's rivetr.toml (a rollback: the file its deployment applied) applied to the app before the
        build; the app read again when it changed something (see .repo_config)."""
        from .repo_config import apply_repo_config

        if await apply_repo_config(self, document):
            self.snap = await self.service.snapshot(self.snap.app.id)
        return self.snap.app

    async def _image_source(self, runtime: ContainerRuntime) -> str:
        """An image app's deploy pulls its image; its rollback runs the digest that ran (see .image_source)."""
        from .image_source import pull_app_image, rollback_image

        if self.source is not None:
            return await rollback_image(self, runtime)
        await self.status("building", started_at=utcnow())
        self.service.emit(
            "deployment_started", self.deployment, self.snap.app.name, f"deploying {self.snap.app.name}"
        )
        async with self.step("pull"):
            return await pull_app_image(self, runtime, self.snap.app.image or "")

    async def _reuse_image(self, runtime: ContainerRuntime) -> str:
        assert self.source is not None
        image = self.source.image
        await self.status(
            "starting",
            started_at=utcnow(),
            image=image,
            commit_sha=self.source.commit_sha,
            commit_message=self.source.commit_message,
        )
        self.service.emit(
            "rollback",
            self.deployment,
            self.snap.app.name,
            f"rolling {self.snap.app.name} back to deployment {self.source.id}",
            data={"rollback_of": self.source.id, "image": image},
        )
        if not image or self.source.image_removed or not await runtime.image_exists(image):
            raise PipelineError(f"image of deployment {self.source.id} is no longer available")
        self.log(f"rollback to deployment {self.source.id}: reusing image {image} (no rebuild)")
        self.deployment.commit_sha = self.source.commit_sha
        return image

    async def _clone(self) -> None:
        svc, snap = self.service, self.snap
        self.workdir = svc.ctx.config.server.data_dir.resolve() / "builds" / self.dep_id
        if self.workdir.exists():
            await asyncio.to_thread(shutil.rmtree, self.workdir, True)
        # SSH host keys are pinned per host in the DB: the clone accepts only the pinned ones (first use pins).
        from rivetr_core.knownhosts import KnownHostsStore, host_pattern, ssh_target

        store = KnownHostsStore(svc.db)
        target = ssh_target(snap.app.git_url) if classify_url(snap.app.git_url) == "ssh" else None
        host_keys = await store.keys(*target) if target is not None else None
        request = CloneRequest(
            url=snap.app.git_url,
            branch=snap.app.branch,
            commit=self.deployment.requested_commit,
            ssh_private_key=snap.ssh_private_key,
            token=snap.git_token,
            username=snap.git_token_user,
            timeout=svc.ctx.config.git.clone_timeout,
            host_keys=host_keys,
        )
        loop = asyncio.get_running_loop()

        def on_line(line: str) -> None:  # called from the clone thread
            loop.call_soon_threadsafe(self.log, line)

        result = await asyncio.to_thread(clone_sync, request, self.workdir, on_line)
        if target is not None:
            if result.learned_host_keys:
                for row in await store.pin(*target, result.learned_host_keys):
                    self.log(
                        f"pinned the SSH host key of {host_pattern(*target)} on first use: "
                        f"{row.fingerprint} ({row.key_type})"
                    )
            else:
                await store.touch(*target)
        self.deployment.commit_sha, self.deployment.commit_message = result.commit_sha, result.commit_message

    async def _build(self, runtime: ContainerRuntime) -> str:
        svc, app = self.service, self.snap.app
        assert self.workdir is not None
        tag = image_tag(app.name, self.dep_id)
        runtime_cfg = svc.ctx.config.runtime
        request = app_build_request(
            app,
            self.workdir,
            tag,
            {**self.snap.build_env, "SOURCE_COMMIT": self.deployment.commit_sha or ""},
            list(self.snap.build_secrets),
        )
        # Only what cleanup filters images by: the legacy docker builder turns every label into a build step
        # with its own intermediate container (~0.1-0.3 s each); the tag already names the deployment.
        request.labels = svc.image_labels(app.id)
        request.cpu_limit = runtime_cfg.build_cpu_limit
        request.memory_limit = runtime_cfg.build_memory_limit
        request.no_cache = self.deployment.no_cache
        cap: LogCap | None = None
        if self.snap.untrusted:
            forks = svc.ctx.config.previews
            await self._refuse_remote_add(request)
            request.cpu_limit = _lowest(request.cpu_limit, forks.fork_build_cpu_limit)
            request.memory_limit = _lowest(request.memory_limit, forks.fork_build_memory_limit)
            request.network = await self._isolated_network(runtime)
            cap = LogCap(forks.fork_build_log_max_lines, forks.fork_build_log_max_bytes)
            self.log(
                f"untrusted build (pull request from a fork): network {request.network}, "
                f"{request.cpu_limit or 'no'} CPU / {request.memory_limit or 'no'} bytes memory limit"
            )
        from .image_source import build_registry_auth, explain_build_failure

        # Private base images (FROM, a base_image override) pull with the stored registry credentials.
        request.registry_auth = await build_registry_auth(self)
        builder = svc.select_builder(self.workdir, request, app.builder)
        port = await self._choose_port(builder, request)
        self.log(f"building {tag} with the {builder.name} builder on {runtime.name}")
        self.built_image = tag
        lines = builder.build(request, runtime)
        secrets = secret_build_values(request)
        try:
            async for line in lines:
                if secrets:
                    line = mask_secrets(line, secrets)
                if cap is not None and not cap.take(line):
                    self.log(cap.marker())
                    raise PipelineError(
                        f"build log over the fork preview cap ({cap.max_lines} lines / {cap.max_bytes} bytes)"
                    )
                self.log(line)
        except BuildFailed as exc:
            raise await explain_build_failure(self, exc, request.registry_auth) from None
        finally:
            aclose = getattr(lines, "aclose", None)
            if aclose is not None:  # stops the engine's build at once when the cap ended it
                await aclose()
        await self._record_port(port)  # after a good build: a failed one detects again next time
        return tag

    async def _choose_port(self, builder: Any, request: BuildRequest) -> int:
        """The container port of this deployment (see .ports): the app's, else what the builder's plan detects
        (asked before the build, so the generated Dockerfile and ``PORT`` agree), else the default."""
        app = self.snap.app
        plan: dict[str, Any] | None = None
        if app.port == PORT_DETECT:
            plan = await asyncio.to_thread(self._detect_port, builder, request)
        port, source = chosen_port(app.port, plan)
        if source != "app":
            self.log(f"container port {port}: {port_reason(source, plan)}")
        request.settings["port"] = str(port)
        return port

    @staticmethod
    def _detect_port(builder: Any, request: BuildRequest) -> dict[str, Any]:
        """Blocking (reads files): the builder's plan, or the Dockerfile's EXPOSE, for the port only."""
        from rivetr_core.services.build_plan import plan_of

        from .ports import detected_plan

        try:
            plan = plan_of(builder, request.source_dir, request)
        except (
            Exception
        ):  # a plugin's plan may fail its own way: the build itself reports why it cannot build
            plan = {"builder": builder.name}
        return detected_plan(plan, request.source_dir, request.build_context, request.dockerfile)

    async def _record_port(self, port: int) -> None:
        """Record the port the first deployment chose on the app (every later deployment uses it)."""
        app = self.snap.app
        if app.port != PORT_DETECT:
            return
        async with self.service.db.session() as session:
            row = await session.get(App, app.id)
            if row is not None and row.port == PORT_DETECT:  # an explicit port set meanwhile wins
                row.port = port
                session.add(row)
                await session.commit()
            else:
                port = row.port if row is not None else port
        app.port = port

    async def _refuse_remote_add(self, request: BuildRequest) -> None:
        """Fork builds: ``ADD <url>`` is fetched by the engine's daemon on the host's network, outside the
        build's isolated network, so it is refused, naming the line."""
        path = find_dockerfile(request.source_dir, request.build_context, request.dockerfile)
        if path is None:
            return  # no Dockerfile (another builder), or one the builder refuses itself
        # Confined, no links, regular file, size-capped: the same reader the builders use.
        text = await asyncio.to_thread(read_repo_text, request.source_dir, path, label=request.dockerfile)
        found = remote_adds(text or "")
        if found:
            first = found[0]
            name = path.relative_to(request.source_dir.resolve())
            raise PipelineError(
                f"{name} line {first.line}: ADD of a URL ({first.source}) is not allowed in builds of pull "
                "requests from forks (the engine would fetch it on the host's network); use RUN with "
                f"curl/wget instead: {first.text[:200]}"
            )

    async def _isolated_network(self, runtime: ContainerRuntime) -> str:
        """``[previews] fork_network``, created and firewalled by the runtime; fail closed without it."""
        forks = self.service.ctx.config.previews
        ensure = getattr(runtime, "ensure_isolated_network", None)
        if ensure is None:
            raise PipelineError(
                f"the {runtime.name} runtime cannot isolate a fork's preview (it has no isolated network)"
            )
        name: str = await ensure(forks.fork_network, firewall=forks.fork_firewall)
        return name

    async def _stop_previous(self, runtime: ContainerRuntime) -> None:
        """``deploy_strategy = "recreate"``: stop the serving container before the new one starts, so the two
        never run together (data that cannot be shared). The app answers 502 until the switch."""
        svc, app_id = self.service, self.snap.app.id
        async with svc.switch_lock(app_id):
            _, current = await svc.app_and_current(app_id)
            if current is None or current.status != "running" or not current.container_id:
                return
            # "replaced" under the switch lock first: the crash watcher restarts only running deployments.
            await svc.update_deployment(current.id, status="replaced")
            self.stopped_previous = current
        self.log(f"recreate: stopping the previous container ({current.container_id[:12]}) first")
        await svc.remove_container(runtime, current.container_id)
        await self._remove_replicas_of(runtime, current, drain=False)

    async def _start(self, runtime: ContainerRuntime, image: str) -> str:
        spec = run_spec(self.service, self.snap, self.deployment, image)
        if spec.placement and not isinstance(runtime, ClusterRuntime):  # said once: replicas reuse the spec
            self.log(
                f"placement ({'; '.join(spec.placement)}) ignored: the {getattr(runtime, 'name', '')} runtime "
                "runs every container on this one host; only the swarm runtime applies it"
            )
        if self.snap.app.deploy_strategy == "recreate":
            await self._stop_previous(runtime)
        if self.snap.untrusted:
            await self._isolated_network(runtime)  # (re)made and firewalled before the fork's code runs
        # Shielded: the engine creates the container whatever happens to us, so a cancel waits for it and
        # removes it rather than leaving an untracked container behind.
        self.start_task = asyncio.ensure_future(runtime.run(spec))
        info = await asyncio.shield(self.start_task)
        self.container_id = info.id
        upstream = info.upstream
        if not upstream:
            # A container that dies within milliseconds has no port bindings left to report.
            info = await runtime.inspect(info.id)
            if not info.running:
                await self._container_log_tail(runtime)
                raise PipelineError(f"container exited (code {info.exit_code}) right after it started")
            raise PipelineError("the runtime reports no address for the container port")
        self.log(f"started container {spec.name} ({info.id[:12]}) on {upstream}")
        await self.service.update_deployment(
            self.dep_id, container_id=info.id, container_name=spec.name, upstream=upstream
        )
        return upstream

    async def _start_replicas(self, runtime: ContainerRuntime, image: str) -> None:
        """Replicas 1..N-1 (``App.replicas`` > 1), started together once replica 0 is healthy, each health-gated
        (rivetr_core.engine.replicas); the first failure fails the deployment, naming the replica."""
        from .replicas import start_replica

        count = self.snap.app.replicas
        self.log(f"starting replicas 1..{count - 1} of {count}")
        rows = await asyncio.gather(
            *(
                start_replica(
                    self.service,
                    self.snap,
                    self.deployment,
                    image,
                    index,
                    runtime,
                    note=self.log,
                    started=self.replica_ids,
                )
                for index in range(1, count)
            ),
            return_exceptions=True,
        )
        for index, row in enumerate(rows, start=1):
            if isinstance(row, BaseException):
                if isinstance(row, PipelineError | RivetrError):
                    raise PipelineError(f"replica {index}: {_describe(row)}") from row
                raise row
        self.replica_upstreams = [
            row.upstream for row in rows if not isinstance(row, BaseException) and row.upstream
        ]

    async def _remove_replicas_of(self, runtime: ContainerRuntime, dep: Deployment, *, drain: bool) -> None:
        """Drain (when asked) and remove the extra replicas of a previous deployment, if it had any."""
        from .replicas import drain_and_remove, extra_rows

        extras = [(r["container_id"], r["upstream"]) for r in await extra_rows(self.service.db, dep.id)]
        if extras:
            await drain_and_remove(self.service, runtime, extras, drain=drain, note=self.log)
            self.log(f"stopped and removed {len(extras)} previous replica container(s)")

    async def _health(self, runtime: ContainerRuntime, upstream: str) -> None:
        try:
            await wait_healthy(
                self.service,
                self.snap.app,
                self.snap.domains,
                runtime,
                self.container_id or "",
                upstream,
                note=self.log,
                deployment_id=self.dep_id,
            )
        except PipelineError:
            await self._container_log_tail(runtime)
            raise

    async def _container_log_tail(self, runtime: ContainerRuntime) -> None:
        try:
            async for entry in runtime.logs(self.container_id or "", tail=TAIL_LINES):
                self.log(f"[container] {entry.line}")
        except Exception:
            log.debug("could not read the logs of %s", self.container_id, exc_info=True)

    async def _switch(self, upstream: str) -> Deployment | None:
        async with self.step("switch"), self.service.switch_lock(self.snap.app.id):
            old = await self.service.switch(
                self.snap, self.deployment, upstream, extra_upstreams=self.replica_upstreams
            )
            self.switched = True
        targets = ", ".join([upstream, *self.replica_upstreams])
        self.log(f"switched {', '.join(self.snap.domains) or '(no domains)'} to {targets}")
        await self.status("running", finished_at=utcnow())
        self.service.emit(
            "deployment_succeeded",
            self.deployment,
            self.snap.app.name,
            f"{self.snap.app.name} is live ({(self.deployment.commit_sha or '')[:12]})",
            level="success",
        )
        return old

    async def _drain(self, runtime: ContainerRuntime, old: Deployment | None) -> None:
        async with self.step("drain"):
            if old is None or not old.container_id:
                return
            proxy = self.service.ctx.proxy
            if proxy is not None and old.upstream and self.snap.domains:
                drained = await proxy.wait_drained(old.upstream, self.service.ctx.config.proxy.drain_timeout)
                if not drained:
                    self.log(f"old upstream {old.upstream} still busy after the drain timeout; stopping it")
            await self.service.remove_container(runtime, old.container_id)
            self.log(f"stopped and removed the previous container ({old.container_id[:12]})")
            await self._remove_replicas_of(runtime, old, drain=bool(self.snap.domains))

    async def _settle_start(self) -> None:
        """After a cancel during ``start``: wait (bounded) for the engine's answer to learn the container id."""
        task = self.start_task
        if task is None or self.container_id:
            return
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(task), 30)
        if task.done() and not task.cancelled() and task.exception() is None:
            self.container_id = task.result().id

    async def _abort(self, status: str, error: str | None, *, engine: bool = True) -> None:
        svc = self.service
        tail = svc.logs.tail(self.dep_id, TAIL_LINES)
        if error:
            self.log(f"deployment {status}: {error}")
        else:
            self.log(f"deployment {status}")
        runtime = svc.ctx.runtime_if_ready() if engine else None
        if runtime is not None:
            if self.container_id:
                await svc.remove_container(runtime, self.container_id)
            for replica_id in self.replica_ids:
                await svc.remove_container(runtime, replica_id)

            if self.built_image:
                with contextlib.suppress(Exception):
                    await runtime.remove_image(self.built_image, force=True)
        extra = {"image_removed": True} if self.built_image and runtime is not None else {}
        await svc.update_deployment(
            self.dep_id,
            status=status,
            error=error,
            log_tail=tail,
            steps=dict(self.steps),
            finished_at=utcnow(),
            **extra,
        )
        if self.stopped_previous is not None:
            self.log(
                "the previous version was stopped first (deploy_strategy recreate): roll back to "
                f"{self.stopped_previous.id} to serve it again"
            )
            await svc.after_recreate_failure(self.snap.app.id)
        await svc.after_failure(self.snap.app.id)
        if status == "failed":
            svc.emit(
                "deployment_failed",
                self.deployment,
                self.snap.app.name,
                f"deployment of {self.snap.app.name} failed: {error}",
                level="failure",
                data={"error": error, "log_tail": tail},
            )


async def wait_healthy(
    service: DeploymentService,
    app: App,
    domains: list[str],
    runtime: ContainerRuntime,
    container_id: str,
    upstream: str,
    *,
    note: Callable[[str], None],
    deployment_id: str,
) -> None:
    """Probe ``upstream`` with the app's health check until it passes; raise :class:`PipelineError` when its
    retries run out or the container exits first. Shared by a deployment's health step and the start or
    restart of a stopped container (``rivetr_core.services.app_lifecycle``), so both judge an app alike;
    ``note`` receives each attempt's outcome."""
    kind = health_kind(app)
    check = service.health_check(kind)
    options = health_options(app)
    host, _, port = upstream.rpartition(":")
    target = HealthTarget(
        host=host,
        port=int(port),
        path=options.get("path") or app.healthcheck_path,
        expected_status=options.get("status"),
        timeout=app.healthcheck_timeout,
        host_header=domains[0].partition("/")[0] if domains else None,  # a domain entry may hold a path
        options=options,
        container_id=container_id,
        runtime=runtime,
    )
    what = f"GET {target.path}" if kind == "http" else f"{kind} check"
    note(f"health check: {what} (up to {app.healthcheck_retries} attempts)")
    detail = ""
    metrics = service.ctx.services.get("metrics")
    for attempt in range(1, app.healthcheck_retries + 1):
        probe_started = time.perf_counter()
        result = await _probe(check, target)
        if metrics is not None:
            # Every probe, not only the step's outcome: failed probes of a slow start are visible.
            try:
                metrics.observe_health_check(result.ok, time.perf_counter() - probe_started, deployment_id)
            except Exception:
                log.debug("recording a health probe failed", exc_info=True)
        if result.ok:
            note(f"health check passed: {what} → {result.detail} (attempt {attempt})")
            return
        detail = result.detail
        note(f"health check {attempt}/{app.healthcheck_retries}: {detail}")
        if attempt % 3 == 0 or attempt == app.healthcheck_retries:
            # An exited container will never pass: stop waiting (one engine call every few attempts).
            info = await runtime.inspect(container_id)
            if not info.running:
                raise PipelineError(
                    f"container exited (code {info.exit_code}) before passing its health check: {detail}"
                )
        if attempt < app.healthcheck_retries:
            # Ramp up: most apps answer within milliseconds, so early retries come fast.
            await asyncio.sleep(min(app.healthcheck_interval, 0.05 * 2 ** (attempt - 1)))
    raise PipelineError(f"health check failed after {app.healthcheck_retries} attempts: {detail}")


async def _probe(check: HealthCheck, target: HealthTarget) -> HealthResult:
    """One attempt of any check, plugins' included: bounded by the timeout (plus a grace for the check's own
    timeout to answer first), and an exception is a failed attempt, not a crashed pipeline."""
    try:
        return await asyncio.wait_for(check.check(target), target.timeout + 1)
    except TimeoutError:
        return HealthResult(False, f"{check.name} check did not answer within {target.timeout:g}s")
    except Exception as exc:
        log.warning("health check %s raised", check.name, exc_info=True)
        return HealthResult(False, f"{check.name} check failed: {exc!r}"[:300])


def _lowest(configured: float | None, cap: float | None) -> Any:
    """The stricter of two limits (None: no limit)."""
    if configured is None:
        return cap
    return configured if cap is None else min(configured, cap)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BuildFailed):
        return f"build failed: {exc.message}"
    if isinstance(exc, RivetrError):
        return exc.message
    return str(exc) or type(exc).__name__
