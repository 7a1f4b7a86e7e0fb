"""The part of the Compose Specification Rivetr runs: an explicit allow-list per level.

Anything else is refused with a 422 naming the key rather than silently ignored: a file that asks for
``privileged`` or ``network_mode: host`` and runs without it would behave differently from what its author
tested. Rivetr names containers, volumes and networks itself, so the keys that name them are refused too.
``x-`` extension keys are ignored at every level. Runs after the schema check: the shapes are known good.
"""

from __future__ import annotations

from typing import Any

from rivetr_core.compose.errors import problem
from rivetr_core.compose.paths import Path_, fmt_path

UNSUPPORTED = "not supported by Rivetr (see docs/compose.md)"

TOP_LEVEL = {"version", "name", "services", "volumes", "networks", "configs", "secrets"}
SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "configs",
    "secrets",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "labels",
    "working_dir",
    "user",
    "init",
    "stop_signal",
    "stop_grace_period",
    "deploy",
    "profiles",
    # shorthands of deploy.resources.limits.{cpus,memory}, common in files written for docker-compose
    "cpus",
    "mem_limit",
}
BUILD_KEYS = {"context", "dockerfile", "args", "target"}
DEPLOY_KEYS = {"replicas", "resources", "placement", "restart_policy"}
#: Checked and carried by normalise.py; docker/podman have no delay or window (a warning says so at deploy).
RESTART_POLICY_KEYS = {"condition", "delay", "max_attempts", "window"}
RESTART_CONDITIONS = {"none", "on-failure", "any"}
PLACEMENT_KEYS = {"constraints"}  # swarm's; preferences and max_replicas_per_node are not carried
RESOURCES_KEYS = {"limits"}
LIMITS_KEYS = {"cpus", "memory"}
VOLUME_MOUNT_KEYS = {"type", "source", "target", "read_only"}
VOLUME_MOUNT_TYPES = {"volume", "bind", "tmpfs"}
PORT_KEYS = {"target", "published", "protocol", "mode"}
SERVICE_NETWORK_KEYS = {"aliases"}
#: ``uid``/``gid``/``mode``: applied by a runtime with a secret store (swarm); a bind mount shows the host file.
SERVICE_FILE_KEYS = {"source", "target", "uid", "gid", "mode"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
TOP_VOLUME_KEYS = {"driver", "labels"}
TOP_NETWORK_KEYS = {"driver", "labels"}
#: A config's value may also be written in the file (compose ``content:``) or come from a variable of the
#: stack's environment (``environment:``).
TOP_FILE_KEYS = {"file", "content", "environment"}
#: A secret's value may also come from a variable of the stack's environment (compose ``environment:``).
TOP_SECRET_KEYS = {"file", "environment"}
RESTART_POLICIES = {"no", "always", "on-failure", "unless-stopped"}


def _extra(
    mapping: Any, allowed: set[str], path: Path_, out: list[dict[str, Any]], why: str = UNSUPPORTED
) -> None:
    if not isinstance(mapping, dict):
        return
    for key in mapping:
        if key not in allowed and not key.startswith("x-"):
            out.append(problem(fmt_path((*path, key)), why))


def subset_problems(data: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    _extra(data, TOP_LEVEL, (), out)
    for name, service in (data.get("services") or {}).items():
        if isinstance(service, dict):
            _service(name, service, ("services", name), out)
    for kind, allowed in (("volumes", TOP_VOLUME_KEYS), ("networks", TOP_NETWORK_KEYS)):
        for name, entry in (data.get(kind) or {}).items():
            path = (kind, name)
            if not isinstance(entry, dict):
                continue
            if entry.get("external"):
                out.append(problem(fmt_path((*path, "external")), f"external {kind} are {UNSUPPORTED}"))
                entry = {k: v for k, v in entry.items() if k != "external"}
            _extra(entry, allowed | {"external"}, path, out)
            driver = entry.get("driver")
            expected = "local" if kind == "volumes" else "bridge"
            if driver is not None and driver != expected:
                out.append(problem(fmt_path((*path, "driver")), f"only the {expected!r} driver is supported"))
    for kind in ("configs", "secrets"):
        for name, entry in (data.get(kind) or {}).items():
            path = (kind, name)
            if isinstance(entry, dict) and entry.get("external"):
                out.append(problem(fmt_path((*path, "external")), f"external {kind} are {UNSUPPORTED}"))
                continue
            _extra(entry, TOP_SECRET_KEYS if kind == "secrets" else TOP_FILE_KEYS, path, out)
            if kind == "secrets" and isinstance(entry, dict) and not ({"file", "environment"} & set(entry)):
                out.append(
                    problem(
                        fmt_path(path), "needs a 'file:' or an 'environment:' (the sources Rivetr supports)"
                    )
                )
            elif isinstance(entry, dict) and not ({"file", "content", "environment"} & set(entry)):
                out.append(
                    problem(
                        fmt_path(path),
                        "needs a 'file:', a 'content:' or an 'environment:' (the sources Rivetr supports)",
                    )
                )
    return out


def _service(name: str, service: dict[str, Any], path: Path_, out: list[dict[str, Any]]) -> None:
    _extra(service, SERVICE_KEYS, path, out)
    if isinstance(service.get("build"), dict):
        _extra(service["build"], BUILD_KEYS, (*path, "build"), out)
    deploy = service.get("deploy")
    if isinstance(deploy, dict):
        _extra(deploy, DEPLOY_KEYS, (*path, "deploy"), out)
        _extra(deploy.get("placement"), PLACEMENT_KEYS, (*path, "deploy", "placement"), out)
        policy = deploy.get("restart_policy")
        _extra(policy, RESTART_POLICY_KEYS, (*path, "deploy", "restart_policy"), out)
        condition = policy.get("condition") if isinstance(policy, dict) else None
        if condition is not None and condition not in RESTART_CONDITIONS:
            field = fmt_path((*path, "deploy", "restart_policy", "condition"))
            out.append(problem(field, f"must be one of {', '.join(sorted(RESTART_CONDITIONS))}"))
        resources = deploy.get("resources")
        if isinstance(resources, dict):
            _extra(resources, RESOURCES_KEYS, (*path, "deploy", "resources"), out)
            _extra(resources.get("limits"), LIMITS_KEYS, (*path, "deploy", "resources", "limits"), out)
    for index, mount in enumerate(service.get("volumes") or []):
        if isinstance(mount, dict):
            where = (*path, "volumes", index)
            _extra(mount, VOLUME_MOUNT_KEYS, where, out)
            if mount.get("type") not in VOLUME_MOUNT_TYPES:
                out.append(
                    problem(fmt_path((*where, "type")), f"mount type {mount.get('type')!r} is {UNSUPPORTED}")
                )
    for index, port in enumerate(service.get("ports") or []):
        if isinstance(port, dict):
            _extra(port, PORT_KEYS, (*path, "ports", index), out)
    networks = service.get("networks")
    if isinstance(networks, dict):
        for key, entry in networks.items():
            _extra(entry, SERVICE_NETWORK_KEYS, (*path, "networks", key), out)
    for kind in ("configs", "secrets"):
        for index, entry in enumerate(service.get(kind) or []):
            _extra(entry, SERVICE_FILE_KEYS, (*path, kind, index), out)
    _extra(service.get("healthcheck"), HEALTHCHECK_KEYS, (*path, "healthcheck"), out)
    restart = service.get("restart")
    if restart is not None and restart not in RESTART_POLICIES:
        out.append(
            problem(fmt_path((*path, "restart")), f"must be one of {', '.join(sorted(RESTART_POLICIES))}")
        )
