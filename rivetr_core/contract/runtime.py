"""Container runtimes (``rivetr_container_runtimes``): the engine that builds images and runs containers."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from .plugin import PluginContext


@dataclass
class BuildSpec:
    """One image build. ``tag`` is always fully qualified: ``localhost/rivetr/<app>:<deployment>``."""

    context_dir: Path
    tag: str
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None  # CPUs, e.g. 0.5
    memory_limit: int | None = None  # bytes
    no_cache: bool = False
    #: The stage of a multi-stage Dockerfile to build (compose ``build.target``); None: the last one.
    target: str | None = None
    #: Engine network the build's RUN steps use (None: the engine's default); fork previews build on an
    #: isolated one.
    network: str | None = None
    #: ``.dockerignore`` patterns left out of the context in addition to the context's own ``.dockerignore``
    #: (a generated Dockerfile's build leaves out ``.git``: the history never reaches the image).
    exclude: list[str] = field(default_factory=list)
    #: Registry credentials for the images the Dockerfile reads from (``FROM``, ``COPY --from``): registry
    #: server (``registry.example.com``, ``127.0.0.1:5443``, ``docker.io``) -> the Docker API's auth config
    #: (``{"username", "password", "serveraddress"}``), from ``/api/registries``. The pipeline passes what is
    #: stored (nothing for a build of a fork's pull request); a runtime sends the engine those of the registries
    #: the build's base images name (docker and podman: the build API's ``X-Registry-Config``), for this build
    #: only, and never logs a password. A runtime without registry support ignores the field and builds from
    #: public or local images as before. ``repr=False``: a logged spec never shows them.
    registry_auth: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)


@dataclass
class Mount:
    """A volume or bind mount of a container.

    ``kind="volume"``: ``source`` is the name of an engine volume; the runtime creates it (with ``labels``) when
    it does not exist yet, so it outlives every container that mounts it. ``kind="bind"``: ``source`` is an
    absolute path on the host (it must exist)."""

    source: str
    target: str  # absolute path in the container
    kind: Literal["volume", "bind"] = "volume"
    read_only: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    #: The compose secret's name when the bound file holds one (``kind="bind"``): a runtime with a secret store
    #: of its own (swarm) hands the content over through it instead of binding a path only this host has.
    #: ``""``: an ordinary mount.
    secret: str = ""
    #: The compose config's name when the bound file holds one (``kind="bind"``): swarm hands it over as a swarm
    #: config. ``""``: not a config.
    config: str = ""
    #: A secret's or config's owner and permission bits in the container (compose ``uid``/``gid``/``mode``):
    #: a runtime with a secret store applies them to the file it creates (swarm); a bind mount (docker,
    #: podman) shows the host file as it is (root, 0444). ``""``/None: the runtime's default.
    file_uid: str = ""
    file_gid: str = ""
    file_mode: int | None = None


@dataclass
class PortPublish:
    """A published port (compose ``ports:``): ``host_ip:host_port`` -> ``container_port/protocol``."""

    container_port: int
    host_port: int = 0  # 0: a free port the engine picks
    host_ip: str = ""  # "": every interface (compose's default); "127.0.0.1": loopback only
    protocol: Literal["tcp", "udp"] = "tcp"


@dataclass
class HealthcheckConfig:
    """The engine's own HEALTHCHECK (compose ``healthcheck:``); :attr:`ContainerInfo.health` reports its state
    (``starting`` until the first success or ``retries`` failures, then ``healthy`` / ``unhealthy``).

    ``test`` is in the engine's form: ``["CMD", "nc", "-z", "127.0.0.1", "80"]`` (exec),
    ``["CMD-SHELL", "nc -z 127.0.0.1 80"]`` (through ``/bin/sh -c``) or ``["NONE"]`` (disable the image's)."""

    test: list[str]
    interval: float = 30.0  # seconds
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


@dataclass
class RunSpec:
    """One container to start. ``container_port`` is published on 127.0.0.1 at ``host_port`` (0 = any free).

    ``publish=False`` asks the runtime to leave the port unpublished when this host can reach the container
    at its own network address (rootful engines on Linux bridge networks); a runtime that cannot (rootless)
    publishes anyway. Either way :attr:`ContainerInfo.upstream` is where to connect. Unpublished ports skip
    the engine's port-forwarding set-up and tear-down (~60 ms per container on dockerd).
    """

    image: str
    name: str
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    container_port: int | None = None
    host_port: int = 0
    host_ip: str = "127.0.0.1"
    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None
    #: Log rotation (bytes per file x files) of the engine's file log driver; None: the engine's own logging.
    log_max_size: int | None = None
    log_max_files: int | None = None
    #: Raised OOM score (0-1000) so the kernel kills this container before Rivetr or the engine.
    oom_score_adj: int | None = None
    restart_policy: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    #: Compose ``deploy.restart_policy`` limits (None: the engine's default). ``max_attempts``: restarts before
    #: giving up (docker/podman: ``on-failure`` only); ``delay``/``window`` (seconds): swarm's, ignored by an
    #: engine without them (the stack deployer logs a warning).
    restart_max_attempts: int | None = None
    restart_delay: float | None = None
    restart_window: float | None = None
    init: bool = True
    #: The signal a stop sends first (``SIGTERM`` when None, or the image's ``STOPSIGNAL``), e.g. ``SIGQUIT``.
    stop_signal: str | None = None
    #: Seconds a stop waits after that signal before SIGKILL, kept by the engine with the container: a
    #: ``stop(id, timeout=None)`` (and the engine's own stops) wait this long; None: the engine's 10 s.
    stop_timeout: float | None = None
    network: str | None = None
    #: DNS names of the container on ``network`` besides its own name (other containers on that network
    #: resolve them: a managed service is reached as ``postgres-main``); ignored when ``network`` is None
    #: (an engine's default network has no name resolution).
    network_aliases: list[str] = field(default_factory=list)
    command: list[str] | None = None
    publish: bool = True
    #: Volumes and bind mounts, mounted when the container is created.
    mounts: list[Mount] = field(default_factory=list)
    # Compose stacks (all optional; the defaults leave the image's own settings alone).
    #: Replaces the image's ENTRYPOINT (``[]`` clears it, so ``command`` runs on its own); None keeps it.
    entrypoint: list[str] | None = None
    working_dir: str | None = None
    #: ``uid``, ``uid:gid`` or a user name of the image; None: the image's USER.
    user: str | None = None
    healthcheck: HealthcheckConfig | None = None
    #: Published in addition to ``container_port`` (which keeps its own rules: ``host_ip``, ``publish``). A
    #: fixed ``host_port`` that is taken raises :class:`PortInUse` naming it, before anything is created.
    ports: list[PortPublish] = field(default_factory=list)
    #: Container ports exposed (to other containers, in the image's metadata), not published.
    expose: list[int] = field(default_factory=list)
    #: Networks joined besides ``network`` (before the container starts), each with its DNS aliases; needs
    #: ``network`` (the first one joined).
    extra_networks: dict[str, list[str]] = field(default_factory=dict)
    #: tmpfs mounts: container path -> mount options (``"size=64m,mode=1777"``; ``""`` for the defaults).
    tmpfs: dict[str, str] = field(default_factory=dict)
    #: Swarm placement constraints (``node.labels.tier == web``), already checked by core's validator. A
    #: runtime offering :class:`~rivetr_core.contract.nodes.ClusterRuntime` schedules only on the nodes that
    #: satisfy all of them; one running on a single engine ignores them.
    placement: list[str] = field(default_factory=list)


@dataclass
class ContainerInfo:
    id: str
    name: str
    image: str
    #: Engine status word: created, running, exited, paused, dead, …; ``evicted``: the engine took it off its
    #: node (a swarm task on a drained or lost node) and placed it nowhere yet, so the crash watcher starts it
    #: again, elsewhere, as a move, not a crash (rivetr_core/engine/moved.py).
    status: str
    running: bool
    exit_code: int | None = None
    health: str | None = None  # healthy / unhealthy / starting / None when no HEALTHCHECK
    host_port: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    #: ``ip:port`` of the container port on the container's own network (set when it is not published).
    address: str | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    limits: dict[str, Any] = field(default_factory=dict)  # cpu (CPUs), memory (bytes), pids
    #: Network name -> the container's IPv4 address on it ("" while it is not running).
    networks: dict[str, str] = field(default_factory=dict)
    #: Published bindings as the engine reports them (``container_port`` and ``ports`` of the RunSpec, with
    #: the host ports the engine picked; ``host_ip`` "" for every interface).
    ports: list[PortPublish] = field(default_factory=list)
    #: The address of the machine whose ``host_port`` it is when that is not this host (a task on another
    #: node of a cluster: that node's address); None: this host, reached on loopback.
    node_address: str | None = None

    @property
    def upstream(self) -> str | None:
        """Where this host connects to the container port: the published port (on loopback, or on the node
        that runs it), else ``address``."""
        if self.host_port:
            return f"{self.node_address or '127.0.0.1'}:{self.host_port}"
        return self.address


@dataclass
class LogLine:
    line: str
    stream: Literal["stdout", "stderr"] = "stdout"
    ts: datetime | None = None


@dataclass
class ContainerStats:
    container_id: str
    cpu_percent: float
    memory_used: int
    memory_limit: int
    net_rx: int
    net_tx: int
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ExecResult:
    exit_code: int
    output: str


@dataclass
class RuntimeInfo:
    name: str  # "docker" / "podman"
    version: str
    api_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PruneResult:
    images_deleted: int = 0
    space_reclaimed: int = 0  # bytes


@dataclass
class ImageUsage:
    """One image as the engine lists it (``docker images``), for the disk-usage report."""

    id: str
    #: Its tags (``localhost/app:3``); empty for an untagged (dangling) image.
    tags: list[str]
    #: Bytes of the whole image as the engine reports it, layers shared with other images included (so the
    #: sizes of two images built on one base add up to more than the disk they use together).
    size: int
    labels: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None


@runtime_checkable
class ExecSession(Protocol):
    """An interactive exec (a TTY in the container), for the browser terminal."""

    async def write(self, data: bytes) -> None: ...
    async def read(self) -> bytes:
        """Next chunk of output; ``b""`` once the process has exited and all output was read."""
        ...

    async def resize(self, rows: int, cols: int) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class ContainerRuntime(Protocol):
    """A container engine. Every method is async and never blocks the event loop."""

    name: str

    async def ping(self) -> bool: ...
    async def info(self) -> RuntimeInfo: ...
    def build(self, spec: BuildSpec) -> AsyncIterator[str]:
        """Yield build-log lines as they happen; raise :class:`BuildFailed` (with the log tail) on failure and
        :class:`ImageNotFound` within seconds when a ``localhost/`` base image is missing."""
        ...

    async def image_exists(self, image: str) -> bool: ...
    async def run(self, spec: RunSpec) -> ContainerInfo: ...
    async def stop(self, container_id: str, timeout: float | None = 10) -> None:
        """The stop signal, then SIGKILL after ``timeout`` seconds; None: the container's own
        ``RunSpec.stop_timeout`` (the engine's 10 s when it has none)."""

    async def remove(self, container_id: str, force: bool = True) -> None: ...
    async def inspect(self, container_id: str) -> ContainerInfo: ...
    async def list(
        self, labels: Mapping[str, str] | None = None, all: bool = True
    ) -> list[ContainerInfo]: ...
    def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]: ...
    async def stats(self, container_id: str) -> ContainerStats: ...
    async def stats_many(self, container_ids: builtins.list[str]) -> dict[str, ContainerStats]: ...
    async def exec(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> ExecResult: ...
    async def exec_interactive(
        self, container_id: str, cmd: builtins.list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> ExecSession: ...
    async def remove_image(self, image: str, force: bool = False) -> None: ...
    async def list_images(self, labels: Mapping[str, str] | None = None) -> builtins.list[str]: ...
    async def prune(self, labels: Mapping[str, str], *, build_cache: bool = False) -> PruneResult:
        """Delete the dangling images carrying every one of ``labels`` (a build's leftovers: superseded
        tags, stages, failed steps); never an unlabelled one. ``build_cache``: also empty the engine's build
        cache, which is shared by every program on the engine (a no-op where there is none)."""
        ...

    async def remove_volume(self, name: str) -> None:
        """Delete the engine volume ``name`` (a missing one is not an error); raise :class:`RivetrError`
        while a container still uses it."""
        ...

    async def list_volumes(self, labels: Mapping[str, str]) -> builtins.list[str]:
        """Names of the engine volumes carrying every one of ``labels``."""
        ...

    async def volume_sizes(self, names: builtins.list[str]) -> dict[str, int | None]:
        """Bytes used by each named volume (None where the engine cannot tell cheaply, 0 for one that does not
        exist yet)."""
        ...

    async def close(self) -> None: ...

    # Optional: ``volume_path``, ``pause``, ``unpause`` and ``start`` (see :class:`VolumeDataRuntime`), which
    # volume backups and restores need, and ``ensure_network``, ``remove_network``, ``pull``, ``exec_output``
    # and ``exec_input`` (see :class:`ServiceRuntime`), which managed services need, and
    # ``ensure_project_network`` (see :class:`ServiceRuntime`), and ``image_usage`` (see
    # :class:`DiskUsageRuntime`), which the disk-usage report reads; they are not part of this Protocol so a
    # runtime written before them still is one.


@runtime_checkable
class VolumeDataRuntime(Protocol):
    """Optional runtime methods that volume backups and restores need (core checks for them with ``getattr``;
    a runtime without them still deploys apps, and backing up its apps' volumes fails with a clear error).

    Backups read and write a volume's files directly on the engine's host (the engines' archive API loses file
    ownership on some engines), so a runtime offering these runs its containers on the host Rivetr runs on.
    """

    async def volume_path(
        self, name: str, labels: Mapping[str, str] | None = None, create: bool = False
    ) -> str | None:
        """The host directory holding the data of the engine volume ``name`` (docker's ``Mountpoint``), or
        None when the volume does not exist or this host cannot reach its directory (a remote or rootless
        engine). ``create=True`` first creates a missing volume with ``labels`` (a restore into an app that
        never ran)."""
        ...

    async def pause(self, container_id: str) -> None:
        """Freeze every process of a running container (cgroup freezer) so its files hold still for a copy."""
        ...

    async def unpause(self, container_id: str) -> None:
        """Thaw a container :meth:`pause` froze; unpausing one that is not paused is not an error."""
        ...

    async def start(self, container_id: str) -> None:
        """Start a stopped (created or exited) container again, with its mounts; a running one is a no-op."""
        ...


@runtime_checkable
class ServiceRuntime(Protocol):
    """Optional runtime methods that managed services (databases, caches from official images) need: core
    checks for them with ``getattr`` (or ``isinstance(runtime, ServiceRuntime)``); a runtime without them still
    deploys apps, and creating a service on it fails with a clear error.

    Services live on a per-project network where containers reach each other by name or alias
    (:attr:`RunSpec.network`, :attr:`RunSpec.network_aliases`); their images come from a registry
    (:meth:`pull`, always with a fully qualified reference such as ``docker.io/library/postgres:16``, which the
    runtime pulls and runs unchanged); backups stream a dump out of the container (:meth:`exec_output`) and
    restores stream it back in (:meth:`exec_input`), never holding it whole in memory or on disk.

    Optional on top of these: ``ensure_project_network`` (see :class:`ProjectNetworkRuntime`), a project
    network isolated from every other project's; core checks for it with ``getattr`` and falls back to
    :meth:`ensure_network` without it.
    """

    async def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create, unless it exists, the plain user-defined bridge network ``name`` (with ``labels``) on which
        containers resolve each other by container name and alias (dockerd's embedded DNS; podman's
        netavark with aardvark-dns). Idempotent, also when two callers race; returns ``name``."""
        ...

    async def remove_network(self, name: str) -> None:
        """Delete the network ``name``; a missing one is not an error; raise :class:`RivetrError` while a
        container is still attached to it. For a project network (:meth:`ensure_project_network`) it also
        drops the firewall rule that network had."""
        ...

    def pull(self, image: str) -> AsyncIterator[str]:
        """Pull ``image`` (a fully qualified reference) from its registry, yielding human progress lines as it
        goes (``<layer>: Downloading 12.1 MB / 31.4 MB``; throttled, not one per received block). Raise
        :class:`ImageNotFound` naming the image, within seconds, when the registry does not have it (or
        cannot be reached); pulling an image already present is quick and yields a line or two.

        Optional keyword ``auth`` (``{"username", "password", "serveraddress"}``, the Docker API's auth config):
        credentials for this pull only, from ``/api/registries``. Image apps pass it only when credentials are
        stored for the image's registry, so a runtime without it still pulls public images; one that takes
        it must never log it, and a refusal must say so in the error (``unauthorized``)."""
        ...

    def exec_output(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """Run ``cmd`` in the running container and yield its stdout as it comes (binary-safe, any size: a
        dump of several GB streams through with bounded memory; a slow consumer slows the command down).
        stderr is not yielded: after the last chunk, a non-zero exit raises :class:`ExecFailed` carrying
        the exit code and the tail of stderr. Leaving the ``async for`` early closes the stream."""
        ...

    async def exec_input(
        self,
        container_id: str,
        cmd: builtins.list[str],
        chunks: AsyncIterable[bytes],
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run ``cmd`` in the running container with ``chunks`` as its stdin (binary, any size, consumed as
        the command reads it; stdin is closed after the last chunk) and wait for it to end. Returns the exit
        code and the tail of its output (stdout and stderr interleaved). When the command exits before
        reading everything, the remaining chunks are left unread and its exit code is returned as it is."""
        ...


@runtime_checkable
class ProjectNetworkRuntime(Protocol):
    """The optional ``ensure_project_network`` method (core checks for it with ``getattr``): the per-project
    network (``rivetr-net-<project>``) every app, managed service and stack service of a project joins."""

    async def ensure_project_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Like :meth:`ServiceRuntime.ensure_network`, but the bridge is isolated from every other project
        network of Rivetr on this host, on both engines: containers on it reach each other (by name/alias),
        the internet and the host's published ports as before, but never a container on another project's
        network (nor one on an engine's default bridge). Idempotent and cheap: the isolation is re-checked
        (and repaired) at every call. Raises :class:`RivetrError` when the isolation cannot be set up (no
        iptables, not root) unless the runtime was configured without its project firewall. Returns
        ``name``; :meth:`ServiceRuntime.remove_network` removes it with its isolation rule."""
        ...


@runtime_checkable
class DiskUsageRuntime(Protocol):
    """The optional ``image_usage`` method (core checks for it with ``getattr``): image sizes for the server's
    disk-usage report (``GET /api/system/disk-usage``). A runtime without it still does everything else; the
    report then lists its images by name (:meth:`ContainerRuntime.list_images`) with their sizes unknown."""

    async def image_usage(self, labels: Mapping[str, str]) -> builtins.list[ImageUsage]:
        """The images carrying every one of ``labels`` (never all images: ``labels`` is not empty), each with
        its size and all its labels, from one cheap listing call (no per-image inspect, no ``system df``)."""
        ...


@dataclass(frozen=True)
class ContainerRuntimeRegistration:
    """``name`` is what ``[runtime] runtime_type`` selects. With ``runtime_type = "auto"`` core tries the
    registrations by ascending ``auto_priority`` and takes the first whose runtime answers ``ping()``."""

    #: What ``[runtime] runtime_type`` names (``docker``, ``podman``).
    name: str
    #: Builds the runtime from this plugin's context; called once, when config selects it (or ``auto`` tries it).
    factory: Callable[[PluginContext], ContainerRuntime]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
    #: Order of the ``auto`` probe: lower is tried first.
    auto_priority: int = 100
