"""The engine side of a managed service: its network, image, container and readiness.

:class:`ContainerPlan` is everything needed to run one service container, decrypted in memory only (built by
``ServiceService`` from the row and its template). :class:`Lifecycle` does the engine work and knows nothing of
the database: ``bring_up`` (network, pull, fresh container, readiness), ``start_existing``, ``stop``,
``remove``, ``wait_ready``. Progress goes to the service's :class:`~.events.EventLog`; credentials never do
(they are in the container's environment and in the readiness command, neither of which is logged).

Containers carry ``rivetr.managed-service=<id>``, ``rivetr.project`` and this data dir's ``rivetr.instance``,
but not ``rivetr.managed=true``: that label marks the pipeline's app containers, which start-up recovery
removes when no deployment tracks them. The restart policy ``unless-stopped`` brings a service back after an
engine restart; a stop through Rivetr stays stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rivetr_core.contract import ContainerInfo, Mount, RunSpec
from rivetr_core.contract.errors import ContainerNotFound, ImageNotFound, RivetrError

from .events import EventLog

log = logging.getLogger("rivetr.services.lifecycle")

LABEL_SERVICE = "rivetr.managed-service"
LABEL_PROJECT = "rivetr.project"
LABEL_INSTANCE = "rivetr.instance"
LABEL_VOLUME = "rivetr.volume"
#: Pull progress lines written to the event log at most this often per layer (the runtime throttles too).
LOG_TAIL_ON_FAILURE = 20


class NotReady(RivetrError):
    """The service's container did not pass its readiness check in time (or stopped)."""

    code = "service_not_ready"
    status = 422


@dataclass
class ContainerPlan:
    service_id: str
    name: str
    container_name: str
    image: str
    network: str
    project_id: str | None
    instance_id: str
    port: int
    env: dict[str, str]
    command: list[str] | None
    #: (volume name, path in the container, engine volume name)
    volumes: list[tuple[str, str, str]]
    health_command: list[str] | None
    health_timeout: float
    health_interval: float
    public_port: int | None = None
    cpu_limit: float | None = None
    memory_limit: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def container_labels(self) -> dict[str, str]:
        labels = {LABEL_SERVICE: self.service_id, LABEL_PROJECT: self.project_id or "", **self.labels}
        if self.instance_id:
            labels[LABEL_INSTANCE] = self.instance_id
        return labels

    def volume_labels(self, name: str) -> dict[str, str]:
        labels = {LABEL_SERVICE: self.service_id, LABEL_VOLUME: name}
        if self.instance_id:
            labels[LABEL_INSTANCE] = self.instance_id
        return labels

    def run_spec(self) -> RunSpec:
        """Published only with a public port (every interface: a port a user opened on purpose); otherwise the
        service is reachable only on its project network, by its name."""
        spec = RunSpec(
            image=self.image,
            name=self.container_name,
            env=dict(self.env),
            labels=self.container_labels(),
            container_port=self.port if self.public_port else None,
            host_port=self.public_port or 0,
            # Every interface. Spelled "" rather than "0.0.0.0": through podman's Docker-compatible API an
            # explicit 0.0.0.0 binding is not forwarded from the host's loopback (the connection hangs), ""
            # is, and dockerd reads both as all interfaces (IPv6 too).
            host_ip="",
            cpu_limit=self.cpu_limit,
            memory_limit=self.memory_limit,
            restart_policy="unless-stopped",
            # The image's own entrypoint is PID 1 (postgres and mysql forward signals and reap themselves).
            init=False,
            network=self.network,
            command=list(self.command) if self.command else None,
            publish=bool(self.public_port),
            mounts=[
                Mount(source=engine, target=path, kind="volume", labels=self.volume_labels(name))
                for name, path, engine in self.volumes
            ],
        )
        if hasattr(spec, "network_aliases"):
            spec.network_aliases = [self.name]
        return spec


def _method(runtime: Any, name: str) -> Callable[..., Any]:
    found = getattr(runtime, name, None)
    if found is None:
        raise RivetrError(
            f"the {getattr(runtime, 'name', 'container')} runtime cannot run managed services: it has no "
            f"{name}() (update the runtime plugin)",
            code="runtime_unsupported",
        )
    return found  # type: ignore[no-any-return]


class Lifecycle:
    def __init__(self, events: EventLog) -> None:
        self.events = events
        #: One network creation at a time per name: services of a project created together would otherwise
        #: race, and dockerd accepts two networks of the same name (then refuses to attach to either).

    def note(self, service_id: str, line: str) -> None:
        self.events.add(service_id, line)

    async def ensure_network(self, runtime: Any, plan: ContainerPlan) -> None:
        from rivetr_core.projectnet import ensure_project_network

        _method(runtime, "ensure_network")  # a clear error on a runtime without networks
        await ensure_project_network(runtime, plan.project_id, plan.instance_id or "")

    async def pull(self, runtime: Any, plan: ContainerPlan, *, always: bool) -> None:
        """Pull the image (progress to the event log). Without ``always`` a local image is used as it is (a
        restart must not depend on a registry). A failed pull of an image that exists locally only warns."""
        present = await runtime.image_exists(plan.image)
        if present and not always:
            return
        if getattr(runtime, "pull", None) is None and present:
            return
        pull = _method(runtime, "pull")
        self.note(plan.service_id, f"pulling {plan.image}")
        started = time.monotonic()
        try:
            async for line in pull(plan.image):
                self.note(plan.service_id, line)
        except ImageNotFound:
            raise
        except RivetrError as exc:
            if not present:
                raise
            self.note(plan.service_id, f"pull failed ({exc.message}); using the local image")
            return
        self.note(plan.service_id, f"pull finished in {time.monotonic() - started:.1f} s")

    async def remove_named(self, runtime: Any, plan: ContainerPlan, container_id: str | None) -> None:
        """Remove the service's container (by id, and whatever holds its name): a fresh one replaces it."""
        ids = {container_id} if container_id else set()
        for info in await runtime.list(labels={LABEL_SERVICE: plan.service_id}):
            ids.add(info.id)
        for cid in ids:
            try:
                await runtime.remove(cid, force=True)
            except ContainerNotFound:
                pass

    async def bring_up(
        self, runtime: Any, plan: ContainerPlan, container_id: str | None, *, pull_always: bool
    ) -> ContainerInfo:
        """Network, image, a fresh container on the service's volumes; returns it (not yet ready)."""
        await self.ensure_network(runtime, plan)
        await self.pull(runtime, plan, always=pull_always)
        await self.remove_named(runtime, plan, container_id)
        self.note(plan.service_id, f"starting container {plan.container_name} ({plan.image})")
        info: ContainerInfo = await runtime.run(plan.run_spec())
        return info

    async def start_existing(self, runtime: Any, container_id: str) -> bool:
        """Start the service's stopped container again; False when it is gone (recreate it)."""
        try:
            info = await runtime.inspect(container_id)
        except ContainerNotFound:
            return False
        if info.running:
            return True
        await _method(runtime, "start")(container_id)
        return True

    async def wait_ready(self, runtime: Any, plan: ContainerPlan, container_id: str) -> None:
        """Run the template's health command in the container until it exits 0; :class:`NotReady` with the
        container's last log lines when the timeout passes or the container stops."""
        service_id = plan.service_id
        if not plan.health_command:
            info = await runtime.inspect(container_id)
            if not info.running:
                raise NotReady(await self._stopped_message(runtime, container_id, info))
            self.note(service_id, "running (no readiness check in the template)")
            return
        deadline = time.monotonic() + plan.health_timeout
        attempts = 0
        last = ""
        self.note(service_id, "waiting until it is ready")
        while True:
            attempts += 1
            try:
                result = await runtime.exec(container_id, list(plan.health_command))
                if result.exit_code == 0:
                    self.note(service_id, f"ready after {attempts} check(s)")
                    return
                lines = (result.output or "").strip().splitlines()
                last = lines[-1] if lines else f"exit code {result.exit_code}"
            except ContainerNotFound:
                raise NotReady("the container disappeared while starting") from None
            except RivetrError as exc:
                last = exc.message
            info = await runtime.inspect(container_id)
            if not info.running:
                raise NotReady(await self._stopped_message(runtime, container_id, info))
            if time.monotonic() >= deadline:
                tail = await self.log_tail(runtime, container_id)
                raise NotReady(
                    f"not ready after {plan.health_timeout:g} s ({attempts} checks; last: {last or 'no output'})",
                    details={"log_tail": tail},
                )
            await asyncio.sleep(plan.health_interval)

    async def check_once(self, runtime: Any, plan: ContainerPlan, row: Any) -> str | None:
        """One readiness check of a settled service: None when it answers, else why not (one line)."""
        try:
            info = await runtime.inspect(row.container_id)
        except ContainerNotFound:
            return "its container is gone"
        if not info.running:
            return f"the container stopped (exit code {info.exit_code})"
        if not plan.health_command:
            return None
        try:
            result = await asyncio.wait_for(runtime.exec(row.container_id, list(plan.health_command)), 30)
        except (RivetrError, TimeoutError) as exc:
            return f"the readiness check could not run: {getattr(exc, 'message', None) or 'timed out'}"
        if result.exit_code == 0:
            return None
        lines = (result.output or "").strip().splitlines()
        return f"the readiness check fails ({lines[-1] if lines else f'exit code {result.exit_code}'})"

    async def _stopped_message(self, runtime: Any, container_id: str, info: ContainerInfo) -> str:
        tail = await self.log_tail(runtime, container_id)
        text = f"the container stopped (exit code {info.exit_code})"
        return text + (":\n" + "\n".join(tail) if tail else "")

    async def log_tail(self, runtime: Any, container_id: str, n: int = LOG_TAIL_ON_FAILURE) -> list[str]:
        try:
            return [entry.line async for entry in runtime.logs(container_id, tail=n)]
        except RivetrError:
            return []

    async def stop(self, runtime: Any, container_id: str | None, timeout: float = 30) -> None:
        if not container_id:
            return
        try:
            await runtime.stop(container_id, timeout=timeout)
        except ContainerNotFound:
            pass

    async def remove_volumes(self, runtime: Any, names: list[str]) -> list[str]:
        """Remove the engine volumes; returns those that could not be removed (still in use)."""
        left = []
        for name in names:
            try:
                await runtime.remove_volume(name)
            except RivetrError as exc:
                log.warning("could not remove volume %s: %s", name, exc.message)
                left.append(name)
        return left
