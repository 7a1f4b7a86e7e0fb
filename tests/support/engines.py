"""Real container engines for tests: fixtures and helpers (loaded by the root conftest through pytest_plugins).

Engines are real (dockerd and podman); nothing is faked. The session starts them once through
``scripts/engines.sh ensure`` (installs packages as root, starts dockerd and the podman API service,
imports the base image ``localhost/rivetr-test/busybox:latest`` in both) and exports ``CONTAINERS_CONF``.

Fixtures
--------
``engine_env`` (session)
    :class:`EngineEnv`: ``docker_socket``, ``podman_socket``, ``containers_conf``, ``base_image``,
    ``registries_conf``, ``registry``. Use the sockets to configure a ``RivetrConfig`` (``[runtime]
    docker_socket`` / ``podman_socket``).
``docker_runtime`` / ``podman_runtime`` (function)
    A fresh :class:`DockerRuntime` / :class:`PodmanRuntime`; closed after the test. At teardown every container
    and image carrying this test's ``test_labels`` is removed.
``runtime`` (function, parametrised ``docker`` / ``podman``)
    The same, once per engine: a test using it runs twice. Tests are auto-marked ``docker`` / ``podman``
    (also when they use the engine-specific fixtures), so ``-m "not podman"`` works.
``test_labels`` (function)
    ``{"rivetr.test": <session id>, "rivetr.test.case": <test id>}``: put them on every container/image a
    test creates (``RunSpec.labels``, ``BuildSpec.labels``) and teardown removes them even when the test fails.
``docker_httpd_image`` / ``podman_httpd_image`` (session), ``httpd_image`` (function, follows ``runtime``)
    A tiny busybox httpd app, built once per session: ``httpd -f -v -p 8000 -h /www`` serving
    ``/index.html`` ("hello from rivetr") and the CGI ``/cgi-bin/env`` (prints the container environment).
    Run it with ``container_port=HTTPD_PORT`` and ``init=True`` (the default) so it stops in ~0.2 s.

Helpers
-------
:func:`unique_name`, :func:`write_httpd_context`, :func:`build_httpd_app`, :func:`run_container`,
:func:`http_get`, :func:`wait_http`, :func:`ensure_engines` (outside pytest fixtures, e.g. in bench scripts), :func:`make_runtime`
(a runtime for an engine name, for your own fixtures),
:func:`remove_labelled` (teardown by label), :func:`run_sync` (run a coroutine from sync code, e.g. in a
session fixture). Runtime objects hold no event-loop state, so one may be used from several loops.

Environment: the session exports ``CONTAINERS_CONF`` (``ci/containers.conf``) and
``CONTAINERS_REGISTRIES_CONF`` (a copy of ``ci/registries.conf``: Docker Hub names come from the local registry
mirror on 127.0.0.1:5000, which serves the official-image stand-ins ``postgres:16``, ``postgres:15``,
``mysql:8.4``, ``mariadb:11``, ``redis:7``) for every podman process it starts. Default sockets: ``unix:///var/run/docker.sock`` and ``unix:///run/podman/podman.sock`` (override with
``RIVETR_DOCKER_SOCKET`` / ``RIVETR_PODMAN_SOCKET``, read by ``scripts/engines.sh``).

Everything a session creates carries ``rivetr.test=<session id>``; a session finalizer removes what tests
left behind. Names are unique per session, so concurrent sessions on one machine do not collide.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Shared with the runtime contract suite (rivetr_core.testing.contract): one session id, one label scheme.
from rivetr_core.testing.helpers import (
    CASE_LABEL,
    ENV_CGI,
    HTTPD_PORT,
    SESSION_ID,
    SESSION_LABEL,
    http_get,
    remove_labelled,
    run_container,
    run_sync,
    unique_name,
    wait_http,
)
from rivetr_core.testing.helpers import write_httpd_context as _write_httpd_context

if TYPE_CHECKING:
    from rivetr_runtime_docker.runtime import DockerRuntime
    from rivetr_runtime_podman.runtime import PodmanRuntime

    from rivetr_core.contract import ContainerRuntime

__all__ = [
    "CASE_LABEL",
    "ENV_CGI",
    "HTTPD_PORT",
    "SESSION_ID",
    "SESSION_LABEL",
    "http_get",
    "remove_labelled",
    "run_container",
    "run_sync",
    "unique_name",
    "wait_http",
]

ROOT = Path(__file__).resolve().parents[2]
ENGINES_SH = ROOT / "scripts" / "engines.sh"
BASE_IMAGE = "localhost/rivetr-test/busybox:latest"
ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class EngineEnv:
    docker_socket: str
    podman_socket: str
    containers_conf: str
    base_image: str
    # The podman registries.conf naming the local Docker Hub mirror, and that registry's host:port.
    registries_conf: str = ""
    registry: str = ""

    def socket(self, engine: str) -> str:
        return self.docker_socket if engine == "docker" else self.podman_socket


# ------------------------------------------------------------------------------------------------- helpers
def write_httpd_context(
    directory: Path,
    *,
    files: dict[str, str] | None = None,
    extra_lines: list[str] | None = None,
    base_image: str = BASE_IMAGE,
) -> Path:
    """Write a build context for a busybox httpd app into ``directory`` and return it.

    ``files`` maps paths under ``/www`` to content (default: ``index.html`` and the ``cgi-bin/env`` CGI);
    ``extra_lines`` are Dockerfile instructions inserted before ``CMD``."""
    return _write_httpd_context(directory, base_image=base_image, files=files, extra_lines=extra_lines)


async def build_httpd_app(
    runtime: ContainerRuntime,
    tag: str,
    context_dir: Path,
    *,
    labels: dict[str, str] | None = None,
    **context_kwargs: Any,
) -> list[str]:
    """Write an httpd app context (see :func:`write_httpd_context`) and build it as ``tag``; returns the
    build log lines."""
    from rivetr_core.contract import BuildSpec

    write_httpd_context(context_dir, **context_kwargs)
    spec = BuildSpec(context_dir=context_dir, tag=tag, labels={SESSION_LABEL: SESSION_ID, **(labels or {})})
    return [line async for line in runtime.build(spec)]


def make_runtime(engine: str, env: EngineEnv) -> DockerRuntime:
    """A runtime object for ``engine`` on the session's sockets (not closed for you)."""
    if engine == "docker":
        from rivetr_runtime_docker.runtime import DockerRuntime

        return DockerRuntime(env.docker_socket)
    from rivetr_runtime_podman.runtime import PodmanRuntime

    return PodmanRuntime(env.podman_socket, containers_conf=env.containers_conf)


# ----------------------------------------------------------------------------------------------- fixtures
_ENSURED: dict[str, dict[str, str]] = {}


def ensure_engine(engine: str = "all") -> dict[str, str]:
    """Run ``scripts/engines.sh ensure <engine>`` once per process (it installs, starts and builds the base
    image, the local registry and the official-image stand-ins as needed) and return its KEY=VALUE output
    (DOCKER_SOCKET, PODMAN_SOCKET, CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF, BASE_IMAGE, REGISTRY). An engine that cannot run fails the test: a missing engine is a broken setup, not a skip."""
    if engine not in _ENSURED:
        try:
            result = subprocess.run(
                [str(ENGINES_SH), "ensure", engine], capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"scripts/engines.sh ensure {engine} timed out: {exc}")
        if result.returncode != 0:
            pytest.fail(
                f"scripts/engines.sh ensure {engine} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
            )
        _ENSURED[engine] = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        # Podman processes this session starts (a service started on demand, the CLI) need the same quirks,
        # and the same Docker Hub mirror (the local registry serving the official-image stand-ins).
        os.environ["CONTAINERS_CONF"] = _ENSURED[engine]["CONTAINERS_CONF"]
        os.environ["CONTAINERS_REGISTRIES_CONF"] = _ENSURED[engine]["CONTAINERS_REGISTRIES_CONF"]
    return _ENSURED[engine]


def ensure_engines() -> EngineEnv:
    """Both engines running (:func:`ensure_engine` ``("all")``), as an :class:`EngineEnv`."""
    values = ensure_engine("all")
    return EngineEnv(
        docker_socket=values["DOCKER_SOCKET"],
        podman_socket=values["PODMAN_SOCKET"],
        containers_conf=values["CONTAINERS_CONF"],
        base_image=values["BASE_IMAGE"],
        registries_conf=values["CONTAINERS_REGISTRIES_CONF"],
        registry=values["REGISTRY"],
    )


@pytest.fixture(scope="session")
def engine_env() -> Iterator[EngineEnv]:
    env = ensure_engines()
    yield env

    async def sweep() -> None:
        for engine in ENGINES:
            runtime = make_runtime(engine, env)
            try:
                await remove_labelled(runtime, {SESSION_LABEL: SESSION_ID})
            finally:
                await runtime.close()

    run_sync(sweep())


@pytest.fixture
def test_labels() -> dict[str, str]:
    return {SESSION_LABEL: SESSION_ID, CASE_LABEL: uuid.uuid4().hex[:12]}


async def _runtime_fixture(engine: str, env: EngineEnv, labels: dict[str, str]) -> AsyncIterator[Any]:
    runtime = make_runtime(engine, env)
    try:
        yield runtime
    finally:
        await remove_labelled(runtime, {CASE_LABEL: labels[CASE_LABEL]})
        await runtime.close()


@pytest.fixture
async def docker_runtime(engine_env: EngineEnv, test_labels: dict[str, str]) -> AsyncIterator[DockerRuntime]:
    async for runtime in _runtime_fixture("docker", engine_env, test_labels):
        yield runtime


@pytest.fixture
async def podman_runtime(engine_env: EngineEnv, test_labels: dict[str, str]) -> AsyncIterator[PodmanRuntime]:
    async for runtime in _runtime_fixture("podman", engine_env, test_labels):
        yield runtime


@pytest.fixture(params=ENGINES)
def runtime(request: pytest.FixtureRequest) -> DockerRuntime:
    """Each test using it runs once per engine (ids ``[docker]`` / ``[podman]``)."""
    return request.getfixturevalue(f"{request.param}_runtime")


def _session_httpd_image(
    engine: str, env: EngineEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tag = f"localhost/rivetr-test/httpd:{SESSION_ID}"

    async def build() -> None:
        runtime = make_runtime(engine, env)
        try:
            await build_httpd_app(runtime, tag, tmp_path_factory.mktemp(f"httpd-{engine}"))
        finally:
            await runtime.close()

    run_sync(build())
    yield tag
    # removed by engine_env's session sweep (it carries the session label), after every container using it


@pytest.fixture(scope="session")
def docker_httpd_image(engine_env: EngineEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _session_httpd_image("docker", engine_env, tmp_path_factory)


@pytest.fixture(scope="session")
def podman_httpd_image(engine_env: EngineEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _session_httpd_image("podman", engine_env, tmp_path_factory)


@pytest.fixture
def httpd_image(request: pytest.FixtureRequest, runtime: DockerRuntime) -> str:
    """The session's httpd app image on the engine of ``runtime``."""
    return request.getfixturevalue(f"{runtime.name}_httpd_image")


# ------------------------------------------------------------------------------------------------- markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the engines they touch, so ``-m docker`` / ``-m "not podman"`` select correctly."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("runtime") if callspec is not None else None
        for engine in ENGINES:
            uses = any(name.startswith(f"{engine}_") for name in names) or param == engine
            if uses and not item.get_closest_marker(engine):
                item.add_marker(getattr(pytest.mark, engine))
