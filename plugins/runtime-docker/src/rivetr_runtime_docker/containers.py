"""Containers (run, stop, remove, inspect, list) and the isolated networks fork previews run on."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Mapping
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker
import docker.errors

from rivetr_core.contract import ContainerInfo, ContainerNotFound, ImageNotFound, RunSpec

from .engine import EngineError, has_labels, parse_time
from .isolation import FirewallError, bridge_name, ensure_firewall
from .networks import NetworksMixin
from .runspec import (
    MAIN_PORT_LABEL,
    RUNTIME_LABELS,
    STOP_TIMEOUT_LABEL,
    check_port_free,
    check_ports_free,
    exposed_ports,
    healthcheck,
    main_host_port,
    network_address,
    network_addresses,
    port_bindings,
    published_ports,
    restart_retries,
)
from .volumes import VolumesMixin

__all__ = ["ContainersMixin", "check_port_free", "network_address"]


class ContainersMixin(VolumesMixin, NetworksMixin):
    """The container part of the runtime Protocol, plus :meth:`ensure_isolated_network`.

    Annotations spell ``builtins.list`` because the Protocol's method ``list`` shadows the builtin in the
    class body."""

    #: Extension point: driver options of an isolated network, besides the fixed bridge name the firewall
    #: matches. dockerd: no traffic between its containers (ICC off); podman ignores ICC and has netavark's
    #: own ``isolate`` switch.
    ISOLATED_NETWORK_OPTIONS = {"com.docker.network.bridge.enable_icc": "false"}

    # ------------------------------------------------------------------------------------ extension points
    def log_config(self, spec: RunSpec) -> dict[str, Any] | None:
        """The container's ``LogConfig``: json-file rotation (``max-size`` x ``max-file``), so a chatty app
        cannot fill the disk; None leaves the daemon's own log driver and options.

        Extension point: an engine whose log driver rotates differently overrides it to keep the same disk
        budget (podman's k8s-file keeps one file and honours ``max-size`` only)."""
        if not spec.log_max_size:
            return None
        files = max(1, spec.log_max_files or 1)
        return {"Type": "json-file", "Config": {"max-size": str(spec.log_max_size), "max-file": str(files)}}

    def normalize_status(self, status: str) -> str:
        """The engine's status word in Docker's vocabulary (created, running, exited, paused, dead, …).

        Extension point: an engine with other words maps them here (podman says ``stopped`` and
        ``configured``), so ``ContainerInfo.status`` means the same on every engine."""
        return status

    # -------------------------------------------------------------------------------------------- networks
    def _ensure_network(self, name: str) -> str:
        """Blocking: the isolated bridge ``name`` (created if missing); returns its interface name."""
        api = self._api()
        bridge = bridge_name(self.name, name)
        try:
            labels = api.inspect_network(name).get("Labels") or {}
        except docker.errors.NotFound:
            options = {**self.ISOLATED_NETWORK_OPTIONS, "com.docker.network.bridge.name": bridge}
            labels = {"rivetr.managed": "true", "rivetr.isolated": "true", "rivetr.bridge": bridge}
            try:
                api.create_network(name, driver="bridge", options=options, labels=labels)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another deployment made it meanwhile
                    raise
                labels = api.inspect_network(name).get("Labels") or {}
        if labels.get("rivetr.bridge") != bridge:
            raise EngineError(
                f"{self.name} network {name!r} exists but was not made by Rivetr as an isolated network; "
                "remove it (it is recreated) or choose another [previews] fork_network"
            )
        return bridge

    async def ensure_isolated_network(self, name: str, *, firewall: bool = True) -> str:
        """Create the isolated bridge network ``name`` if needed and (``firewall``) make sure the host's
        iptables keep its containers from the host and from other container networks (see
        :mod:`.isolation`). Returns ``name``. Raises :class:`EngineError` when isolation cannot be set up."""
        bridge = await self._call(self._ensure_network, name)
        if firewall:
            try:
                await asyncio.to_thread(ensure_firewall, bridge)
            except FirewallError as exc:
                raise EngineError(
                    f"cannot isolate network {name!r}: {exc} (run as root with iptables, or set "
                    "[previews] fork_firewall = false to accept fork previews without the host firewall)"
                ) from exc
        return name

    # ------------------------------------------------------------------------------------------ containers
    def _is_rootless(self, api: docker.APIClient) -> bool:
        """Whether the engine runs rootless: its containers' addresses are then inside a user namespace's
        network the host cannot reach, so ports are published even when ``RunSpec.publish`` is False."""
        if self._rootless is None:
            options = api.info().get("SecurityOptions") or []
            self._rootless = any("name=rootless" in str(option) for option in options)
        return self._rootless

    def _host_config(self, api: docker.APIClient, spec: RunSpec) -> dict[str, Any]:
        main_published = bool(spec.container_port) and (spec.publish or self._is_rootless(api))
        restart = None
        if spec.restart_policy != "no":
            restart = {"Name": spec.restart_policy, "MaximumRetryCount": restart_retries(spec)}
        return api.create_host_config(
            port_bindings=port_bindings(spec, main_published=main_published),
            init=spec.init or None,
            nano_cpus=int(spec.cpu_limit * 1e9) if spec.cpu_limit else None,
            mem_limit=spec.memory_limit or None,
            pids_limit=spec.pids_limit or None,
            restart_policy=restart,
            network_mode=spec.network or None,
            log_config=self.log_config(spec),
            oom_score_adj=spec.oom_score_adj or None,
            mounts=self._mounts(api, spec.mounts),
            tmpfs=dict(spec.tmpfs) or None,
        )

    def _create_and_start(self, spec: RunSpec, image: str) -> str:
        api = self._api()
        if spec.extra_networks and not spec.network:
            raise EngineError(
                f"container {spec.name}: extra_networks need a main network (RunSpec.network)",
                details={"extra_networks": sorted(spec.extra_networks)},
            )
        labels = dict(spec.labels)
        if spec.ports:
            labels[MAIN_PORT_LABEL] = str(spec.container_port or "")
        if spec.stop_timeout is not None:
            labels[STOP_TIMEOUT_LABEL] = str(round(spec.stop_timeout))
        created = api.create_container(
            image,
            name=spec.name,
            command=spec.command,
            entrypoint=self.entrypoint(spec.entrypoint),
            working_dir=spec.working_dir or None,
            user=spec.user or None,
            healthcheck=healthcheck(spec.healthcheck),
            stop_signal=spec.stop_signal or None,
            # Always set: podman's API otherwise stores 0, and its own stops (``podman stop``, a shutdown)
            # would SIGKILL at once; 10 is both engines' CLI default.
            stop_timeout=round(spec.stop_timeout) if spec.stop_timeout is not None else 10,
            environment=spec.env or None,
            labels=labels or None,
            ports=exposed_ports(spec),
            host_config=self._host_config(api, spec),
            networking_config=self._networking_config(api, spec.network, spec.network_aliases),
            detach=True,
        )
        container_id = created["Id"]
        try:
            # dockerd 20.10 (API 1.41) takes one network per create: the others are joined before the
            # start, so the container's processes see every network from their first instruction.
            for network, aliases in spec.extra_networks.items():
                if network != spec.network:
                    api.connect_container_to_network(container_id, network, aliases=list(aliases) or None)
            api.start(container_id)
            self.after_start(api, container_id)
        except Exception:
            # A container that failed to start (port taken, bad command) would block its name forever; v=True
            # takes its anonymous volumes along, so nothing of it is left.
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True, v=True)
            raise
        return container_id

    def after_start(self, api: docker.APIClient, container_id: str) -> None:
        """Blocking (a worker thread): called once a container was started (by ``run`` or ``start``); the
        docker runtime needs nothing here.

        Extension point: an engine that must look after a running container overrides it (podman runs
        HEALTHCHECKs itself where systemd's timers are missing). An error fails the ``run``."""

    def entrypoint(self, entrypoint: builtins.list[str] | None) -> builtins.list[str] | None:
        """``Config.Entrypoint`` for ``RunSpec.entrypoint`` (None keeps the image's; ``[]`` clears it).

        Extension point: an engine that reads an empty list as "not set" overrides it."""
        if entrypoint is None:
            return None
        # dockerd keeps the image's ENTRYPOINT for a missing or null one but clears it for an empty list;
        # the SDK sends the list unchanged.
        return list(entrypoint)

    async def run(self, spec: RunSpec) -> ContainerInfo:
        """Create and start a container; ``ContainerInfo.host_port`` is the published host port of
        ``container_port``. Fixed host ports (``host_port``, ``ports``) are checked free first: a taken one
        is a :class:`PortInUse` naming it, and nothing is created."""
        image = self.normalize_image(spec.image)
        check_ports_free(spec, main_published=spec.publish)
        if not await self.image_exists(image):
            raise ImageNotFound(f"image {image} not found in {self.name}", details={"image": image})
        container_id = await self._call(self._create_and_start, spec, image, image=image)
        return await self.inspect(container_id)

    async def stop(self, container_id: str, timeout: float | None = 10) -> None:
        """The stop signal (SIGTERM unless the container names another), then SIGKILL after ``timeout``
        seconds (None: the container's own stop timeout). Stopping a stopped container is a no-op."""

        def stop() -> None:
            api = self._api()
            api.stop(container_id, timeout=stop_seconds(api, container_id, timeout))

        await self._call(stop, container=container_id)

    async def pause(self, container_id: str) -> None:
        """Freeze the container's processes (for a consistent copy of its volumes)."""
        await self._call(lambda: self._api().pause(container_id), container=container_id)

    def _unpause(self, container_id: str) -> None:
        api = self._api()
        if (api.inspect_container(container_id).get("State") or {}).get("Paused"):
            api.unpause(container_id)

    async def unpause(self, container_id: str) -> None:
        """Thaw a paused container; one that is not paused is left as it is."""
        await self._call(self._unpause, container_id, container=container_id)

    async def start(self, container_id: str) -> None:
        """Start a stopped container again (same mounts, same published ports where they are free)."""
        await self._call(self._start, container_id, container=container_id)

    def _start(self, container_id: str) -> None:
        api = self._api()
        api.start(container_id)
        self.after_start(api, container_id)

    async def remove(self, container_id: str, force: bool = True) -> None:
        """Remove a container (and its anonymous volumes); a missing container is not an error."""
        with contextlib.suppress(ContainerNotFound):
            await self._call(
                lambda: self._api().remove_container(container_id, force=force, v=True),
                container=container_id,
            )

    def _info_from_inspect(self, data: Mapping[str, Any]) -> ContainerInfo:
        state = data.get("State") or {}
        config = data.get("Config") or {}
        host = data.get("HostConfig") or {}
        status = self.normalize_status(str(state.get("Status") or "unknown"))
        running = bool(state.get("Running"))
        labels = dict(config.get("Labels") or {})
        host_port = main_host_port(data, labels)
        health = ((state.get("Health") or {}).get("Status")) or None
        limits: dict[str, Any] = {}
        if host.get("NanoCpus"):
            limits["cpu"] = host["NanoCpus"] / 1e9
        elif host.get("CpuQuota") and host.get("CpuPeriod"):
            limits["cpu"] = host["CpuQuota"] / host["CpuPeriod"]
        if host.get("Memory"):
            limits["memory"] = int(host["Memory"])
        if host.get("PidsLimit") and host["PidsLimit"] > 0:
            limits["pids"] = int(host["PidsLimit"])
        return ContainerInfo(
            id=data["Id"],
            name=str(data.get("Name") or "").lstrip("/"),
            image=str(config.get("Image") or data.get("Image") or ""),
            status=status,
            running=running,
            exit_code=None if running or status in ("created", "running") else state.get("ExitCode"),
            health=health,
            host_port=host_port,
            labels={key: value for key, value in labels.items() if key not in RUNTIME_LABELS},
            created_at=parse_time(data.get("Created")),
            address=None if host_port else network_address(data, labels),
            started_at=parse_time(state.get("StartedAt")),
            restart_count=int(data.get("RestartCount") or 0),
            limits=limits,
            networks=network_addresses(data),
            ports=published_ports(data),
        )

    async def inspect(self, container_id: str) -> ContainerInfo:
        data = await self._call(lambda: self._api().inspect_container(container_id), container=container_id)
        return self._info_from_inspect(data)

    async def list(
        self, labels: Mapping[str, str] | None = None, all: bool = True
    ) -> builtins.list[ContainerInfo]:
        """Containers carrying every one of ``labels`` (``all=False``: running ones only)."""
        filters = self.engine_label_filters(labels)
        summaries = await self._call(lambda: self._api().containers(all=all, filters=filters))
        results = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries), return_exceptions=True)
        out: builtins.list[ContainerInfo] = []
        for result in results:
            if isinstance(result, ContainerNotFound):
                continue  # removed between the list and the inspect
            if isinstance(result, BaseException):
                raise result
            if has_labels(result.labels, labels):
                out.append(result)
        return out


def stop_seconds(api: docker.APIClient, container_id: str, timeout: float | None) -> int:
    """Whole seconds to wait after the stop signal: ``timeout``, or for None the container's own
    (``RunSpec.stop_timeout``, compose ``stop_grace_period``: :data:`STOP_TIMEOUT_LABEL`), else the engines'
    10. Always passed explicitly: docker-py sizes its HTTP timeout from it, so a grace period longer than the
    client's timeout would cut the call."""
    if timeout is None:
        labels = (api.inspect_container(container_id).get("Config") or {}).get("Labels") or {}
        try:
            timeout = float(labels.get(STOP_TIMEOUT_LABEL) or 10)
        except ValueError:
            timeout = 10
    return max(0, round(timeout))
