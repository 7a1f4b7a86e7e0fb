"""The Docker Engine as a :class:`rivetr_core.types.ContainerRuntime`, through the docker SDK's low-level client.

Why the low-level ``docker.APIClient`` and a few of its underscored helpers: the high-level client inspects
after every call and cannot tell stdout from stderr in a log stream, cannot set a CPU quota on a build, and
gives no handle to abort a build or an exec socket. The helpers used (``_url``, ``_get``, ``_post``,
``_post_json``, ``_raise_for_status``, ``_stream_helper``, ``_get_raw_response_socket``,
``_disable_socket_timeout``) have been stable across docker-py 4 to 7; the dependency is pinned below 8.

Annotations inside :class:`DockerRuntime` spell ``builtins.list`` because the Protocol's method ``list``
shadows the builtin in the class body.

Every blocking call runs in a worker thread (``_call``); streams run in their own thread (``streams``), so
the event loop never blocks. Engine errors become Rivetr errors in one place (``_translate``).

:class:`DockerRuntime` is also the base of the podman runtime (podman serves the same API): engine
differences are isolated in small overridable methods (``normalize_image``, ``_build_exit_code``,
``STEP_RE``, ``stats_many``, ``_exec_exit_code``).
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import functools
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import docker
import docker.errors
import requests
import urllib3.exceptions
from docker.api.build import process_dockerfile
from docker.utils.json_stream import json_stream

from rivetr_core.types import (
    BuildFailed,
    BuildSpec,
    ContainerInfo,
    ContainerNotFound,
    ContainerStats,
    ExecResult,
    ImageNotFound,
    LogLine,
    PortInUse,
    PruneResult,
    RivetrError,
    RunSpec,
    RuntimeInfo,
    RuntimeUnavailable,
)

from .dockerfile import base_images, is_local_only, read_context_file, read_dockerfile
from .isolation import FirewallError, bridge_name, ensure_firewall
from .streams import StreamHandle, iterate_in_thread

if TYPE_CHECKING:
    from rivetr_core.types import PluginContext

T = TypeVar("T")
log = logging.getLogger("rivetr.runtime.docker")

_PORT_IN_USE = re.compile(r"port is already allocated|address already in use|bind: .*in use", re.I)
_ZERO_TIME = "0001-01-01"


class EngineError(RivetrError):
    """The engine refused a request for a reason no more specific Rivetr error covers (e.g. a name clash)."""

    code = "engine_error"
    status = 502


def _parse_time(value: str | None) -> datetime | None:
    """RFC 3339 with nanoseconds (``2026-01-02T03:04:05.123456789Z``) → aware datetime; zero time → None."""
    if not value or value.startswith(_ZERO_TIME):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", value)
    if not match:
        return None
    base, frac, tz = match.groups()
    frac = (frac or ".0")[:7]
    tz = "+00:00" if tz in (None, "Z") else tz
    try:
        parsed = datetime.fromisoformat(f"{base}{frac}{tz}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=", re.I | re.M)


_FROM_LINE = re.compile(r"^\s*FROM\s", re.I)


def _append_labels(dockerfile: str, labels: Mapping[str, str]) -> str:
    """``dockerfile`` with a ``LABEL "k"="v" …`` line after every ``FROM`` and one at the end.

    The one at the end gives the final image Rivetr's labels whatever the Dockerfile sets. The ones after each
    ``FROM`` label every image the legacy builder leaves behind (a multi-stage build's earlier stages, the last
    step of a failed build): cleanup prunes dangling images by label only. They cost a step each, cached after
    the first build of the app."""

    def quote(text: str) -> str:
        # Dockerfile double-quoted words: backslash escapes, and `$` would be expanded as a variable.
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", " ")
        return f'"{escaped}"'

    label = "LABEL " + " ".join(f"{quote(key)}={quote(value)}" for key, value in labels.items())
    out: list[str] = []
    continued = in_from = False  # inside a backslash-continued instruction / a (continued) FROM
    for line in dockerfile.rstrip().splitlines():
        out.append(line)
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and continued):
            continue  # comments (and blank lines) inside an instruction do not end it
        if not continued:
            in_from = bool(_FROM_LINE.match(line))
        continued = stripped.endswith("\\")
        if in_from and not continued:
            out.append(label)
            in_from = False
    return "\n".join(out) + f"\n{label}\n"


def _label_filters(labels: Mapping[str, str] | None) -> dict[str, list[str]] | None:
    if not labels:
        return None
    return {"label": [f"{key}={value}" for key, value in labels.items()]}


def _has_labels(have: Mapping[str, str] | None, want: Mapping[str, str] | None) -> bool:
    have = have or {}
    return all(have.get(key) == value for key, value in (want or {}).items())


def _network_address(network: Mapping[str, Any]) -> str | None:
    """``ip:port`` of a running container's (first) exposed TCP port on its (first) network."""
    ips = [network.get("IPAddress")] + [n.get("IPAddress") for n in (network.get("Networks") or {}).values()]
    ip = next((value for value in ips if value), None)
    port = next((key.split("/")[0] for key in (network.get("Ports") or {}) if key.endswith("/tcp")), None)
    return f"{ip}:{port}" if ip and port else None


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, urllib3.exceptions.ProtocolError | urllib3.exceptions.ReadTimeoutError):
        return True
    if isinstance(exc, ConnectionError | FileNotFoundError | TimeoutError | socket.timeout):
        return True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, docker.errors.DockerException) and "fetching server API version" in str(exc)


class DockerRuntime:
    """Container runtime for the Docker Engine API at ``base_url`` (``unix:///var/run/docker.sock``).

    Construction never talks to the engine; the first call connects (negotiating the API version), so a
    runtime can be built while the engine is down and :meth:`ping` tells whether it answers.
    """

    name = "docker"
    #: Matches the engine's "step" line of a build log; dockerd writes ``Step 2/5 : RUN make``.
    STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
    #: Put build labels into the Dockerfile as one LABEL line instead of the API's ``labels`` parameter.
    LABELS_IN_DOCKERFILE = True
    #: The engine's image prune requires every ``label`` filter to match (podman 4.3's matches any one).
    PRUNE_ANDS_LABELS = True
    #: Build-log lines kept for :class:`BuildFailed`.
    LOG_TAIL_LINES = 40
    #: Pause between the two samples of a container without CPU baseline. dockerd's one-shot sample waits for
    #: its next collection tick (1 s) by itself, so no extra pause is needed.
    CPU_SAMPLE_INTERVAL = 0.0
    #: A previous sample younger than this serves as the CPU baseline.
    BASELINE_MAX_AGE = 60.0
    #: Shortest window CPU % is computed over (shorter ones report the last value); ≤ CPU_SAMPLE_INTERVAL.
    MIN_CPU_WINDOW = 0.2

    def __init__(
        self,
        base_url: str = "unix:///var/run/docker.sock",
        *,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        max_workers: int = 64,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.log = logger or log
        self._client: docker.APIClient | None = None
        self._client_lock = threading.Lock()
        # Own pool: the default executor has cpu+4 threads (6 here) while dockerd's stats take ~1 s each,
        # so fetching 20 containers' stats in parallel needs more.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers, thread_name_prefix=f"rivetr-{self.name}"
        )
        self._closed = False
        #: container id → (CPU time ns, sample time epoch s, CPU % computed then)
        self._cpu_baseline: dict[str, tuple[int, float, float]] = {}
        self._rootless: bool | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> DockerRuntime:
        """Plugin factory: ``[plugins.runtime-docker] socket``."""
        from .plugin import DockerSettings

        return cls(ctx.settings_as(DockerSettings, "runtime-docker").socket, logger=ctx.logger)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    # ----------------------------------------------------------------------------------------- plumbing
    def _connect(self) -> docker.APIClient:
        """Make the SDK client (blocking: negotiates the API version). Runs in a worker thread."""
        client = docker.APIClient(
            base_url=self.base_url, version="auto", timeout=self.connect_timeout, max_pool_size=64
        )
        client.timeout = self.timeout
        return client

    def _api(self) -> docker.APIClient:
        if self._closed:
            raise RuntimeUnavailable(f"{self.name} runtime was closed")
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _unavailable(self, exc: BaseException) -> RuntimeUnavailable:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return RuntimeUnavailable(
            f"{self.name} engine at {self.base_url} does not answer ({reason}); is the daemon running?",
            details={"runtime": self.name, "address": self.base_url},
        )

    def _translate(
        self, exc: BaseException, *, container: str | None = None, image: str | None = None
    ) -> BaseException:
        """Map an SDK/transport exception to a Rivetr error; anything unknown (a bug) passes through."""
        if isinstance(exc, RivetrError):
            return exc
        if _is_unavailable(exc):
            return self._unavailable(exc)
        if isinstance(exc, docker.errors.APIError):
            text = str(exc.explanation or exc)
            if isinstance(exc, docker.errors.NotFound):
                if image is not None and (container is None or "image" in text.lower()):
                    return ImageNotFound(f"image {image} not found in {self.name}", details={"image": image})
                if container is not None:
                    return ContainerNotFound(
                        f"container {container} not found in {self.name}", details={"container": container}
                    )
            if _PORT_IN_USE.search(text):
                return PortInUse(f"host port already in use: {text}", details={"engine_message": text})
            return EngineError(f"{self.name}: {text}", details={"status": exc.status_code})
        if isinstance(exc, docker.errors.DockerException):
            return EngineError(f"{self.name}: {exc}")
        return exc

    async def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        container: str | None = None,
        image: str | None = None,
        **kw: Any,
    ) -> T:
        """Run a blocking function off the event loop; translate its errors."""
        if self._closed:
            raise RuntimeUnavailable(f"{self.name} runtime was closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kw))
        except Exception as exc:
            translated = self._translate(exc, container=container, image=image)
            if translated is exc:
                raise
            raise translated from exc

    def _stream(
        self,
        produce: Callable[[StreamHandle], Iterator[T]],
        *,
        container: str | None = None,
        image: str | None = None,
    ) -> AsyncIterator[T]:
        return iterate_in_thread(
            produce,
            functools.partial(self._translate, container=container, image=image),
            name=f"rivetr-{self.name}-stream",
        )

    @staticmethod
    def _shutdown_response(response: requests.Response) -> None:
        """Wake a thread blocked reading ``response``: shut the socket down, then close the response."""
        with contextlib.suppress(Exception):
            raw_socket = response.raw._fp.fp.raw  # type: ignore[union-attr]
            sock = getattr(raw_socket, "_sock", raw_socket)
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()

    # -------------------------------------------------------------------------------------------- engine
    async def ping(self) -> bool:
        """True when the engine answers ``/_ping`` within ``connect_timeout``; never raises."""
        return await self._answers()

    async def _answers(self) -> bool:
        """Ping without side effects (a subclass's ``ping`` may start its engine): used to tell "the stream
        ended" from "the engine went away"."""
        try:
            return await self._call(self._ping)
        except Exception:
            return False

    def _ping(self) -> bool:
        api = self._api()
        response = api._get(api._url("/_ping"), timeout=self.connect_timeout)
        return response.status_code == 200

    async def info(self) -> RuntimeInfo:
        version = await self._call(lambda: self._api().version())
        return RuntimeInfo(
            name=self.name,
            version=str(version.get("Version", "")),
            api_version=version.get("ApiVersion"),
            extra={
                "os": version.get("Os"),
                "arch": version.get("Arch"),
                "kernel": version.get("KernelVersion"),
                "address": self.base_url,
                "components": [c.get("Name") for c in version.get("Components") or []],
            },
        )

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------------------------------------- images
    def _engine_label_filters(self, labels: Mapping[str, str] | None) -> dict[str, list[str]] | None:
        """Label filters sent to the engine; results are checked against every label afterwards anyway."""
        return _label_filters(labels)

    def normalize_image(self, image: str) -> str:
        """The reference this engine stores ``image`` under (dockerd: unchanged)."""
        return image

    async def image_exists(self, image: str) -> bool:
        try:
            await self._call(lambda: self._api().inspect_image(self.normalize_image(image)), image=image)
        except ImageNotFound:
            return False
        return True

    async def remove_image(self, image: str, force: bool = False) -> None:
        """Remove an image; a missing image is not an error (the goal, no such image, holds)."""
        with contextlib.suppress(ImageNotFound):
            await self._call(
                lambda: self._api().remove_image(self.normalize_image(image), force=force), image=image
            )

    async def list_images(self, labels: Mapping[str, str] | None = None) -> list[str]:
        """Tags of the images carrying ``labels`` (untagged images are listed by id)."""
        filters = self._engine_label_filters(labels)
        for attempt in range(5):
            try:
                images = await self._call(lambda: self._api().images(filters=filters))
                break
            except EngineError as exc:
                # podman fails the whole list when an image is removed while it lists (another build or
                # prune at the same moment); the list is valid a moment later.
                if "image not known" not in exc.message or attempt == 4:
                    raise
                await asyncio.sleep(0.1)
        out: list[str] = []
        for image in images:
            if not _has_labels(image.get("Labels"), labels):
                continue
            tags = [t for t in image.get("RepoTags") or [] if t and t != "<none>:<none>"]
            out.extend(tags or [image["Id"]])
        return out

    async def prune(self, labels: Mapping[str, str], *, build_cache: bool = False) -> PruneResult:
        """Delete the dangling images carrying every one of ``labels`` (their untagged parent layers go with
        them); ``build_cache``: also the engine's whole build cache (every program's: it has no labels)."""
        if not labels:
            # An unfiltered prune deletes other programs' dangling images, even a running build's.
            raise ValueError("prune needs labels: Rivetr only prunes the images it made")
        if self.PRUNE_ANDS_LABELS or len(labels) == 1:
            filters = {"dangling": True, **(_label_filters(labels) or {})}
            result = await self._call(lambda: self._api().prune_images(filters=filters))
            deleted = sum(1 for entry in result.get("ImagesDeleted") or [] if entry.get("Deleted"))
            space = int(result.get("SpaceReclaimed") or 0)
        else:
            deleted, space = await self._prune_one_by_one(labels)
        if build_cache:
            try:
                builds = await self._call(lambda: self._api().prune_builds())
                space += int(builds.get("SpaceReclaimed") or 0)
            except EngineError as exc:  # engines without a build cache endpoint
                self.log.debug("%s: build cache prune unsupported: %s", self.name, exc)
        return PruneResult(images_deleted=deleted, space_reclaimed=space)

    async def _prune_one_by_one(self, labels: Mapping[str, str]) -> tuple[int, int]:
        """Remove the matching dangling images one at a time (for engines whose prune ORs label filters)."""
        filters = {"dangling": True, **(self._engine_label_filters(labels) or {})}
        images = await self._call(lambda: self._api().images(filters=filters))
        deleted = space = 0
        for image in images:
            if not _has_labels(image.get("Labels"), labels):
                continue
            try:
                await self.remove_image(image["Id"])
            except EngineError as exc:  # in use (a container of it), or gone meanwhile
                self.log.debug("%s: kept dangling image %s: %s", self.name, image["Id"], exc)
                continue
            deleted += 1
            space += int(image.get("Size") or 0)
        return deleted, space

    # ----------------------------------------------------------------------------------------------- build
    def build_step(self, line: str) -> tuple[int, int, str] | None:
        """``(step, total, instruction)`` when ``line`` starts a build step, else None (progress display)."""
        match = self.STEP_RE.match(line)
        return (int(match.group(1)), int(match.group(2)), match.group(3)) if match else None

    async def _check_base_images(self, spec: BuildSpec) -> None:
        # Read the safe way: a Dockerfile linked to /dev/zero, a FIFO or a host file fails the build here.
        text, _inside = await asyncio.to_thread(read_dockerfile, spec.context_dir, spec.dockerfile)
        local = [image for image in base_images(text, spec.build_args) if is_local_only(image)]
        present = await asyncio.gather(*(self.image_exists(image) for image in local))
        missing = [image for image, ok in zip(local, present, strict=True) if not ok]
        if missing:
            raise ImageNotFound(
                f"base image {', '.join(missing)} is not present in {self.name} and cannot be pulled "
                "(localhost/ images exist only where they were built or imported)",
                details={"images": missing},
            )

    def _build_exit_code(self, error: Mapping[str, Any]) -> int | None:
        code = (error.get("errorDetail") or {}).get("code")
        if isinstance(code, int):
            return code
        match = re.search(r"returned a non-zero code: (\d+)", str(error.get("error", "")))
        return int(match.group(1)) if match else None

    def _build_network_params(self, network: str) -> dict[str, str]:
        """Query parameters that put a build's RUN steps on ``network`` (dockerd: ``networkmode``)."""
        return {"networkmode": network}

    def _build_stream(self, spec: BuildSpec, tag: str, handle: StreamHandle) -> Iterator[dict[str, Any]]:
        """Blocking: POST /build with the tarred context and yield the decoded JSON chunks."""
        api = self._api()
        context_dir = str(spec.context_dir)
        exclude = None
        # Files of the (untrusted) repository are read confined to the context, regular files only, capped:
        # a .dockerignore linked to /dev/zero or a FIFO would otherwise read forever or block this thread.
        ignore = read_context_file(context_dir, ".dockerignore", missing_ok=True)
        if ignore is not None:
            exclude = [ln.strip() for ln in ignore.splitlines() if ln.strip() and not ln.startswith("#")]
        text, inside = read_dockerfile(context_dir, spec.dockerfile)
        # The SDK's process_dockerfile would open a Dockerfile outside the context itself: pass the text read.
        dockerfile = (
            process_dockerfile(spec.dockerfile, context_dir)
            if inside
            else (f".dockerfile.{uuid.uuid4().hex[:12]}", text)
        )
        labels_param = dict(spec.labels)
        if spec.labels and self.LABELS_IN_DOCKERFILE:
            if not _ESCAPE_DIRECTIVE.search(text):
                # dockerd's legacy builder runs one intermediate container per label of the `labels`
                # parameter (~0.2-0.5 s each); a single LABEL line appended to the last stage costs one.
                # The rewritten Dockerfile travels inside the context (the SDK also hides it from COPY).
                dockerfile = (
                    f".rivetr.Dockerfile.{uuid.uuid4().hex[:12]}",
                    _append_labels(text, spec.labels),
                )
                labels_param = {}
        context = docker.utils.tar(context_dir, exclude=exclude, dockerfile=dockerfile)
        params: dict[str, Any] = {
            "t": tag,
            "dockerfile": dockerfile[0],
            "rm": True,
            "forcerm": True,
            "nocache": spec.no_cache,
            "pull": False,
        }
        if spec.build_args:
            params["buildargs"] = json.dumps(spec.build_args)
        if labels_param:
            params["labels"] = json.dumps(labels_param)
        if spec.memory_limit:
            params["memory"] = spec.memory_limit
            params["memswap"] = -1
        if spec.cpu_limit:
            # The SDK only passes cpushares (a weight); the API's quota/period makes it a real cap.
            params["cpuperiod"] = 100_000
            params["cpuquota"] = int(spec.cpu_limit * 100_000)
        if spec.network:
            params.update(self._build_network_params(spec.network))
        try:
            # timeout=None: a quiet build step (a long compile) must not hit the client's read timeout.
            response = api._post(
                api._url("/build"),
                data=context,
                params=params,
                headers={"Content-Type": "application/tar"},
                stream=True,
                timeout=None,
            )
        finally:
            context.close()
        handle.on_cancel(lambda: self._shutdown_response(response))
        try:
            api._raise_for_status(response)
        except docker.errors.APIError as exc:
            if exc.status_code != 400:
                raise
            # A Dockerfile the engine cannot parse is refused before any log: report it as a build error.
            yield {"error": str(exc.explanation or exc)}
            return
        yield from json_stream(api._stream_helper(response, decode=False))

    async def build(self, spec: BuildSpec) -> AsyncIterator[str]:
        """Build ``spec`` and yield log lines as the engine sends them (see the Protocol)."""
        tag = self.normalize_image(spec.tag)
        await self._check_base_images(spec)
        tail: deque[str] = deque(maxlen=self.LOG_TAIL_LINES)
        error: dict[str, Any] | None = None
        built_id: str | None = None
        step: str | None = None
        pending = ""

        def lines_of(text: str) -> list[str]:
            nonlocal pending
            pending += text
            *complete, pending = pending.split("\n")
            return [line.rstrip("\r") for line in complete]

        async for chunk in self._stream(functools.partial(self._build_stream, spec, tag), image=tag):
            if "error" in chunk or "errorDetail" in chunk:
                error = chunk
                continue
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                built_id = aux["ID"]
            text = chunk.get("stream")
            if not text:
                continue
            for line in lines_of(text):
                tail.append(line)
                if self.build_step(line):
                    step = line
                yield line
        if pending.strip():
            tail.append(pending)
            yield pending
        if error is not None:
            message = str(
                error.get("error") or (error.get("errorDetail") or {}).get("message") or "build failed"
            )
            tail.append(message)
            where = f" at {step}" if step else ""
            raise BuildFailed(
                f"build of {tag} failed{where}: {message.strip()}",
                log_tail=list(tail),
                exit_code=self._build_exit_code(error),
            )
        if built_id is None and not await self.image_exists(tag):
            if not await self._answers():
                raise RuntimeUnavailable(f"{self.name} engine at {self.base_url} went away during the build")
            raise BuildFailed(f"build of {tag} ended without producing an image", log_tail=list(tail))

    # -------------------------------------------------------------------------------------------- networks
    #: Driver options of an isolated network: no traffic between its containers (dockerd's ICC switch),
    #: plus the fixed bridge name the firewall matches. podman takes the bridge name, ignores ICC.
    ISOLATED_NETWORK_OPTIONS = {"com.docker.network.bridge.enable_icc": "false"}

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
    @staticmethod
    def _check_port_free(host_ip: str, port: int) -> None:
        # The engine reports a taken port only at start and in engine-specific words; a bind test up front
        # gives one clear error on both engines (the engine's own error is still translated as a fallback).
        family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host_ip, port))
            except OSError as exc:
                raise PortInUse(
                    f"host port {host_ip}:{port} is already in use",
                    details={"host_ip": host_ip, "port": port},
                ) from exc

    def _is_rootless(self, api: docker.APIClient) -> bool:
        """Whether the engine runs rootless: its containers' addresses are then inside a user namespace's
        network the host cannot reach, so ports are published even when ``RunSpec.publish`` is False."""
        if self._rootless is None:
            options = api.info().get("SecurityOptions") or []
            self._rootless = any("name=rootless" in str(option) for option in options)
        return self._rootless

    def _host_config(self, api: docker.APIClient, spec: RunSpec) -> dict[str, Any]:
        port_bindings = None
        if spec.container_port and (spec.publish or self._is_rootless(api)):
            binding: tuple[Any, ...] = (
                (spec.host_ip,) if not spec.host_port else (spec.host_ip, spec.host_port)
            )
            port_bindings = {spec.container_port: binding}
        restart = None
        if spec.restart_policy != "no":
            restart = {"Name": spec.restart_policy, "MaximumRetryCount": 0}
        return api.create_host_config(
            port_bindings=port_bindings,
            init=spec.init or None,
            nano_cpus=int(spec.cpu_limit * 1e9) if spec.cpu_limit else None,
            mem_limit=spec.memory_limit or None,
            pids_limit=spec.pids_limit or None,
            restart_policy=restart,
            network_mode=spec.network or None,
            log_config=self._log_config(spec),
            oom_score_adj=spec.oom_score_adj or None,
        )

    def _log_config(self, spec: RunSpec) -> dict[str, Any] | None:
        """json-file rotation (``max-size`` x ``max-file``), so a chatty app cannot fill the disk; None
        leaves the daemon's own log driver and options."""
        if not spec.log_max_size:
            return None
        files = max(1, spec.log_max_files or 1)
        return {"Type": "json-file", "Config": {"max-size": str(spec.log_max_size), "max-file": str(files)}}

    def _create_and_start(self, spec: RunSpec, image: str) -> str:
        api = self._api()
        created = api.create_container(
            image,
            name=spec.name,
            command=spec.command,
            environment=spec.env or None,
            labels=spec.labels or None,
            ports=[spec.container_port] if spec.container_port else None,
            host_config=self._host_config(api, spec),
            detach=True,
        )
        container_id = created["Id"]
        try:
            api.start(container_id)
        except Exception:
            # A container that failed to start (port taken, bad command) would block its name forever.
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
            raise
        return container_id

    async def run(self, spec: RunSpec) -> ContainerInfo:
        """Create and start a container; ``ContainerInfo.host_port`` is the published host port."""
        image = self.normalize_image(spec.image)
        if spec.container_port and spec.host_port and spec.publish:
            self._check_port_free(spec.host_ip, spec.host_port)
        if not await self.image_exists(image):
            raise ImageNotFound(f"image {image} not found in {self.name}", details={"image": image})
        container_id = await self._call(self._create_and_start, spec, image, image=image)
        return await self.inspect(container_id)

    async def stop(self, container_id: str, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Stopping a stopped container is a no-op."""
        await self._call(
            lambda: self._api().stop(container_id, timeout=max(0, round(timeout))),
            container=container_id,
        )

    async def remove(self, container_id: str, force: bool = True) -> None:
        """Remove a container (and its anonymous volumes); a missing container is not an error."""
        with contextlib.suppress(ContainerNotFound):
            await self._call(
                lambda: self._api().remove_container(container_id, force=force, v=True),
                container=container_id,
            )

    def _normalize_status(self, status: str) -> str:
        """The engine's status word in Docker's vocabulary (created, running, exited, paused, dead, …)."""
        return status

    def _info_from_inspect(self, data: Mapping[str, Any]) -> ContainerInfo:
        state = data.get("State") or {}
        config = data.get("Config") or {}
        host = data.get("HostConfig") or {}
        status = self._normalize_status(str(state.get("Status") or "unknown"))
        running = bool(state.get("Running"))
        network = data.get("NetworkSettings") or {}
        host_port: int | None = None
        for bindings in (network.get("Ports") or {}).values():
            for binding in bindings or []:
                if binding.get("HostPort"):
                    host_port = int(binding["HostPort"])
                    break
            if host_port is not None:
                break
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
            labels=dict(config.get("Labels") or {}),
            created_at=_parse_time(data.get("Created")),
            address=None if host_port else _network_address(network),
            started_at=_parse_time(state.get("StartedAt")),
            restart_count=int(data.get("RestartCount") or 0),
            limits=limits,
        )

    async def inspect(self, container_id: str) -> ContainerInfo:
        data = await self._call(lambda: self._api().inspect_container(container_id), container=container_id)
        return self._info_from_inspect(data)

    async def list(self, labels: Mapping[str, str] | None = None, all: bool = True) -> list[ContainerInfo]:
        """Containers carrying every one of ``labels`` (``all=False``: running ones only)."""
        filters = self._engine_label_filters(labels)
        summaries = await self._call(lambda: self._api().containers(all=all, filters=filters))
        results = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries), return_exceptions=True)
        out: list[ContainerInfo] = []
        for result in results:
            if isinstance(result, ContainerNotFound):
                continue  # removed between the list and the inspect
            if isinstance(result, BaseException):
                raise result
            if _has_labels(result.labels, labels):
                out.append(result)
        return out

    # ------------------------------------------------------------------------------------------------ logs
    def _log_frames(
        self, container_id: str, params: dict[str, Any], tty: bool, handle: StreamHandle
    ) -> Iterator[tuple[str, bytes]]:
        """Blocking: yield ``(stream, data)`` frames of the container's log (8-byte multiplex headers unless
        the container has a TTY)."""
        api = self._api()
        response = api._get(
            api._url("/containers/{0}/logs", container_id), params=params, stream=True, timeout=None
        )
        handle.on_cancel(lambda: self._shutdown_response(response))
        api._raise_for_status(response)
        raw = response.raw
        if tty:
            while chunk := raw.read1(65536) if hasattr(raw, "read1") else raw.read(4096):
                yield "stdout", chunk
            return
        while True:
            header = raw.read(8)
            if len(header) < 8:
                return
            stream_type, length = struct.unpack(">BxxxL", header)
            if not length:
                continue
            data = raw.read(length)
            if not data:
                return
            yield ("stderr" if stream_type == 2 else "stdout"), data

    async def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]:
        """The last ``tail`` lines (``tail < 0``: all), then new ones while ``follow``; each with its stream
        and engine timestamp. A followed log ends when the container stops; raises RuntimeUnavailable when
        the engine goes away."""
        data = await self._call(lambda: self._api().inspect_container(container_id), container=container_id)
        tty = bool((data.get("Config") or {}).get("Tty"))
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "timestamps": 1,
            "follow": 1 if follow else 0,
            "tail": "all" if tail is None or tail < 0 else str(tail),
        }
        if since is not None:
            params["since"] = int(since.timestamp())
        pending = {"stdout": b"", "stderr": b""}

        def to_line(stream: str, raw_line: bytes) -> LogLine:
            text = raw_line.decode("utf-8", "replace").rstrip("\r")
            stamp, sep, rest = text.partition(" ")
            ts = _parse_time(stamp) if sep else None
            return LogLine(line=rest if ts else text, stream=stream, ts=ts)  # type: ignore[arg-type]

        produce = functools.partial(self._log_frames, container_id, params, tty)
        async for stream, chunk in self._stream(produce, container=container_id):
            buffered = pending[stream] + chunk
            *complete, pending[stream] = buffered.split(b"\n")
            for raw_line in complete:
                yield to_line(stream, raw_line)
        for stream, rest in pending.items():
            if rest:
                yield to_line(stream, rest)
        if follow and not await self._answers():
            raise RuntimeUnavailable(f"{self.name} engine at {self.base_url} went away while following logs")

    # ----------------------------------------------------------------------------------------------- stats
    @staticmethod
    def _memory(raw: Mapping[str, Any]) -> tuple[int, int]:
        memory = raw.get("memory_stats") or {}
        usage = int(memory.get("usage") or 0)
        details = memory.get("stats") or {}
        # Page cache is reclaimable; docker CLI subtracts inactive_file (cgroup v2) / total_inactive_file (v1).
        cache = details.get("total_inactive_file", details.get("inactive_file", 0)) or 0
        return max(0, usage - int(cache)), int(memory.get("limit") or 0)

    @staticmethod
    def _network(raw: Mapping[str, Any]) -> tuple[int, int]:
        networks = raw.get("networks") or {}
        rx = sum(int(n.get("rx_bytes") or 0) for n in networks.values())
        tx = sum(int(n.get("tx_bytes") or 0) for n in networks.values())
        return rx, tx

    def _stats_from(self, container_id: str, raw: Mapping[str, Any]) -> ContainerStats:
        """One raw sample → stats; CPU % from the engine's own ``precpu_stats`` when it sent them."""
        cpu = raw.get("cpu_stats") or {}
        pre = raw.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
            "total_usage", 0
        )
        system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
        online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        percent = 0.0
        if pre.get("system_cpu_usage") and system_delta > 0 and cpu_delta > 0:
            percent = cpu_delta / system_delta * online * 100.0
        used, limit = self._memory(raw)
        rx, tx = self._network(raw)
        return ContainerStats(
            container_id=container_id,
            cpu_percent=round(percent, 3),
            memory_used=used,
            memory_limit=limit,
            net_rx=rx,
            net_tx=tx,
            ts=_parse_time(raw.get("read")) or datetime.now(UTC),
        )

    def _raw_stats(self, container_id: str) -> dict[str, Any]:
        api = self._api()
        if docker.utils.version_lt(api._version, "1.41"):
            return api.stats(container_id, stream=False)
        # one-shot: the next collector tick only (without it dockerd waits two ticks, ~2 s, to fill precpu);
        # CPU % then comes from the previous sample kept in _cpu_baseline.
        return api.stats(container_id, stream=False, one_shot=True)

    def _with_cpu(self, container_id: str, raw: Mapping[str, Any], received: float) -> ContainerStats:
        """Stats with CPU % = CPU time used since the container's previous sample / wall time between them
        (a share of one CPU, as ``docker stats`` shows it). Updates the baseline."""
        stats = self._stats_from(container_id, raw)
        total = int(((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
        read = _parse_time(raw.get("read"))
        when = read.timestamp() if read else received
        previous = self._cpu_baseline.get(container_id)
        if previous is not None:
            before, then, last_percent = previous
            if when - then < self.MIN_CPU_WINDOW:
                # The same engine sample again (one collector tick), or a window too short to measure: cgroup
                # CPU counters move in ~10 ms steps, so 30 ms apart can read 120% of a half-CPU cap. Report
                # the last value and keep the older baseline, so the next window is long enough.
                stats.cpu_percent = last_percent
                return stats
            if total >= before:
                stats.cpu_percent = round((total - before) / ((when - then) * 1e9) * 100.0, 3)
        self._cpu_baseline[container_id] = (total, when, stats.cpu_percent)
        return stats

    async def _sample(self, container_ids: builtins.list[str]) -> dict[str, tuple[dict[str, Any], float]]:
        async def one(cid: str) -> tuple[dict[str, Any], float]:
            raw = await self._call(self._raw_stats, cid, container=cid)
            return raw, time.time()

        results = await asyncio.gather(*(one(cid) for cid in container_ids), return_exceptions=True)
        out: dict[str, tuple[dict[str, Any], float]] = {}
        for cid, result in zip(container_ids, results, strict=True):
            if isinstance(result, ContainerNotFound):
                self._cpu_baseline.pop(cid, None)
                continue
            if isinstance(result, BaseException):
                raise result
            out[cid] = result
        return out

    async def stats_many(self, container_ids: builtins.list[str]) -> dict[str, ContainerStats]:
        """Stats of many containers, fetched in parallel; containers that no longer exist are left out.

        CPU % needs two samples: containers without a recent one (``BASELINE_MAX_AGE``) are sampled first,
        all at once, and the call waits ``CPU_SAMPLE_INTERVAL`` once; a caller polling every few seconds
        (the dashboard) pays for one sample only."""
        now = time.time()
        for cid, (_, when, _) in list(self._cpu_baseline.items()):
            if now - when > self.BASELINE_MAX_AGE:
                del self._cpu_baseline[cid]
        cold = [cid for cid in container_ids if cid not in self._cpu_baseline]
        if cold:
            for cid, (raw, received) in (await self._sample(cold)).items():
                self._with_cpu(cid, raw, received)
            await asyncio.sleep(self.CPU_SAMPLE_INTERVAL)
        samples = await self._sample(container_ids)
        return {cid: self._with_cpu(cid, raw, received) for cid, (raw, received) in samples.items()}

    async def stats(self, container_id: str) -> ContainerStats:
        """One container's stats (see :meth:`stats_many` for how CPU % is measured)."""
        found = await self.stats_many([container_id])
        if container_id not in found:
            raise ContainerNotFound(f"container {container_id} not found in {self.name}")
        return found[container_id]

    # ------------------------------------------------------------------------------------------------ exec
    def _exec_exit_code(self, inspected: Mapping[str, Any], output: str) -> int:
        code = inspected.get("ExitCode")
        return int(code) if code is not None else -1

    def _exec(self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None) -> ExecResult:
        api = self._api()
        created = api.exec_create(container_id, cmd, stdout=True, stderr=True, environment=env or None)
        raw = api.exec_start(created["Id"])
        output = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        inspected = api.exec_inspect(created["Id"])
        return ExecResult(exit_code=self._exec_exit_code(inspected, output), output=output)

    async def exec(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> ExecResult:
        """Run ``cmd`` in the container and wait; output is stdout and stderr interleaved."""
        return await self._call(self._exec, container_id, cmd, env, container=container_id)

    def _exec_open(self, container_id: str, cmd: builtins.list[str], rows: int, cols: int) -> tuple[str, Any]:
        api = self._api()
        created = api.exec_create(container_id, cmd, stdin=True, tty=True, stdout=True, stderr=True)
        exec_id = created["Id"]
        # Same request as exec_start(socket=True), but keeping the response: its buffered reader may already
        # hold the first output bytes (a shell prompt) that a raw socket read would miss.
        response = api._post_json(
            api._url("/exec/{0}/start", exec_id),
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            data={"Tty": True, "Detach": False},
            stream=True,
        )
        api._raise_for_status(response)
        sock = api._get_raw_response_socket(response)
        api._disable_socket_timeout(sock)
        with contextlib.suppress(docker.errors.APIError):
            api.exec_resize(exec_id, height=rows, width=cols)  # may race the process start; not fatal
        return exec_id, response

    async def exec_interactive(
        self, container_id: str, cmd: builtins.list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> DockerExecSession:
        """Start ``cmd`` (default ``/bin/sh``) with a TTY and return a bidirectional session."""
        exec_id, response = await self._call(
            self._exec_open, container_id, cmd or ["/bin/sh"], rows, cols, container=container_id
        )
        return DockerExecSession(self, exec_id, response)


class DockerExecSession:
    """An exec with a TTY: :meth:`write` keystrokes, :meth:`read` output chunks, :meth:`resize` the terminal.

    A dedicated thread reads the socket into a queue (a browser terminal may stay idle for hours, so it must
    not hold a worker of the runtime's pool)."""

    def __init__(self, runtime: DockerRuntime, exec_id: str, response: requests.Response) -> None:
        self.runtime = runtime
        self.exec_id = exec_id
        self._response = response
        raw_socket = response.raw._fp.fp.raw  # type: ignore[union-attr]
        self._sock: socket.socket = getattr(raw_socket, "_sock", raw_socket)
        self._reader = response.raw._fp.fp  # type: ignore[union-attr]
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="rivetr-exec-session", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while True:
                data = self._reader.read1(65536)
                if not data:
                    break
                self._loop.call_soon_threadsafe(self._queue.put_nowait, data)
        except Exception:  # socket shut down by close(), or the engine went away
            pass
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, b"")

    async def read(self) -> bytes:
        """Next chunk of output; ``b""`` once the process exited and everything was read."""
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise RuntimeError("exec session is closed")
        try:
            await asyncio.to_thread(self._sock.sendall, data)
        except OSError as exc:
            raise self.runtime._unavailable(exc) from exc

    async def resize(self, rows: int, cols: int) -> None:
        await self.runtime._call(
            lambda: self.runtime._api().exec_resize(self.exec_id, height=rows, width=cols)
        )

    async def exit_code(self) -> int | None:
        """The process's exit code once it ended, else None."""
        data = await self.runtime._call(lambda: self.runtime._api().exec_inspect(self.exec_id))
        return None if data.get("Running") else data.get("ExitCode")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Closing our end gives the process EOF on stdin (a shell exits) and wakes the reader thread.
        DockerRuntime._shutdown_response(self._response)
