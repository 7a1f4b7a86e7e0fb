"""Docker Swarm as a :class:`rivetr_core.contract.ContainerRuntime`: every ``run`` creates a swarm service.

:class:`SwarmRuntime` is the docker runtime (builds, images, pulls, volumes, the exec/log/stats plumbing are
the manager node's engine, unchanged) with the container lifecycle mapped onto services:

* ``run`` creates a replicated service (1 replica; start-first updates; the spec's health check, labels, env,
  limits, restart policy, networks and mounts), waits for its task's container to start and returns a
  :class:`ContainerInfo` whose ``id`` is the SERVICE id and ``upstream`` the task's host-mode port on
  127.0.0.1 (see :mod:`.servicespec` for the routing choice);
* ``inspect``/``list`` read the service and its current task, and that task's container when it is on this
  node (single node: always); ``stop`` stops the task's container (its exit code is kept in a service label)
  and scales the service to 0; ``start`` scales it back; ``remove`` removes the service and waits until its
  containers are gone (so its volumes and networks can be removed next);
* ``logs``, ``stats``, ``exec*``, ``pause``/``unpause`` act on the current task's container: on this node
  through this engine; on another node through that node's engine when ``node_engines`` says how to reach it
  (:mod:`.nodeengines`), else the log through the swarm (:mod:`.tasklogs`) and a 409 ``task_on_another_node``
  saying how to configure it for the rest.

Service networks (``ensure_network``, ``ensure_project_network``) are attachable overlay networks: swarm
services cannot join a node-local bridge, and overlays are separate from each other by construction.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

# The docker runtime first: it imports requests its own way (without charset_normalizer) before the SDK.
from rivetr_runtime_docker.containers import stop_seconds
from rivetr_runtime_docker.engine import EngineError, has_labels, label_filters, parse_time
from rivetr_runtime_docker.exec import DockerExecSession
from rivetr_runtime_docker.runspec import check_port_free, published_ports
from rivetr_runtime_docker.runtime import DockerRuntime

# isort: split
import docker.errors

from rivetr_core.contract import (
    ContainerInfo,
    ContainerNotFound,
    ContainerStats,
    ExecResult,
    ImageNotFound,
    LogLine,
    PortInUse,
    RunSpec,
    RuntimeInfo,
    RuntimeUnavailable,
)

from . import configs, firewall, registryauth, secrets, stackspec
from . import servicespec as ss
from .drain import SwarmDrains
from .nodeengines import NodeEngines
from .nodes import SwarmNodes
from .tasklogs import task_logs
from .tasknodes import NodeAddresses, node_of

if TYPE_CHECKING:
    from rivetr_core.contract import PluginContext

#: Seconds ``run``/``start`` wait for a task's container to start.
START_TIMEOUT = 60.0
#: Seconds ``remove`` waits for the engine to remove a removed service's containers.
REMOVE_TIMEOUT = 30.0

_NETWORK_LOCK = threading.Lock()


class NoRunningTask(EngineError):
    """An exec, pause or stats needs the service's running task's container, and there is none."""

    code = "no_running_task"
    status = 409


class TaskOnAnotherNode(NoRunningTask):
    """The service's running task is on another node: its container is not this engine's (stats skip it too)."""

    code = "task_on_another_node"


class SwarmRuntime(SwarmDrains, SwarmNodes, DockerRuntime):
    """Swarm services through the Docker Engine API of a manager node at ``base_url``."""

    name = "swarm"

    def __init__(
        self,
        base_url: str = "unix:///var/run/docker.sock",
        *,
        registry: str | None = None,
        registry_auth: Any = None,
        port_firewall: bool = False,
        node_engines: Mapping[str, Any] | None = None,
        **kw: Any,
    ):
        super().__init__(base_url, **kw)
        #: ``[plugins.runtime-swarm] node_engines``: the other nodes' engines (:mod:`.nodeengines`).
        self.node_engines = NodeEngines(node_engines, logger=kw.get("logger"))
        #: ``[plugins.runtime-swarm] registry``: where images are pushed so every node can pull them.
        self.registry = registry or None
        #: ``await registry_auth(server)``: the stored credentials of a registry (:mod:`.registryauth`).
        self.registry_auth = registry_auth
        #: ``[plugins.runtime-swarm] port_firewall``: the DOCKER-USER rule for published ports (:mod:`.firewall`).
        self.firewall = firewall.PortFirewall() if port_firewall else None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> SwarmRuntime:  # type: ignore[override]
        """Plugin factory: ``[plugins.runtime-swarm] socket``."""
        from .plugin import SwarmSettings

        settings = ctx.settings_as(SwarmSettings, "runtime-swarm")
        # Project networks are overlays (separate by construction): no bridge firewall to add.
        runtime = cls(
            settings.socket,
            registry=settings.registry,
            registry_auth=ctx.registry_auth,
            port_firewall=settings.port_firewall,
            node_engines=settings.node_engines,
            logger=ctx.logger,
            project_firewall=False,
        )
        # At start, off the event loop: the published-port rule added (or removed when switched off).
        threading.Thread(target=runtime._firewall_at_start, name="rivetr-swarm-firewall", daemon=True).start()
        return runtime

    def _firewall_at_start(self) -> None:
        if self.firewall is None:
            firewall.switch_off(firewall.PortFirewall())
        else:
            with contextlib.suppress(Exception):  # an engine down now: the next service creation retries
                firewall.sync(self.firewall, self._api())

    # ------------------------------------------------------------------------------------------ engine
    def _swarm_state(self) -> dict[str, Any]:
        return dict(self._api().info().get("Swarm") or {})

    def _require_manager(self) -> None:
        swarm = self._swarm_state()
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise RuntimeUnavailable(
                f"the engine at {self.base_url} is not a swarm manager (state "
                f"{swarm.get('LocalNodeState') or 'unknown'}); run `docker swarm init` on it or point "
                "[plugins.runtime-swarm] socket at a manager",
                details={"runtime": self.name, "address": self.base_url},
            )

    async def ping(self) -> bool:
        """True when the engine answers and is an active swarm manager."""
        if not await self._answers():
            return False
        try:
            await self._call(self._require_manager)
        except Exception:
            return False
        return True

    async def info(self) -> RuntimeInfo:
        info = await super().info()
        swarm = await self._call(self._swarm_state)
        info.extra.update(
            swarm_node=swarm.get("NodeID"),
            swarm_managers=swarm.get("Managers"),
            swarm_nodes=swarm.get("Nodes"),
        )
        return info

    # ------------------------------------------------------------------------------------------ lookups
    def _service(self, service_id: str) -> dict[str, Any]:
        return dict(self._api().inspect_service(service_id))

    def _tasks(self, service_id: str) -> builtins.list[dict[str, Any]]:
        return list(self._api().tasks(filters={"service": service_id}) or [])

    def _container(self, container_id: str | None) -> dict[str, Any] | None:
        if not container_id:
            return None
        try:
            return dict(self._api().inspect_container(container_id))
        except docker.errors.NotFound:
            return None  # on another node, or removed with its task

    def _running_container(self, service_id: str) -> tuple[DockerRuntime | None, str]:
        """Blocking: (the engine of the node running the service's running task, None for this one; the id of
        the task's container there)."""
        service = self._service(service_id)
        task = ss.current_task(self._tasks(service["ID"]))
        data = self._container(ss.container_id(task))
        if data is None or not (data.get("State") or {}).get("Running"):
            name = (service.get("Spec") or {}).get("Name") or service_id
            nodes = NodeAddresses(self._api())
            if data is None and ss.task_status(task)[0] == "running" and nodes.is_remote(task):
                node = node_of(task)
                hostname = nodes.hostname(node)
                engine = self.node_engines.engine(node, hostname)
                if engine is not None:
                    return engine, str(ss.container_id(task))
                raise TaskOnAnotherNode(
                    f"service {name} runs on another node, {hostname or node} ({nodes.address(node) or '?'}), "
                    "whose engine Rivetr has no address for: exec, terminals, stats and pause need it; set "
                    f'[plugins.runtime-swarm] node_engines = {{ "{hostname or node}" = "ssh://user@host" }} '
                    "(or tcp://host:2376 with TLS client certificates; docs/scaling.md); its log works",
                    details={"service": service_id, "node": node, "hostname": hostname},
                )
            raise NoRunningTask(
                f"service {name} has no running task on this node", details={"service": service_id}
            )
        return None, str(data["Id"])

    async def _resolve(self, service_id: str) -> tuple[DockerRuntime | None, str]:
        return await self._call(self._running_container, service_id, container=service_id)

    def _on(self, engine: DockerRuntime | None) -> Any:
        """Where a task container's call goes: ``engine`` (another node's), else this engine as the docker
        runtime sees it (``super()``: not the overrides below, which take service ids)."""
        return engine if engine is not None else super()

    async def close(self) -> None:
        await self.node_engines.close()
        await super().close()

    def _info(
        self,
        service: Mapping[str, Any],
        tasks: builtins.list[dict[str, Any]],
        nodes: NodeAddresses | None = None,
    ) -> ContainerInfo:
        spec = service.get("Spec") or {}
        labels = spec.get("Labels") or {}
        task = ss.current_task(tasks)
        data = self._container(ss.container_id(task)) if task else None
        health = None
        networks: dict[str, str] = {}
        started_at = None
        if data is not None:
            state = data.get("State") or {}
            status = self.normalize_status(str(state.get("Status") or "unknown"))
            running = bool(state.get("Running"))
            exit_code = None if running or status in ("created", "running") else state.get("ExitCode")
            health = (state.get("Health") or {}).get("Status") or None
            started_at = parse_time(state.get("StartedAt"))
            networks = {
                str(name): str((value or {}).get("IPAddress") or "")
                for name, value in ((data.get("NetworkSettings") or {}).get("Networks") or {}).items()
            }
        elif ss.replicas_of(service) == 0:
            status, exit_code = "exited", None
            if labels.get(ss.EXIT_CODE_LABEL):
                exit_code = int(labels[ss.EXIT_CODE_LABEL])
            running = False
        else:
            status, exit_code = ss.task_status(task)
            running = status == "running"
        if ss.replicas_of(service) > 0 and self._evicted(tasks):
            # Stopped (or lost) by the orchestrator for its node, drained outside Rivetr or down, and no task in
            # its place: a move for the crash watcher to make (``start``), not a crash.
            status, running, exit_code = "evicted", False, None
        node_address = None
        if not running:
            ports: builtins.list[Any] = []
            host_port = None
        else:
            # The node's own view when the container is here (the task's PortStatus arrives later).
            # (published_ports leaves out dockerd's IPv6 twin of a port: the proxy connects to IPv4 loopback.)
            ports = published_ports(data) if data is not None else ss.task_ports(task)
            host_port = ss.main_host_port(service, ports)
            if data is None:  # on another node: reached there (see .tasknodes), started when it said so
                node_address = (nodes or NodeAddresses(self._api())).remote_address(task)
                started_at = parse_time(((task or {}).get("Status") or {}).get("Timestamp"))
        slot = (task or {}).get("Slot")
        restarts = sum(1 for t in tasks if t.get("Slot") == slot) - 1 if task else 0
        return ContainerInfo(
            id=str(service["ID"]),
            name=str(spec.get("Name") or ""),
            image=str(labels.get(ss.IMAGE_LABEL) or ""),
            status=status,
            running=running,
            exit_code=exit_code,
            health=health,
            host_port=host_port,
            labels=ss.public_labels(labels),
            created_at=parse_time(service.get("CreatedAt")),
            started_at=started_at,
            restart_count=max(0, restarts),
            limits=ss.limits_of(service),
            networks=networks,
            ports=ports,
            node_address=node_address,
        )

    def _inspect(self, service_id: str) -> ContainerInfo:
        service = self._service(service_id)
        return self._info(service, self._tasks(service["ID"]))

    async def inspect(self, container_id: str) -> ContainerInfo:
        """The service ``container_id`` (its id or name) as a container: its current task's state."""
        return await self._call(self._inspect, container_id, container=container_id)

    def _list(self, labels: Mapping[str, str] | None, all: bool) -> builtins.list[ContainerInfo]:
        out: builtins.list[ContainerInfo] = []
        nodes = NodeAddresses(self._api())
        for service in self._api().services(filters=label_filters(labels)) or []:
            if not has_labels((service.get("Spec") or {}).get("Labels"), labels):
                continue
            try:
                info = self._info(service, self._tasks(service["ID"]), nodes)
            except docker.errors.NotFound:
                continue  # removed meanwhile
            if all or info.running:
                out.append(info)
        return out

    async def list(
        self, labels: Mapping[str, str] | None = None, all: bool = True
    ) -> builtins.list[ContainerInfo]:
        """Services carrying every one of ``labels`` (``all=False``: those with a running task)."""
        return await self._call(self._list, labels, all)

    # ---------------------------------------------------------------------------------------- lifecycle
    def _image_id(self, image: str) -> str:
        try:
            return str(self._api().inspect_image(image)["Id"])
        except docker.errors.NotFound:
            raise ImageNotFound(f"image {image} not found in {self.name}", details={"image": image}) from None

    def _push(self, image: str, auth: Mapping[str, str] | None = None) -> str:
        """Blocking: push ``image`` to :attr:`registry` (with ``auth``, the credentials stored for it) and return
        ``<registry>/<path>@<digest>``, the reference every node's agent pulls (and a node that has it runs
        without asking the registry)."""
        api = self._api()
        repository, tag = ss.registry_reference(image, str(self.registry))
        api.tag(image, repository, tag)
        digest = ""
        # Never None: the SDK would otherwise look for a docker CLI config file of this user.
        for event in api.push(repository, tag=tag, stream=True, decode=True, auth_config=dict(auth or {})):
            if event.get("error"):
                raise EngineError(
                    f"pushing {repository}:{tag} to {self.registry} failed: {event['error']}",
                    details={"image": image, "registry": self.registry},
                )
            digest = str((event.get("aux") or {}).get("Digest") or digest)
        if not digest:
            raise EngineError(f"the registry {self.registry} did not return a digest for {repository}:{tag}")
        return f"{repository}@{digest}"

    def _create(self, spec: RunSpec, auth: Mapping[str, str] | None = None) -> str:
        self._require_manager()
        if self.firewall is not None:
            firewall.sync(self.firewall, self._api())  # a node that joined since is allowed
        for port, protocol in ss.fixed_ports(spec):
            check_port_free("", port, protocol)  # host mode binds every interface
        image = self.normalize_image(spec.image)
        image_id = self._image_id(image)
        if self.registry:
            image_id = self._push(image, auth)
        # RunSpec has no replica count yet: one task (the replicas work of issue 23 adds it).
        replicas = int(getattr(spec, "replicas", 1) or 1)
        api = self._api()
        body = stackspec.apply(ss.service_spec(spec, image_id, replicas), spec.image)
        try:
            with secrets.LOCK:  # its new secrets and configs must not look unused before the service exists
                secrets.attach(api, body, spec.mounts)
                configs.attach(api, body, spec.mounts)
                # `--with-registry-auth`: swarm gives the node that runs a task the credentials for its pull.
                response = api._post_json(
                    api._url("/services/create"), data=body, headers=registryauth.header(auth)
                )
                created = api._result(response, True)
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if "AlreadyExists" in text or "already exists" in text or exc.status_code == 409:
                raise EngineError(
                    f"service name {spec.name} is already in use", details={"name": spec.name}
                ) from None
            raise
        return str(created["ID"])

    def _wait_started(self, service_id: str, timeout: float = START_TIMEOUT) -> None:
        """Blocking: until the service's task has started a container (or ended); a task the scheduler cannot
        place, or one rejected before it started, is an error naming the engine's reason."""
        deadline = time.monotonic() + timeout
        reason = ""
        while time.monotonic() < deadline:
            for task in self._tasks(service_id):
                status = task.get("Status") or {}
                state = str(status.get("State") or "")
                reason = str(status.get("Err") or status.get("Message") or "")
                if "port already in use" in reason or "port is already allocated" in reason:
                    raise PortInUse(f"host port already in use: {reason}", details={"engine_message": reason})
                if state == "rejected":
                    raise EngineError(f"swarm rejected the task: {reason}", details={"service": service_id})
                if (unplaced := self._unplaced(task, service_id)) is not None:
                    raise unplaced  # swarm would leave it pending for ever
                if state in ss.ENDED_STATES and ss.container_id(task):
                    return
                if state == "running":  # its node's agent says so: also a task whose container is elsewhere
                    return
                data = self._container(ss.container_id(task))
                if data is not None and ((data.get("State") or {}).get("StartedAt") or "").startswith("0001"):
                    continue
                if data is not None:
                    return
            time.sleep(0.1)
        raise EngineError(
            f"the service's task did not start within {timeout:.0f} s ({reason or 'no reason given'})",
            details={"service": service_id},
        )

    def _remove_service(self, service_id: str, force: bool = True) -> None:
        api = self._api()
        try:
            service = self._service(service_id)
        except docker.errors.NotFound:
            return
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_service(service["ID"])
        # The node's agent removes the task containers a moment later; until then a volume or a network they
        # use cannot be removed, which is what a caller of ``remove`` does next.
        deadline = time.monotonic() + REMOVE_TIMEOUT
        label = {"label": [f"com.docker.swarm.service.id={service['ID']}"]}
        if force:
            # What ``docker rm -f`` does: no grace period (the agent would give a process that ignores
            # SIGTERM its full stop_grace_period); the service is gone, so nothing restarts them.
            for summary in api.containers(filters=label) or []:
                with contextlib.suppress(docker.errors.APIError):
                    api.kill(summary["Id"])
        while api.containers(all=True, filters=label) and time.monotonic() < deadline:
            time.sleep(0.1)
        container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec", {})
        instance = ((service.get("Spec") or {}).get("Labels") or {}).get("rivetr.instance")
        if container.get("Secrets"):
            secrets.remove_unused(api, instance)
        if container.get("Configs"):
            configs.remove_unused(api, instance)

    async def run(self, spec: RunSpec) -> ContainerInfo:
        """Create the service and wait for its task's container to start. A fixed host port taken is a
        :class:`PortInUse` naming it, and nothing is left behind."""
        auth = await registryauth.lookup(self.registry_auth, self.registry)
        service_id = await self._call(self._create, spec, auth, image=spec.image)
        try:
            await self._call(self._wait_started, service_id)
            return await self.inspect(service_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._call(self._remove_service, service_id)
            raise

    def _update(self, service: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        api = self._api()
        version = (service.get("Version") or {}).get("Index")
        response = api._post_json(
            api._url("/services/{0}/update", service["ID"]), params={"version": version}, data=spec
        )
        api._result(response, True)

    def _stop(self, service_id: str, timeout: float | None) -> None:
        api = self._api()
        service = self._service(service_id)
        if ss.replicas_of(service) == 0:
            return
        exit_codes: builtins.list[int] = []
        grace = ((service["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(
            "StopGracePeriod"
        )
        if timeout is None and grace is not None:  # swarm keeps it in the service, not the task's container
            timeout = grace / 1e9
        for task in self._tasks(service["ID"]):
            data = self._container(ss.container_id(task))
            if data is None or not (data.get("State") or {}).get("Running"):
                continue
            # Stopped here (not by the scale-down) to learn its exit code: the scaled-down task's container
            # is removed with the task. The restart delay (1 s) leaves time to scale down before a restart.
            with contextlib.suppress(docker.errors.NotFound):
                api.stop(data["Id"], timeout=stop_seconds(api, data["Id"], timeout))
                exit_codes.append(
                    int((api.inspect_container(data["Id"]).get("State") or {}).get("ExitCode") or 0)
                )
        spec = dict(service["Spec"])
        labels = dict(spec.get("Labels") or {})
        labels[ss.REPLICAS_LABEL] = str(ss.replicas_of(service))
        if exit_codes:
            labels[ss.EXIT_CODE_LABEL] = str(exit_codes[0])
        spec["Labels"] = labels
        spec["Mode"] = {"Replicated": {"Replicas": 0}}
        self._update(self._service(service["ID"]), spec)

    async def stop(self, container_id: str, timeout: float | None = 10) -> None:
        """Stop the service's task (its stop signal, SIGKILL after ``timeout``, None: the service's stop grace
        period) and scale the service to 0 so it
        stays stopped. Stopping a stopped service is a no-op."""
        await self._call(self._stop, container_id, timeout, container=container_id)

    def _start(self, container_id: str) -> None:
        service = self._service(container_id)
        if ss.replicas_of(service) > 0 and not self._evicted(self._tasks(service["ID"])):
            return
        spec = dict(service["Spec"])
        labels = dict(spec.get("Labels") or {})
        labels.pop(ss.EXIT_CODE_LABEL, None)
        spec["Labels"] = labels
        spec["Mode"] = {"Replicated": {"Replicas": int(labels.get(ss.REPLICAS_LABEL) or 1)}}
        # Forced: with restart condition "none" swarm does not fill a slot again on a plain scale-up.
        task = dict(spec.get("TaskTemplate") or {})
        task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
        spec["TaskTemplate"] = task
        self._update(service, spec)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._inspect(service["ID"]).running:
                return
            for task in self._tasks(service["ID"]):  # a drained node or a label gone: no node fits any more
                if (unplaced := self._unplaced(task, service["ID"])) is not None:
                    raise unplaced
            time.sleep(0.1)
        raise EngineError(f"service {spec.get('Name')} did not start again within {START_TIMEOUT:.0f} s")

    async def start(self, container_id: str) -> None:
        """Scale a stopped service back to its replicas and wait for its task to run; a running one is a
        no-op."""
        await self._call(self._start, container_id, container=container_id)

    async def remove(self, container_id: str, force: bool = True) -> None:
        """Remove the service and wait for its containers to go (``force``: killed, not stopped); a missing
        service is not an error."""
        await self._call(self._remove_service, container_id, force, container=container_id)

    async def pause(self, container_id: str) -> None:
        engine, task_container = await self._resolve(container_id)
        await self._on(engine).pause(task_container)

    async def unpause(self, container_id: str) -> None:
        engine, task_container = await self._resolve(container_id)
        await self._on(engine).unpause(task_container)

    # ------------------------------------------------------------------------ the task's container
    async def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]:
        """The log of the service's current task's container (the last one run, also when it ended); of a task
        on another node, from that node's engine when ``node_engines`` names it (``docker logs`` there: any log
        driver with the engine's dual logging), else (or when it does not answer) through the swarm
        (``GET /tasks/{id}/logs``)."""

        def latest() -> tuple[DockerRuntime | None, str | None, str | None]:
            """(the engine of the task's node when it is another node with an address, else None; the task's
            container, on this node or that one; the task's id, when on another node)."""
            service = self._service(container_id)
            task = ss.current_task(self._tasks(service["ID"]))
            nodes = NodeAddresses(self._api())
            if task is not None and nodes.is_remote(task):
                node = node_of(task)
                engine = self.node_engines.engine(node, nodes.hostname(node))
                if engine is None or not ss.container_id(task):
                    return None, None, str(task["ID"])
                return engine, ss.container_id(task), str(task["ID"])
            return None, ss.container_id(task), None

        engine, task_container, remote_task = await self._call(latest, container=container_id)
        if engine is not None and task_container is not None:
            yielded = False
            try:
                async for line in engine.logs(task_container, tail=tail, follow=follow, since=since):
                    yielded = True
                    yield line
                return
            except (RuntimeUnavailable, ContainerNotFound):
                if yielded:
                    raise
                # Its engine does not answer (or its container went with the task): ask the swarm instead.
        if remote_task is not None:
            # No container of it here: the swarm's log broker fetches the log from that node's agent.
            async for line in task_logs(self, remote_task, tail=tail, follow=follow, since=since):
                yield line
            return
        if task_container is None:
            return
        try:
            async for line in super().logs(task_container, tail=tail, follow=follow, since=since):
                yield line
        except ContainerNotFound:
            return  # the task (and its container) went away: a scaled-down service has no log here

    async def stats_many(self, container_ids: builtins.list[str]) -> dict[str, ContainerStats]:
        """Stats of each service's running task's container, keyed by service id (a task on another node's
        from that node's engine); services without one (or gone, or on a node without an engine address) are
        left out."""
        resolved = await asyncio.gather(
            *(self._resolve(cid) for cid in container_ids), return_exceptions=True
        )
        by_engine: dict[DockerRuntime | None, dict[str, str]] = {}
        for service_id, result in zip(container_ids, resolved, strict=True):
            if isinstance(result, ContainerNotFound | NoRunningTask):
                continue
            if isinstance(result, BaseException):
                raise result
            engine, task_container = result
            by_engine.setdefault(engine, {})[task_container] = service_id
        engines = builtins.list(by_engine)
        samples = await asyncio.gather(
            *(self._on(engine).stats_many(builtins.list(by_engine[engine])) for engine in engines)
        )
        out: dict[str, ContainerStats] = {}
        for engine, stats in zip(engines, samples, strict=True):
            for task_container, sample in stats.items():
                sample.container_id = by_engine[engine][task_container]
                out[sample.container_id] = sample
        return out

    async def exec(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> ExecResult:
        engine, task_container = await self._resolve(container_id)
        return await self._on(engine).exec(task_container, cmd, env)

    async def exec_output(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        engine, task_container = await self._resolve(container_id)
        async for chunk in self._on(engine).exec_output(task_container, cmd, env):
            yield chunk

    async def exec_input(
        self,
        container_id: str,
        cmd: builtins.list[str],
        chunks: AsyncIterable[bytes],
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        engine, task_container = await self._resolve(container_id)
        return await self._on(engine).exec_input(task_container, cmd, chunks, env)

    async def exec_interactive(
        self, container_id: str, cmd: builtins.list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> DockerExecSession:
        engine, task_container = await self._resolve(container_id)
        return await self._on(engine).exec_interactive(task_container, cmd, rows, cols)

    # ----------------------------------------------------------------------------------------- networks
    def _replace_local_network(self, api: docker.APIClient, name: str) -> None:
        """Blocking: remove a node-local network named ``name`` (a project network the docker runtime made
        before the switch to swarm) so an overlay can take its name; one containers still use is an error."""
        for network in api.networks(names=[name]) or []:
            if network.get("Name") != name or network.get("Scope") == "swarm":
                continue
            if (api.inspect_network(network["Id"]).get("Containers") or {}) or not self._removed(
                api, network
            ):
                raise EngineError(
                    f"network {name} is a {network.get('Driver')} network of this node, still used by "
                    "containers; swarm services need an overlay network of that name: remove those containers "
                    "(for instance the ones the docker runtime ran) first",
                    details={"network": name},
                )

    @staticmethod
    def _removed(api: docker.APIClient, network: Mapping[str, Any]) -> bool:
        try:
            api.remove_network(network["Id"])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:
            return False
        return True

    def _overlay(self, name: str, labels: Mapping[str, str]) -> str:
        api = self._api()
        with _NETWORK_LOCK:
            self._replace_local_network(api, name)
            if not [n for n in api.networks(names=[name]) or [] if n.get("Name") == name]:
                try:
                    # Attachable: a one-off container (a backup's helper) can join it like a service.
                    api.create_network(
                        name,
                        driver="overlay",
                        attachable=True,
                        labels=stackspec.with_namespace(labels) or None,
                        scope="swarm",
                    )
                except docker.errors.APIError:
                    if not [n for n in api.networks(names=[name]) or [] if n.get("Name") == name]:
                        raise
        return name

    async def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create, unless it exists, the attachable overlay network ``name``: services on it resolve each
        other by service name and alias (``dnsrr``: to their tasks' addresses). Returns ``name``."""
        return await self._call(self._overlay, name, labels)

    async def ensure_project_network(self, name: str, labels: Mapping[str, str]) -> str:
        """A project network is an overlay too: overlays are separate networks (no route between two), so a
        project's services never reach another project's; no host firewall is involved."""
        return await self._call(self._overlay, name, labels)

    def _remove_overlay(self, name: str) -> None:
        api = self._api()
        for network in api.networks(names=[name]) or []:
            if network.get("Name") != name:
                continue
            try:
                api.remove_network(network["Id"])
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                text = str(exc.explanation or exc)
                if exc.status_code in (403, 409) or "in use" in text or "active endpoints" in text:
                    raise EngineError(
                        f"network {name} is still used by a service or container", details={"network": name}
                    ) from None
                raise

    async def remove_network(self, name: str) -> None:
        """Delete the overlay ``name``; a missing one is not an error; one in use raises :class:`EngineError`."""
        await self._call(self._remove_overlay, name)
