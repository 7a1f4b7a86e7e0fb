"""An in-memory :class:`~rivetr_core.contract.ContainerRuntime` for unit tests of logic that drives a runtime.

See :mod:`rivetr_core.testing` for how to use it. Nothing here imports pytest or an engine client.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import hashlib
import itertools
import os
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rivetr_core.contract import (
    BuildFailed,
    BuildSpec,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    ContainerStats,
    ExecFailed,
    ExecResult,
    ImageNotFound,
    LogLine,
    PortInUse,
    PortPublish,
    ProjectNetworkRuntime,
    PruneResult,
    RivetrError,
    RunSpec,
    RuntimeInfo,
    RuntimeUnavailable,
    ServiceRuntime,
    VolumeDataRuntime,
)

T = TypeVar("T")

#: Build-context files that steer a fake build (see :meth:`FakeRuntime.build`).
FAIL_BUILD, SLOW_BUILD, UNHEALTHY = "FAIL_BUILD", "SLOW_BUILD", "UNHEALTHY"

_ids = itertools.count(1)

#: What :attr:`FakeRuntime.output_handler` returns: stdout (bytes, or chunks yielded one by one), exit code,
#: stderr.
ExecOutput = tuple[bytes | Iterable[bytes], int, str]


@dataclass
class FakeImage:
    """A built image: what its containers serve (``body``, HTTP 500 when ``unhealthy``) and its labels."""

    id: str
    body: str = ""
    unhealthy: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeContainer:
    """A "container": an HTTP server on loopback answering every request with its image's body."""

    id: str
    spec: RunSpec
    image: FakeImage
    port: int
    server: asyncio.Server | None = None
    running: bool = True
    paused: bool = False
    #: The connection handler of its server (``start`` serves it again on the same port).
    handler: Any = None
    exit_code: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    log: list[LogLine] = field(default_factory=list)
    #: Bytes received and sent by its server ("rx", "tx"), for stats().
    net: dict[str, int] = field(default_factory=lambda: {"rx": 0, "tx": 0})
    #: What :attr:`ContainerInfo.ports` reports (``RunSpec.ports`` with the host ports chosen).
    ports: builtins.list[PortPublish] = field(default_factory=list)
    #: Sockets bound to its fixed published ports, held while it exists (as an engine's proxy holds them).
    reservations: builtins.list[socket.socket] = field(default_factory=list)


class _EngineLoop:
    """One daemon thread running an event loop that hosts every fake container's server.

    Containers must outlive the event loop of the code that started them, as real ones do: pytest-asyncio
    gives each test (and each async fixture) its own loop, and a class-scoped fixture may start a container
    from a helper loop that is closed right after."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="rivetr-fake-engine", daemon=True).start()
                cls._loop = loop
            return cls._loop

    @classmethod
    async def call(cls, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, cls.loop()))

    @classmethod
    def close_servers(cls, servers: builtins.list[asyncio.Server]) -> None:
        if servers and cls._loop is not None and not cls._loop.is_closed():
            for server in list(servers):
                cls._loop.call_soon_threadsafe(server.close)


class FakeExecSession:
    """An interactive exec that echoes what is written; ``read()`` returns ``b""`` once closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.sizes: builtins.list[tuple[int, int]] = []
        self.closed = False

    async def write(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    async def read(self) -> bytes:
        if self.closed and self.queue.empty():
            return b""
        return await self.queue.get()

    async def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(b"")


class FakeRuntime:
    """An in-memory container engine implementing :class:`~rivetr_core.contract.ContainerRuntime` fully.

    Knobs (plain attributes, set them in a test):

    ``reachable``
        ``ping()`` answers it; when False every other engine call raises :class:`RuntimeUnavailable`.
    ``failures``
        ``{"method": exception}``: that method raises the exception (every call, until removed).
    ``delays``
        ``{"method": seconds}``: that method sleeps first (``{"ping": 60}`` is an engine that hangs).
    ``slow``
        Seconds a build sleeps when its context holds ``SLOW_BUILD``.
    ``exec_handler``
        ``(container_id, cmd, env) -> ExecResult`` for :meth:`exec` (default: exit 0, no output).
    ``output_handler``
        ``(container_id, cmd, env) -> (stdout, exit_code, stderr)`` for :meth:`exec_output` (stdout: bytes or an
        iterable of chunks; a non-zero exit raises :class:`ExecFailed` after the chunks). Default: no output.
    ``input_handler``
        ``(container_id, cmd, stdin, env) -> ExecResult`` for :meth:`exec_input` (``stdin``: every chunk,
        joined). Default: exit 0, no output; the input is recorded in ``inputs`` either way.
    ``registry``
        ``{reference: FakeImage}``: what :meth:`pull` can fetch (:meth:`publish` adds one); anything else
        raises :class:`ImageNotFound`.

    What it records: ``images`` (tag → :class:`FakeImage`), ``dangling`` (id → image a rebuild untagged),
    ``containers`` (id → :class:`FakeContainer`), ``builds`` (tags, in order), ``runs`` (every
    :class:`RunSpec`), ``calls`` (``(method, arguments)`` of every call), ``networks`` (name → labels, made by
    :meth:`ensure_network` or :meth:`ensure_project_network`), ``project_networks`` (names), ``pulls``
    (references, in order), ``inputs`` (``(container_id, cmd, stdin)`` of
    every :meth:`exec_input`), ``pinged``, ``closed``; the events
    ``building`` (a build started) and ``running_started`` (a ``run`` started).

    Helpers: :meth:`live` (ids of running containers), :meth:`crash` (a container dies: exit 137),
    :meth:`calls_to`, :meth:`shutdown` (stop every container's server; call it at teardown).

    ``close()`` only marks the client closed: like a real engine's containers, the fake's keep running and
    the same instance keeps working (an app restart in a test reuses it).
    """

    def __init__(
        self, name: str = "fake", *, reachable: bool = True, base_url: str | None = None, slow: float = 2.0
    ) -> None:
        self.name = name
        self.base_url = base_url  # where the engine would be (runtime selection names it in errors)
        self.reachable = reachable
        self.slow = slow
        self.failures: dict[str, BaseException] = {}
        self.delays: dict[str, float] = {}
        self.exec_handler: Callable[[str, builtins.list[str], dict[str, str]], ExecResult] = (
            lambda container_id, cmd, env: ExecResult(0, "")
        )
        self.output_handler: Callable[[str, builtins.list[str], dict[str, str]], ExecOutput] = (
            lambda container_id, cmd, env: (b"", 0, "")
        )
        self.input_handler: Callable[[str, builtins.list[str], bytes, dict[str, str]], ExecResult] = (
            lambda container_id, cmd, stdin, env: ExecResult(0, "")
        )
        self.registry: dict[str, FakeImage] = {}
        self.networks: dict[str, dict[str, str]] = {}
        self.project_networks: set[str] = set()
        self.pulls: builtins.list[str] = []
        self.inputs: builtins.list[tuple[str, builtins.list[str], bytes]] = []
        self.images: dict[str, FakeImage] = {}
        self.dangling: dict[str, FakeImage] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.builds: builtins.list[str] = []
        self.runs: builtins.list[RunSpec] = []
        #: Named volumes (name → labels), created by ``run`` for a volume mount, as real engines do.
        self.volumes: dict[str, dict[str, str]] = {}
        #: Where the volumes' "host directories" live (``volume_path``): a temp dir made on first use,
        #: removed with the fake.
        self.volume_root: str | None = None
        self.calls: builtins.list[tuple[str, dict[str, Any]]] = []
        self.pinged = 0
        self.closed = False
        self.building = asyncio.Event()
        self.running_started = asyncio.Event()
        # A test that forgets shutdown() leaves no listening sockets behind once the fake is collected.
        self._servers: builtins.list[asyncio.Server] = []
        weakref.finalize(self, _EngineLoop.close_servers, self._servers)

    # ------------------------------------------------------------------------------------------- knobs
    @property
    def run_delay(self) -> float:
        """Seconds ``run`` takes (an engine call in a thread: the caller cannot cancel it half-way)."""
        return self.delays.get("run", 0.0)

    @run_delay.setter
    def run_delay(self, seconds: float) -> None:
        self.delays["run"] = seconds

    def live(self) -> builtins.list[str]:
        return [cid for cid, c in self.containers.items() if c.running]

    def crash(self, container_id: str, exit_code: int = 137) -> None:
        """The container's process dies (default: killed, 137); its server stops answering."""
        container = self.containers[container_id]
        if container.server is not None:
            _EngineLoop.close_servers([container.server])
        container.running, container.exit_code = False, exit_code

    def publish(self, reference: str, body: str = "", labels: Mapping[str, str] | None = None) -> FakeImage:
        """Put an image in the fake registry: :meth:`pull` of ``reference`` then fetches it."""
        digest = hashlib.sha256(f"{reference}\0{body}\0{next(_ids)}".encode()).hexdigest()
        image = FakeImage(id=f"sha256:{digest}", body=body, labels=dict(labels or {}))
        self.registry[reference] = image
        return image

    def calls_to(self, method: str) -> builtins.list[dict[str, Any]]:
        """The arguments of every call of ``method``, in order."""
        return [arguments for name, arguments in self.calls if name == method]

    def shutdown(self) -> None:
        """Stop every container's server (the fake's containers otherwise outlive ``close()``)."""
        _EngineLoop.close_servers(self._servers)
        self._servers.clear()

    async def _enter(self, method: str, **arguments: Any) -> None:
        self.calls.append((method, arguments))
        if delay := self.delays.get(method):
            await asyncio.sleep(delay)
        if (error := self.failures.get(method)) is not None:
            raise error
        if not self.reachable and method not in ("ping", "close"):
            where = f" at {self.base_url}" if self.base_url else ""
            raise RuntimeUnavailable(f"{self.name} engine{where} does not answer")

    def _container(self, container_id: str) -> FakeContainer:
        try:
            return self.containers[container_id]
        except KeyError:
            raise ContainerNotFound(f"no such container: {container_id}") from None

    def _info(self, c: FakeContainer) -> ContainerInfo:
        limits = {"cpu": c.spec.cpu_limit, "memory": c.spec.memory_limit, "pids": c.spec.pids_limit}
        # Every fake container serves on loopback: that is its address on each network it joined.
        networks = [c.spec.network, *c.spec.extra_networks] if c.spec.network else []
        check = c.spec.healthcheck
        health = None
        if check is not None and check.test[:1] != ["NONE"]:
            health = "unhealthy" if c.image.unhealthy else "healthy"
        return ContainerInfo(
            id=c.id,
            name=c.spec.name,
            image=c.spec.image,
            status=("paused" if c.paused else "running") if c.running else "exited",
            running=c.running,
            exit_code=None if c.running else c.exit_code,
            host_port=c.port,
            labels=dict(c.spec.labels),
            created_at=c.created_at,
            started_at=c.started_at,
            limits={k: v for k, v in limits.items() if v is not None},
            health=health if c.running else None,
            networks={name: "127.0.0.1" if c.running else "" for name in dict.fromkeys(networks) if name},
            ports=list(c.ports),
        )

    # ------------------------------------------------------------------------------------------ engine
    async def ping(self) -> bool:
        self.pinged += 1
        await self._enter("ping")
        return self.reachable

    async def info(self) -> RuntimeInfo:
        await self._enter("info")
        return RuntimeInfo(name=self.name, version="0-fake", api_version="fake")

    async def close(self) -> None:
        await self._enter("close")
        self.closed = True

    # ----------------------------------------------------------------------------------------- volumes
    async def remove_volume(self, name: str) -> None:
        await self._enter("remove_volume", name=name)
        users = [c.id for c in self.containers.values() if any(m.source == name for m in c.spec.mounts)]
        if users:
            raise RivetrError(f"volume {name!r} is in use by {', '.join(users)}")
        self.volumes.pop(name, None)

    async def list_volumes(self, labels: Mapping[str, str]) -> builtins.list[str]:
        await self._enter("list_volumes", labels=dict(labels))
        wanted = dict(labels).items()
        return sorted(name for name, have in self.volumes.items() if wanted <= have.items())

    async def volume_sizes(self, names: builtins.list[str]) -> dict[str, int | None]:
        await self._enter("volume_sizes", names=list(names))
        return {name: 0 for name in names}

    async def volume_path(
        self, name: str, labels: Mapping[str, str] | None = None, create: bool = False
    ) -> str | None:
        """A directory under :attr:`volume_root` per volume (the "host directory" backups read)."""
        await self._enter("volume_path", name=name, labels=dict(labels or {}), create=create)
        if name not in self.volumes:
            if not create:
                return None
            self.volumes[name] = dict(labels or {})
        if self.volume_root is None:
            self.volume_root = tempfile.mkdtemp(prefix="rivetr-fake-volumes-")
            weakref.finalize(self, shutil.rmtree, self.volume_root, True)
        path = os.path.join(self.volume_root, name)
        os.makedirs(path, exist_ok=True)
        return path

    # ------------------------------------------------------------------------------------------ images
    async def build(self, spec: BuildSpec) -> AsyncIterator[str]:
        """A build reads no Dockerfile: it yields a few lines and makes an image serving ``www/index.html``
        of the context. Files in the context steer it: ``FAIL_BUILD`` fails it (:class:`BuildFailed`, exit
        1), ``SLOW_BUILD`` makes it take ``slow`` seconds, ``UNHEALTHY`` makes its containers answer 500."""
        await self._enter("build", spec=spec)
        self.builds.append(spec.tag)
        yield f"Step 1/2 : FROM base ({spec.tag})"
        self.building.set()
        context = spec.context_dir
        if (context / SLOW_BUILD).exists():
            await asyncio.sleep(self.slow)
        if (context / FAIL_BUILD).exists():
            raise BuildFailed("RUN false returned 1", log_tail=["RUN false"], exit_code=1)
        index = context / "www" / "index.html"
        body = index.read_text() if index.exists() else ""
        digest = hashlib.sha256(f"{spec.tag}\0{body}\0{next(_ids)}".encode()).hexdigest()
        image = FakeImage(
            id=f"sha256:{digest}",
            body=body,
            unhealthy=(context / UNHEALTHY).exists(),
            labels=dict(spec.labels),
        )
        replaced = self.images.get(spec.tag)
        self.images[spec.tag] = image
        if replaced is not None and all(other is not replaced for other in self.images.values()):
            self.dangling[replaced.id] = replaced  # the rebuild untagged it, as on a real engine
        yield "Step 2/2 : COPY www /www"
        yield "Successfully built"

    async def pull(self, image: str, *, auth: dict[str, str] | None = None) -> AsyncIterator[str]:
        """Fetch ``image`` from :attr:`registry` (a few progress lines) or raise :class:`ImageNotFound`.
        ``auth`` is recorded in :attr:`calls` (a test checks which credentials a pull was given)."""
        await self._enter("pull", image=image, auth=auth)
        self.pulls.append(image)
        found = self.registry.get(image)
        if found is None:
            raise ImageNotFound(
                f"image {image} could not be pulled: manifest unknown", details={"image": image}
            )
        layer = found.id.removeprefix("sha256:")[:12]
        yield f"{layer}: Pulling fs layer"
        yield f"{layer}: Download complete"
        self.images[image] = found
        yield f"pulled {image}"

    async def image_exists(self, image: str) -> bool:
        await self._enter("image_exists", image=image)
        return image in self.images or image in self.dangling

    async def remove_image(self, image: str, force: bool = False) -> None:
        await self._enter("remove_image", image=image, force=force)
        self.images.pop(image, None)
        self.dangling.pop(image, None)

    async def list_images(self, labels: Mapping[str, str] | None = None) -> builtins.list[str]:
        await self._enter("list_images", labels=labels)
        wanted = dict(labels or {}).items()
        return [tag for tag, image in self.images.items() if wanted <= image.labels.items()]

    async def prune(self, labels: Mapping[str, str], *, build_cache: bool = False) -> PruneResult:
        await self._enter("prune", labels=dict(labels), build_cache=build_cache)
        wanted = dict(labels).items()
        gone = [image_id for image_id, image in self.dangling.items() if wanted <= image.labels.items()]
        for image_id in gone:
            del self.dangling[image_id]
        return PruneResult(images_deleted=len(gone), space_reclaimed=1024 * len(gone))

    # ------------------------------------------------------------------------------------- containers
    async def run(self, spec: RunSpec) -> ContainerInfo:
        self.running_started.set()
        await self._enter("run", spec=spec)
        image = self.images.get(spec.image) or self.dangling.get(spec.image)
        if image is None:
            raise ImageNotFound(f"image {spec.image} not found")
        if any(c.spec.name == spec.name for c in self.containers.values()):
            raise RivetrError(f"container name {spec.name!r} is already in use")
        published, reservations = self._publish_ports(spec)
        for mount in spec.mounts:
            if mount.kind == "volume":
                self.volumes.setdefault(mount.source, dict(mount.labels))
        stats = {"rx": 0, "tx": 0}
        status = 500 if image.unhealthy else 200
        body = image.body.encode()
        log: builtins.list[LogLine] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                writer.close()
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1").rsplit(" ", 1)[0]
            answer = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (
                status,
                len(body),
                body,
            )
            stats["rx"] += len(head)
            stats["tx"] += len(answer)
            log.append(LogLine(f"{request_line} {status}", "stderr", datetime.now(UTC)))
            writer.write(answer)
            try:
                await writer.drain()
            finally:
                writer.close()

        async def serve() -> asyncio.Server:
            try:
                return await asyncio.start_server(handle, "127.0.0.1", spec.host_port or 0)
            except OSError as exc:
                raise PortInUse(f"port {spec.host_port} is already allocated: {exc}") from exc

        try:
            server = await _EngineLoop.call(serve())
        except BaseException:
            for sock in reservations:
                sock.close()
            raise
        self._servers.append(server)
        container = FakeContainer(
            id=f"fake{next(_ids):08d}",
            spec=spec,
            image=image,
            port=server.sockets[0].getsockname()[1],
            server=server,
            log=log,
            net=stats,
            handler=handle,
        )
        if spec.container_port:
            published.insert(
                0, PortPublish(spec.container_port, host_port=container.port, host_ip="127.0.0.1")
            )
        container.ports = published
        container.reservations = reservations
        self.containers[container.id] = container
        self.runs.append(spec)
        return self._info(container)

    def _publish_ports(
        self, spec: RunSpec
    ) -> tuple[builtins.list[PortPublish], builtins.list[socket.socket]]:
        """``RunSpec.ports`` as a real engine reports them, and the sockets holding them: a host port that
        cannot be bound now is :class:`PortInUse` (nothing is created); nothing listens on them."""
        out: builtins.list[PortPublish] = []
        held: builtins.list[socket.socket] = []
        for port in spec.ports:
            kind = socket.SOCK_DGRAM if port.protocol == "udp" else socket.SOCK_STREAM
            probe = socket.socket(socket.AF_INET, kind)
            try:
                probe.bind((port.host_ip or "0.0.0.0", port.host_port))
            except OSError as exc:
                probe.close()
                for sock in held:
                    sock.close()
                raise PortInUse(
                    f"host port {port.host_ip or '*'}:{port.host_port}/{port.protocol} is already in use",
                    details={"host_ip": port.host_ip, "port": port.host_port, "protocol": port.protocol},
                ) from exc
            held.append(probe)
            out.append(dataclasses.replace(port, host_port=probe.getsockname()[1]))
        return out, held

    async def stop(self, container_id: str, timeout: float | None = 10) -> None:
        await self._enter("stop", container_id=container_id, timeout=timeout)
        container = self._container(container_id)
        if container.running:
            self.crash(container_id, exit_code=143)  # SIGTERM, as an init process forwards it

    async def start(self, container_id: str) -> None:
        """Serve a stopped container again on its port (a running one: nothing to do)."""
        await self._enter("start", container_id=container_id)
        container = self._container(container_id)
        if container.running:
            return
        server = await _EngineLoop.call(asyncio.start_server(container.handler, "127.0.0.1", container.port))
        self._servers.append(server)
        container.server, container.running, container.exit_code = server, True, None
        container.started_at = datetime.now(UTC)

    async def pause(self, container_id: str) -> None:
        await self._enter("pause", container_id=container_id)
        container = self._container(container_id)
        if not container.running:
            raise RivetrError(f"container {container_id} is not running")
        container.paused = True

    async def unpause(self, container_id: str) -> None:
        await self._enter("unpause", container_id=container_id)
        self._container(container_id).paused = False

    async def remove(self, container_id: str, force: bool = True) -> None:
        await self._enter("remove", container_id=container_id, force=force)
        container = self.containers.pop(container_id, None)  # removing twice is fine, as on an engine
        if container is not None and container.server is not None:
            _EngineLoop.close_servers([container.server])
        for sock in container.reservations if container is not None else []:
            sock.close()

    async def inspect(self, container_id: str) -> ContainerInfo:
        await self._enter("inspect", container_id=container_id)
        return self._info(self._container(container_id))

    async def list(
        self, labels: Mapping[str, str] | None = None, all: bool = True
    ) -> builtins.list[ContainerInfo]:
        await self._enter("list", labels=labels, all=all)
        wanted = dict(labels or {}).items()
        return [
            self._info(c)
            for c in self.containers.values()
            if wanted <= c.spec.labels.items() and (all or c.running)
        ]

    async def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]:
        """The container's log: one line per HTTP request it answered (``GET / 200``)."""
        await self._enter("logs", container_id=container_id, tail=tail, follow=follow, since=since)
        container = self._container(container_id)
        lines = [line for line in container.log if since is None or (line.ts and line.ts >= since)]
        start = 0 if tail < 0 else max(0, len(lines) - tail)
        for line in lines[start:]:
            yield line
        seen = len(container.log)
        while follow and container.running:
            await asyncio.sleep(0.02)
            for line in container.log[seen:]:
                yield line
            seen = len(container.log)

    async def stats(self, container_id: str) -> ContainerStats:
        await self._enter("stats", container_id=container_id)
        container = self._container(container_id)
        net = container.net
        return ContainerStats(
            container_id=container_id,
            cpu_percent=0.0,
            memory_used=1024 * 1024 if container.running else 0,
            memory_limit=container.spec.memory_limit or 0,
            net_rx=net["rx"],
            net_tx=net["tx"],
        )

    async def stats_many(self, container_ids: builtins.list[str]) -> dict[str, ContainerStats]:
        await self._enter("stats_many", container_ids=container_ids)
        return {cid: await self.stats(cid) for cid in container_ids if cid in self.containers}

    async def exec(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> ExecResult:
        await self._enter("exec", container_id=container_id, cmd=cmd, env=env)
        container = self._container(container_id)
        if not container.running or container.paused:
            raise RivetrError(f"container {container_id} is not running (or paused)")
        return self.exec_handler(container_id, cmd, dict(env or {}))

    def _exec_target(self, container_id: str) -> FakeContainer:
        container = self._container(container_id)
        if not container.running or container.paused:
            raise RivetrError(f"container {container_id} is not running (or paused)")
        return container

    async def exec_output(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """Yields :attr:`output_handler`'s stdout, then raises :class:`ExecFailed` on a non-zero exit."""
        await self._enter("exec_output", container_id=container_id, cmd=cmd, env=env)
        self._exec_target(container_id)
        stdout, exit_code, stderr = self.output_handler(container_id, cmd, dict(env or {}))
        for chunk in [stdout] if isinstance(stdout, bytes) else stdout:
            if chunk:
                yield chunk
                await asyncio.sleep(0)
        if exit_code != 0:
            raise ExecFailed(exit_code, stderr)

    async def exec_input(
        self,
        container_id: str,
        cmd: builtins.list[str],
        chunks: AsyncIterable[bytes],
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """Reads every chunk, records ``(container_id, cmd, stdin)`` in ``inputs``, answers
        :attr:`input_handler`."""
        await self._enter("exec_input", container_id=container_id, cmd=cmd, env=env)
        self._exec_target(container_id)
        data = bytearray()
        async for chunk in chunks:
            data += chunk
        self.inputs.append((container_id, list(cmd), bytes(data)))
        return self.input_handler(container_id, cmd, bytes(data), dict(env or {}))

    # ---------------------------------------------------------------------------------------- networks
    async def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        await self._enter("ensure_network", name=name, labels=dict(labels))
        self.networks.setdefault(name, dict(labels))
        return name

    async def ensure_project_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Like :meth:`ensure_network`; the name is also recorded in ``project_networks`` (isolation between
        projects is not simulated: fake containers all serve on loopback)."""
        await self._enter("ensure_project_network", name=name, labels=dict(labels))
        self.networks.setdefault(name, dict(labels))
        self.project_networks.add(name)
        return name

    async def remove_network(self, name: str) -> None:
        await self._enter("remove_network", name=name)
        users = [
            c.id for c in self.containers.values() if c.spec.network == name or name in c.spec.extra_networks
        ]
        if users:
            raise RivetrError(f"network {name!r} is still used by {', '.join(users)}")
        self.networks.pop(name, None)
        self.project_networks.discard(name)

    async def exec_interactive(
        self, container_id: str, cmd: builtins.list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> FakeExecSession:
        await self._enter("exec_interactive", container_id=container_id, cmd=cmd, rows=rows, cols=cols)
        self._container(container_id)
        session = FakeExecSession()
        session.sizes.append((rows, cols))
        return session


if TYPE_CHECKING:
    # mypy checks the fake against the Protocol: a drift on either side fails the type check.
    def _is_a_runtime(fake: FakeRuntime) -> ContainerRuntime:
        return fake

    def _reaches_volume_data(fake: FakeRuntime) -> VolumeDataRuntime:
        return fake

    def _serves_services(fake: FakeRuntime) -> ServiceRuntime:
        return fake

    def _isolates_projects(fake: FakeRuntime) -> ProjectNetworkRuntime:
        return fake
