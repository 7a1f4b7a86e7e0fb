"""What a compose file means once loaded: plain dataclasses, no YAML, no engine.

:func:`rivetr_core.compose.loader.load_compose` builds a :class:`ComposeProject`; the stack deployer turns its
:class:`ServiceSpec` s into containers. Every path and unit is already normalised here (ports expanded,
durations in seconds, memory in bytes, bind sources absolute), so consumers never re-parse compose syntax.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

MountKind = Literal["volume", "bind", "tmpfs"]
FileKind = Literal["config", "secret"]
Condition = Literal["service_started", "service_healthy", "service_completed_successfully"]
RestartPolicy = Literal["no", "always", "on-failure", "unless-stopped"]


@dataclass(frozen=True)
class PortSpec:
    """One published container port. ``host_port=0``: published on a random host port (compose ``"3000"``);
    ``None``: not published on the host at all."""

    container_port: int
    host_port: int | None = None
    host_ip: str = ""
    protocol: str = "tcp"


@dataclass(frozen=True)
class MountSpec:
    """``source``: the volume key as written in the file (``""`` for an anonymous volume) for ``volume``, the
    absolute normalised host path for ``bind``, ``""`` for ``tmpfs``."""

    kind: MountKind
    source: str
    target: str
    read_only: bool = False
    #: tmpfs mount options (``size=64m,mode=1777``); ``""``: the engine's defaults.
    options: str = ""


#: ``FileMountSpec.source_path`` prefix of a secret from the stack's environment (compose ``environment:``).
ENV_SOURCE = "env:"
#: ``FileMountSpec.source_path`` prefix of a config written in the file itself (compose ``content:``), followed by
#: that content (a config is no secret; the deployer writes it to a file).
CONTENT_SOURCE = "content:"


@dataclass(frozen=True)
class FileMountSpec:
    """A top-level ``configs``/``secrets`` entry mounted into a service. ``source_path`` is absolute on the
    host, or ``env:<NAME>`` for a secret whose ``environment:`` names a variable of the stack's environment (its
    value is written to a file by the deployer, never kept here); ``target`` defaults to ``/<name>`` (config) or
    ``/run/secrets/<name>`` (secret)."""

    kind: FileKind
    name: str
    source_path: str
    target: str
    #: Compose ``uid``/``gid``/``mode`` of the file in the container (``""``/None: the runtime's default).
    uid: str = ""
    gid: str = ""
    mode: int | None = None


@dataclass(frozen=True)
class HealthSpec:
    """``test`` is ``["CMD", ...]``, ``["CMD-SHELL", "..."]`` or ``["NONE"]`` (healthcheck disabled). Times in
    seconds."""

    test: list[str]
    interval: float = 30
    timeout: float = 30
    retries: int = 3
    start_period: float = 0


@dataclass(frozen=True)
class BuildSpecC:
    """``context`` is relative to the compose file's directory, normalised, and never leaves it."""

    context: str
    dockerfile: str = "Dockerfile"
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class DependsOn:
    service: str
    condition: Condition = "service_started"


@dataclass
class ServiceSpec:
    """One compose service, normalised. ``networks`` maps a network key of the file to this service's extra
    aliases on it (the service name is always an alias); ``{"default": []}`` when the file names none."""

    name: str
    image: str | None = None
    build: BuildSpecC | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: list[PortSpec] = field(default_factory=list)
    expose: list[int] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    files: list[FileMountSpec] = field(default_factory=list)
    networks: dict[str, list[str]] = field(default_factory=lambda: {"default": []})
    depends_on: list[DependsOn] = field(default_factory=list)
    healthcheck: HealthSpec | None = None
    restart: RestartPolicy = "no"
    #: ``deploy.restart_policy.max_attempts`` (None: no limit), ``delay`` and ``window`` (seconds; None: the
    #: engine's own). Swarm honours all three; docker/podman only a limit on ``on-failure`` (docs/compose.md).
    restart_max_attempts: int | None = None
    restart_delay: float | None = None
    restart_window: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    #: ``init: true``: an init process as PID 1 that passes signals on and reaps zombies (compose's default:
    #: none, so a PID 1 without its own SIGTERM handler waits out the grace period and is killed).
    init: bool = False
    #: ``stop_signal`` (``SIGTERM`` etc., None: the image's) and ``stop_grace_period`` (seconds before SIGKILL;
    #: None: 10), used by every stop of the service's containers.
    stop_signal: str | None = None
    stop_grace_period: float | None = None
    cpu_limit: float | None = None
    memory_limit: int | None = None
    replicas: int = 1
    profiles: list[str] = field(default_factory=list)
    #: ``deploy.placement.constraints``, checked (rivetr_core.placement): the swarm runtime applies them.
    placement: list[str] = field(default_factory=list)

    def config_hash(self, image_id: str = "") -> str:
        """sha256 hex of every field (canonical JSON, sorted keys) plus ``image_id``: equal specs built on the
        same image give equal hashes, so a redeploy can leave unchanged services running. The contents of
        config/secret files are not part of it (only their paths)."""
        spec = dataclasses.asdict(self)
        if not spec["placement"]:  # added later: a service without one keeps the hash it had (no redeploy)
            del spec["placement"]
        for key in (
            "restart_max_attempts",
            "restart_delay",
            "restart_window",
            "stop_signal",
            "stop_grace_period",
        ):
            if spec[key] is None:  # added later, likewise
                del spec[key]
        if not spec["init"]:
            del spec["init"]
        for f in spec["files"]:  # uid/gid/mode too: a file without them keeps the hash it had
            for key in ("uid", "gid", "mode"):
                if f[key] in ("", None):
                    del f[key]
        canonical = json.dumps(
            {"spec": spec, "image_id": image_id},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ComposeProject:
    """A loaded compose file. ``services`` holds only the services active under the chosen profiles;
    ``disabled_services`` names the others. ``networks`` always contains ``"default"``. ``warnings`` are what
    compose would print (an unset variable defaulting to a blank string...)."""

    services: dict[str, ServiceSpec] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    disabled_services: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str | None = None

    def start_order(self) -> list[list[str]]:
        """Levels of a topological sort of ``depends_on`` among the active services, dependencies first; each
        level sorted by name. Services of one level may start together. The loader refuses cycles, so every
        service appears exactly once."""
        pending = {
            name: {d.service for d in spec.depends_on if d.service in self.services}
            for name, spec in self.services.items()
        }
        levels: list[list[str]] = []
        while pending:
            ready = sorted(name for name, deps in pending.items() if not deps)
            if not ready:  # only reachable with a hand-built project; name what is left rather than loop
                raise ValueError(f"depends_on cycle among {sorted(pending)}")
            levels.append(ready)
            for name in ready:
                del pending[name]
            for deps in pending.values():
                deps.difference_update(ready)
        return levels

    def dependents(self, service: str) -> set[str]:
        """Every active service that depends on ``service``, directly or through others (what has to be
        restarted, or waited for, when ``service`` is replaced)."""
        direct: dict[str, set[str]] = {name: set() for name in self.services}
        for name, spec in self.services.items():
            for dep in spec.depends_on:
                direct.setdefault(dep.service, set()).add(name)
        found: set[str] = set()
        todo = [service]
        while todo:
            for child in direct.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        found.discard(service)
        return found
