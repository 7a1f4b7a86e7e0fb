"""The plumbing every part of :class:`~rivetr_runtime_docker.runtime.DockerRuntime` shares: the SDK client, the
worker threads, error translation, and the engine-wide calls (ping, info, close, image addressing).

Why the low-level ``docker.APIClient`` and a few of its underscored helpers: the high-level client inspects
after every call and cannot tell stdout from stderr in a log stream, cannot set a CPU quota on a build, and
gives no handle to abort a build or an exec socket. The helpers used (``_url``, ``_get``, ``_post``,
``_post_json``, ``_raise_for_status``, ``_stream_helper``, ``_get_raw_response_socket``,
``_disable_socket_timeout``) have been stable across docker-py 4 to 7; the dependency is pinned below 8.

Every blocking call runs in a worker thread (``_call``); streams run in their own thread (``_stream``, see
:mod:`.streams`), so the event loop never blocks. Engine errors become Rivetr errors in one place
(``_translate``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker
import docker.errors
import requests
import urllib3.exceptions

from rivetr_core.contract import (
    ContainerNotFound,
    ImageNotFound,
    PortInUse,
    RivetrError,
    RuntimeInfo,
    RuntimeUnavailable,
)

from .streams import StreamHandle, iterate_in_thread

T = TypeVar("T")
log = logging.getLogger("rivetr.runtime.docker")

_PORT_IN_USE = re.compile(r"port is already allocated|address already in use|bind: .*in use", re.I)
_ZERO_TIME = "0001-01-01"


class EngineError(RivetrError):
    """The engine refused a request for a reason no more specific Rivetr error covers (e.g. a name clash)."""

    code = "engine_error"
    status = 502


def parse_time(value: str | None) -> datetime | None:
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


def label_filters(labels: Mapping[str, str] | None) -> dict[str, list[str]] | None:
    """The engine's ``label`` filter requiring every one of ``labels``."""
    if not labels:
        return None
    return {"label": [f"{key}={value}" for key, value in labels.items()]}


def has_labels(have: Mapping[str, str] | None, want: Mapping[str, str] | None) -> bool:
    have = have or {}
    return all(have.get(key) == value for key, value in (want or {}).items())


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the engine does not answer (rather than refusing the request)."""
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, urllib3.exceptions.ProtocolError | urllib3.exceptions.ReadTimeoutError):
        return True
    if isinstance(exc, ConnectionError | FileNotFoundError | TimeoutError | socket.timeout):
        return True
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, docker.errors.DockerException) and "fetching server API version" in str(exc)


def shutdown_response(response: requests.Response) -> None:
    """Wake a thread blocked reading ``response``: shut the socket down, then close the response."""
    with contextlib.suppress(Exception):
        raw_socket = response.raw._fp.fp.raw  # type: ignore[union-attr]
        sock = getattr(raw_socket, "_sock", raw_socket)
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


class EngineClient:
    """Connection to a Docker Engine API at ``base_url`` and the state the runtime's parts share.

    The base of every part of the runtime (:mod:`.images`, :mod:`.build`, :mod:`.containers`, :mod:`.logs`,
    :mod:`.stats`, :mod:`.exec`); it holds all per-instance state, so the parts need no constructors.
    Construction never talks to the engine; the first call connects (negotiating the API version), so a
    runtime can be built while the engine is down and :meth:`ping` tells whether it answers.

    A subclass (the podman runtime) may override the methods documented as extension points, here
    :meth:`create_client`, :meth:`ping` and :meth:`normalize_image`, and may call ``_call`` (run a blocking
    function off the event loop, errors translated) and ``_answers`` (ping without side effects).
    """

    name = "docker"

    def __init__(
        self,
        base_url: str = "unix:///var/run/docker.sock",
        *,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        max_workers: int = 64,
        logger: logging.Logger | None = None,
        project_firewall: bool = True,
        network_pool: ipaddress.IPv4Network | None = None,
    ) -> None:
        self.base_url = base_url
        #: Where the networks Rivetr creates take their /24s (:mod:`.subnets`); None: the engine's own pools.
        self.network_pool = network_pool
        #: Whether ``ensure_project_network`` adds the host firewall keeping projects apart (needs root and
        #: iptables); off, project networks are plain bridges (dockerd still separates its own).
        self.project_firewall = project_firewall
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
        #: container id → (CPU time ns, sample time epoch s, CPU % computed then); see :mod:`.stats`.
        self._cpu_baseline: dict[str, tuple[int, float, float]] = {}
        #: whether the engine runs rootless, once asked; see :mod:`.containers`.
        self._rootless: bool | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    # ------------------------------------------------------------------------------------ extension points
    def create_client(self) -> docker.APIClient:
        """Blocking (runs in a worker thread): make the SDK client, negotiating the API version.

        Extension point: a subclass may override it to make sure the engine is there first (podman starts
        its API service on demand) and then return ``super().create_client()``."""
        client = docker.APIClient(
            base_url=self.base_url, version="auto", timeout=self.connect_timeout, max_pool_size=64
        )
        client.timeout = self.timeout
        return client

    def normalize_image(self, image: str) -> str:
        """The reference this engine stores ``image`` under (dockerd: unchanged).

        Extension point: an engine that stores short names elsewhere overrides it (podman would store
        ``app:1`` as ``docker.io/library/app:1``); every image reference (build tag, run, exists, remove)
        goes through it."""
        return image

    def engine_label_filters(self, labels: Mapping[str, str] | None) -> dict[str, list[str]] | None:
        """Label filters sent to the engine when listing containers and images.

        Extension point: results are checked against every label afterwards anyway, so an engine that
        mishandles several label filters may send fewer (podman 4.3 matches nothing when given two)."""
        return label_filters(labels)

    # ------------------------------------------------------------------------------------------ plumbing
    def _api(self) -> docker.APIClient:
        if self._closed:
            raise RuntimeUnavailable(f"{self.name} runtime was closed")
        with self._client_lock:
            if self._client is None:
                self._client = self.create_client()
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
        if is_unavailable(exc):
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
        maxsize: int = 512,
    ) -> AsyncIterator[T]:
        return iterate_in_thread(
            produce,
            functools.partial(self._translate, container=container, image=image),
            name=f"rivetr-{self.name}-stream",
            maxsize=maxsize,
        )

    # -------------------------------------------------------------------------------------------- engine
    async def ping(self) -> bool:
        """True when the engine answers ``/_ping`` within ``connect_timeout``; never raises.

        Extension point: a subclass may start its engine first (podman's API service); the runtime's own
        checks use ``_answers``, which never has side effects."""
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

    async def image_exists(self, image: str) -> bool:
        """Whether the engine has ``image`` (used by build and run before asking the engine for more)."""
        try:
            await self._call(lambda: self._api().inspect_image(self.normalize_image(image)), image=image)
        except ImageNotFound:
            return False
        return True
