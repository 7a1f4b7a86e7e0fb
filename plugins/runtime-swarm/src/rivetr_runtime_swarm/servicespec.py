"""Pure translations between Rivetr's :class:`~rivetr_core.contract.RunSpec` / :class:`~rivetr_core.contract.ContainerInfo`
and the Docker Engine API's swarm shapes (service spec, tasks): no engine calls, so they are unit-tested on their own.

Routing (see docs/scaling.md, "Docker Swarm runtime"): published ports use ``PublishMode: host`` and the
endpoint mode is ``dnsrr``. The ingress routing mesh and service VIPs need the kernel's IPVS, which many hosts
(containers, this CI machine) lack; a host-mode port is a plain engine port binding of the task's container on
its node, reachable at ``127.0.0.1:<port>`` by the proxy on that node, and ``dnsrr`` makes the service name and
aliases resolve to the tasks' own addresses on overlay networks (no VIP). A port left at 0 is picked by the
engine per task, so a start-first update never clashes with the task it replaces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from rivetr_core.contract import HealthcheckConfig, Mount, PortInUse, PortPublish, RunSpec

#: Labels the runtime keeps on a service for itself; hidden from ``ContainerInfo.labels``.
INTERNAL_PREFIX = "rivetr.swarm."
#: The image reference the caller gave (the service runs the image's id, see :func:`service_spec`).
IMAGE_LABEL = f"{INTERNAL_PREFIX}image"
#: Replicas to come back to on ``start`` after a ``stop`` scaled the service to 0.
REPLICAS_LABEL = f"{INTERNAL_PREFIX}replicas"
#: ``RunSpec.container_port`` ("" for none): which published port is ``ContainerInfo.host_port``.
MAIN_PORT_LABEL = f"{INTERNAL_PREFIX}main-port"
#: Exit code of the task ``stop`` ended (its container goes away with the scaled-down task).
EXIT_CODE_LABEL = f"{INTERNAL_PREFIX}exit-code"
#: The node a drain through Rivetr is moving the service's task off (:mod:`.drain`): set while the service runs
#: one task more than its replicas, the new one elsewhere.
LEAVING_LABEL = f"{INTERNAL_PREFIX}leaving"

#: RunSpec restart policy -> swarm ``RestartPolicy.Condition`` (a service has no "unless-stopped": ``stop``
#: scales it to 0, which is what unless-stopped means for it).
RESTART_CONDITIONS = {"no": "none", "on-failure": "on-failure", "always": "any", "unless-stopped": "any"}

#: Task states before its container started.
PENDING_STATES = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready"}
#: Task states after which it never runs again.
ENDED_STATES = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}

_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.I)


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def healthcheck(config: HealthcheckConfig | None) -> dict[str, Any] | None:
    """``ContainerSpec.Healthcheck`` (durations in nanoseconds)."""
    if config is None:
        return None
    out: dict[str, Any] = {"Test": list(config.test), "Retries": int(config.retries)}
    if config.test[:1] != ["NONE"]:
        out.update(Interval=ns(config.interval), Timeout=ns(config.timeout))
        if config.start_period:
            out["StartPeriod"] = ns(config.start_period)
    return out


def tmpfs_mount(target: str, options: str) -> dict[str, Any]:
    """A ``tmpfs`` service mount from docker's option string (``size=64m,mode=1777``)."""
    tmpfs: dict[str, Any] = {}
    for option in filter(None, (part.strip() for part in options.split(","))):
        key, _, value = option.partition("=")
        if key == "size" and (match := _SIZE.match(value)):
            number, unit = match.groups()
            tmpfs["SizeBytes"] = int(number) * 1024 ** " kmg".index(unit.lower() or " ")
        elif key == "mode":
            tmpfs["Mode"] = int(value, 8)
    return {"Type": "tmpfs", "Target": target, "TmpfsOptions": tmpfs}


def mount(spec: Mount) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Type": spec.kind,
        "Source": spec.source,
        "Target": spec.target,
        "ReadOnly": spec.read_only,
    }
    if spec.kind == "volume":
        # The volume is created on the node that runs the task, with these labels (node-local data).
        out["VolumeOptions"] = {"Labels": dict(spec.labels)}
    return out


def fixed_ports(spec: RunSpec) -> list[tuple[int, str]]:
    """``(host port, protocol)`` of every fixed port the service publishes; a port asked for twice is a
    :class:`PortInUse` naming it."""
    wanted = [(spec.host_port, "tcp")] if spec.container_port and spec.host_port else []
    wanted += [(p.host_port, p.protocol) for p in spec.ports if p.host_port]
    seen: set[tuple[int, str]] = set()
    for port, protocol in wanted:
        if (port, protocol) in seen:
            raise PortInUse(
                f"host port {port}/{protocol} is published twice by {spec.name}",
                details={"port": port, "protocol": protocol},
            )
        seen.add((port, protocol))
    return wanted


def endpoint_ports(spec: RunSpec) -> list[dict[str, Any]]:
    """``EndpointSpec.Ports``: ``container_port`` first (always published: the host cannot reach a task on an
    overlay network) unless ``ports`` publishes it already, then ``ports``. Host mode binds every interface of the node (swarm has no host IP)."""
    ports: list[tuple[int, int, str]] = []
    # dockerd keeps one host-mode binding per container port: when ``ports`` publishes the main port too,
    # that binding is the main one.
    if spec.container_port and not any(
        p.container_port == spec.container_port and p.protocol == "tcp" for p in spec.ports
    ):
        ports.append((spec.container_port, spec.host_port, "tcp"))
    ports += [(p.container_port, p.host_port, p.protocol) for p in spec.ports]
    out = []
    for target, published, protocol in ports:
        port: dict[str, Any] = {"Protocol": protocol, "TargetPort": target, "PublishMode": "host"}
        if published:
            port["PublishedPort"] = published
        out.append(port)
    return out


def restart_policy(spec: RunSpec) -> dict[str, Any]:
    """``TaskTemplate.RestartPolicy``: compose's ``delay`` (1 s unless given), ``max_attempts`` (none: no
    limit) and ``window``, durations in nanoseconds."""
    delay = spec.restart_delay if spec.restart_delay is not None else 1
    out: dict[str, Any] = {"Condition": RESTART_CONDITIONS[spec.restart_policy], "Delay": ns(delay)}
    if spec.restart_max_attempts is not None:
        out["MaxAttempts"] = spec.restart_max_attempts
    if spec.restart_window is not None:
        out["Window"] = ns(spec.restart_window)
    return out


def service_spec(spec: RunSpec, image: str, replicas: int) -> dict[str, Any]:
    """The ``POST /services/create`` body for ``spec``, running ``image``: the image's id (``sha256:...``) on a
    single node, ``<registry>/<path>@<digest>`` when a registry serves the nodes.

    Never a tag: with a tag every node's agent asks the image's registry first at each task start (for
    ``localhost/...`` that is seconds of failed connections); an id is never pulled, and a digest is not pulled
    by a node that has it."""
    container: dict[str, Any] = {
        "Image": image,
        "Labels": dict(spec.labels),
        "Env": [f"{key}={value}" for key, value in spec.env.items()],
        "Init": spec.init,
        "Mounts": [mount(m) for m in spec.mounts]
        + [tmpfs_mount(target, options) for target, options in spec.tmpfs.items()],
    }
    if spec.entrypoint:  # swarm reads an empty Command as "the image's": [] cannot clear an ENTRYPOINT
        container["Command"] = list(spec.entrypoint)
    if spec.command is not None:
        container["Args"] = list(spec.command)
    if spec.working_dir:
        container["Dir"] = spec.working_dir
    if spec.user:
        container["User"] = spec.user
    if spec.stop_signal:
        container["StopSignal"] = spec.stop_signal
    if spec.stop_timeout is not None:  # the task's container gets it as its own stop timeout
        container["StopGracePeriod"] = ns(spec.stop_timeout)
    if (check := healthcheck(spec.healthcheck)) is not None:
        container["Healthcheck"] = check
    limits: dict[str, Any] = {}
    if spec.cpu_limit:
        limits["NanoCPUs"] = round(spec.cpu_limit * 1e9)
    if spec.memory_limit:
        limits["MemoryBytes"] = int(spec.memory_limit)
    if spec.pids_limit:
        limits["Pids"] = int(spec.pids_limit)
    task: dict[str, Any] = {
        "ContainerSpec": container,
        "Resources": {"Limits": limits},
        "RestartPolicy": restart_policy(spec),
    }
    if spec.placement:  # checked by core (rivetr_core.placement): swarm's own `<attr> ==|!= <value>` syntax
        task["Placement"] = {"Constraints": list(spec.placement)}
    if spec.log_max_size:
        files = max(1, spec.log_max_files or 1)
        task["LogDriver"] = {
            "Name": "json-file",
            "Options": {"max-size": str(spec.log_max_size), "max-file": str(files)},
        }
    networks: dict[str, list[str]] = {}
    if spec.network:
        networks[spec.network] = list(spec.network_aliases)
        for name, aliases in spec.extra_networks.items():
            networks.setdefault(name, list(aliases))
    if networks:
        task["Networks"] = [
            {"Target": name, **({"Aliases": aliases} if aliases else {})}
            for name, aliases in networks.items()
        ]
    labels = {
        **spec.labels,
        IMAGE_LABEL: spec.image,
        REPLICAS_LABEL: str(replicas),
        MAIN_PORT_LABEL: str(spec.container_port or ""),
    }
    # A new task starts (and passes its health check) before the old one stops: the proxy always has one.
    update = {"Parallelism": 1, "Order": "start-first", "FailureAction": "rollback", "Monitor": ns(5)}
    return {
        "Name": spec.name,
        "Labels": labels,
        "TaskTemplate": task,
        "Mode": {"Replicated": {"Replicas": replicas}},
        "UpdateConfig": update,
        "RollbackConfig": {"Parallelism": 1, "Order": "start-first"},
        "EndpointSpec": {"Mode": "dnsrr", "Ports": endpoint_ports(spec)},
    }


def registry_reference(image: str, registry: str) -> tuple[str, str]:
    """``(repository, tag)`` of ``image`` in ``registry``: its path without its own registry host
    (``localhost/rivetr/app:3`` in ``reg.example:5000`` -> ``reg.example:5000/rivetr/app``, ``3``)."""
    name = image.split("@", 1)[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        name = rest
    path, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        path, tag = name, "latest"
    return f"{registry.rstrip('/')}/{path}", tag


def public_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if not k.startswith(INTERNAL_PREFIX)}


def task_time(task: Mapping[str, Any]) -> str:
    return str(task.get("CreatedAt") or "")


def current_task(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The task that speaks for a single-replica service: the newest running one, else the newest."""
    if not tasks:
        return None
    running = [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]
    # One the orchestrator is shutting down (replaced by a newer one, or its node drained) is on its way out:
    # while it stops it is not the one that speaks, or a replaced task would look like a crash for a moment.
    running = [t for t in running if t.get("DesiredState") in (None, "running")] or running
    if running:
        # The newest: while a drain through Rivetr moves a task (.drain) the service runs two, and the one on
        # the node that stays is the one the routes must follow before the old one stops.
        return max(running, key=task_time)
    return max(tasks, key=task_time)


def container_id(task: Mapping[str, Any] | None) -> str | None:
    return ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID") or None


def task_ports(task: Mapping[str, Any] | None) -> list[PortPublish]:
    """The host-mode bindings a task's node made (``Status.PortStatus``), sorted like the docker runtime's."""
    out: list[PortPublish] = []
    for port in ((task or {}).get("Status") or {}).get("PortStatus", {}).get("Ports") or []:
        protocol: Literal["tcp", "udp"] = "udp" if port.get("Protocol") == "udp" else "tcp"
        out.append(
            PortPublish(
                int(port.get("TargetPort") or 0),
                host_port=int(port.get("PublishedPort") or 0),
                protocol=protocol,
            )
        )
    return sorted(out, key=lambda p: (p.container_port, p.protocol, p.host_port))


def main_host_port(service: Mapping[str, Any], ports: list[PortPublish]) -> int | None:
    """The host port of ``RunSpec.container_port``: among the task's bindings (``ports``) of that port, the
    one the spec did not fix for another entry of ``ports`` (the spec lists the main port first)."""
    labels = (service.get("Spec") or {}).get("Labels") or {}
    main = labels.get(MAIN_PORT_LABEL)
    if not main:
        return None
    requested = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    mine = requested[0].get("PublishedPort") if requested else None
    others = {p.get("PublishedPort") for p in requested[1:] if p.get("PublishedPort")}
    candidates = [p for p in ports if p.container_port == int(main) and p.protocol == "tcp"]
    if len(candidates) == 1:
        return candidates[0].host_port
    for port in candidates:
        if mine and port.host_port == mine:
            return port.host_port
    for port in candidates:
        if port.host_port not in others:
            return port.host_port
    return None


def limits_of(service: Mapping[str, Any]) -> dict[str, Any]:
    task = (service.get("Spec") or {}).get("TaskTemplate") or {}
    raw = (task.get("Resources") or {}).get("Limits") or {}
    limits: dict[str, Any] = {}
    if raw.get("NanoCPUs"):
        limits["cpu"] = raw["NanoCPUs"] / 1e9
    if raw.get("MemoryBytes"):
        limits["memory"] = int(raw["MemoryBytes"])
    if raw.get("Pids"):
        limits["pids"] = int(raw["Pids"])
    return limits


def replicas_of(service: Mapping[str, Any]) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas") or 0)


def task_status(task: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """Engine status word and exit code of a task whose container is not on this node (or gone)."""
    status = (task or {}).get("Status") or {}
    state = str(status.get("State") or "")
    if state in PENDING_STATES or not state:
        return "created", None
    if state in ("running", "starting"):
        return "running", None
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    return "exited", None if code is None else int(code)
