"""The ContainerRuntime contract suite, as a pytest plugin (opt-in).

Enable the plugin in the **root** ``conftest.py`` of your runtime package (pytest only honours
``pytest_plugins`` there; being listed also gives the suite pytest's assertion messages)::

    pytest_plugins = ["rivetr_core.testing.contract"]

then, in a test module, provide two fixtures (module scope or wider) and subclass :class:`RuntimeContract`::

    import pytest
    from rivetr_core.testing.contract import RuntimeContract
    from my_runtime import MyRuntime

    @pytest.fixture(scope="session")
    def rivetr_runtime_factory():
        # A fresh runtime object per call; the suite closes each one it makes.
        return lambda: MyRuntime("unix:///run/my-engine.sock")

    @pytest.fixture(scope="session")
    def rivetr_base_image():
        # A busybox image already on the engine (the suite pulls nothing): sh, httpd, sleep, cat, stty.
        return "localhost/my-tests/busybox:latest"

    class TestMyRuntimeContract(RuntimeContract):
        pass

Fixtures the plugin provides (override any of them in your class or conftest):

``rivetr_runtime_factory`` — **required** (class scope or wider): a zero-argument callable returning a new
runtime object. Objects it makes are used from different event loops, one each.
``rivetr_base_image`` — **required** (class scope or wider): a local busybox image name.
``rivetr_runtime`` (function) — ``factory()``; at teardown removes what the test labelled and closes it.
``rivetr_test_labels`` (function) — ``{"rivetr.test": <session>, "rivetr.test.case": <unique>}``; the suite
puts them on everything it creates so teardown finds it.
``rivetr_httpd_image`` (class) — a busybox httpd app built once per class: ``/index.html`` says
"hello from rivetr", ``/cgi-bin/env`` prints the environment; port 8000.
``rivetr_app`` (class) — one running container of it (env, labels, limits) shared by the read-only tests.
``rivetr_pull_image`` (class) — a fully qualified image the engine can pull from a registry (e.g.
``docker.io/library/redis:7`` through a local mirror), with ``sh`` and ``sleep``; the default None skips the
pull test (the suite pulls nothing else). ``rivetr_missing_image`` (class) — a reference no registry has.

Hooks for checks only an engine's raw view can make (override them in your class; the defaults skip those
assertions): :meth:`RuntimeContract.raw_inspect` (Docker-API-shaped inspect of a container or image),
:meth:`RuntimeContract.build_steps` (step numbers parsed from build log lines) and
:attr:`RuntimeContract.stream_thread_name` (the name of the thread that follows a log, when the runtime uses
one). An ``ExecSession`` with an ``exit_code()`` coroutine has it checked too.

The optional :class:`~rivetr_core.contract.ServiceRuntime` methods (networks with name resolution, pull,
streamed execs) are tested only on a runtime offering them (the others skip those tests).

Tests that need a real engine (they run Dockerfiles, shell commands, /proc, cgroups) carry the marker
``rivetr_real_engine``; a class with ``real_engine = False`` skips them. That is how the suite runs against
:class:`rivetr_core.testing.FakeRuntime` (tests/test_fake_runtime.py): what the fake cannot do is skipped,
the rest of the contract (errors, ports, labels, limits, stop/remove semantics, listing, pruning by label)
holds for it as for a real engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import pytest_asyncio

from rivetr_core.contract import (
    BuildFailed,
    BuildSpec,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    DiskUsageRuntime,
    ExecFailed,
    ExecSession,
    HealthcheckConfig,
    ImageNotFound,
    Mount,
    PortInUse,
    PortPublish,
    RivetrError,
    RunSpec,
    ServiceRuntime,
    VolumeDataRuntime,
)
from rivetr_core.testing.helpers import (
    CASE_LABEL,
    HTTPD_PORT,
    SESSION_ID,
    SESSION_LABEL,
    http_get,
    remove_labelled,
    run_container,
    run_sync,
    unique_name,
    wait_http,
    write_httpd_context,
)

MiB = 1024 * 1024
RuntimeFactory = Callable[[], ContainerRuntime]

#: Marks a contract test that needs a real engine; skipped in a class with ``real_engine = False``.
needs_real_engine = pytest.mark.rivetr_real_engine


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rivetr_real_engine: a runtime contract test that needs a real container engine"
    )


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="class")
def rivetr_runtime_factory() -> RuntimeFactory:
    raise pytest.UsageError(
        "the runtime contract needs a `rivetr_runtime_factory` fixture (class scope) returning a callable that "
        "makes your runtime: override it in your RuntimeContract subclass (see rivetr_core.testing.contract)"
    )


@pytest.fixture(scope="class")
def rivetr_base_image() -> str:
    raise pytest.UsageError(
        "the runtime contract needs a `rivetr_base_image` fixture (class scope): the name of a busybox image "
        "present on your engine (see rivetr_core.testing.contract)"
    )


@pytest.fixture(scope="class")
def rivetr_pull_image() -> str | None:
    return None


@pytest.fixture(scope="class")
def rivetr_missing_image() -> str:
    return f"docker.io/library/rivetr-contract-missing-{SESSION_ID}:1"


@pytest.fixture
def rivetr_test_labels() -> dict[str, str]:
    return {SESSION_LABEL: SESSION_ID, CASE_LABEL: uuid.uuid4().hex[:12]}


@pytest_asyncio.fixture
async def rivetr_runtime(
    rivetr_runtime_factory: RuntimeFactory, rivetr_test_labels: dict[str, str]
) -> AsyncIterator[ContainerRuntime]:
    runtime = rivetr_runtime_factory()
    try:
        yield runtime
    finally:
        await remove_labelled(runtime, {CASE_LABEL: rivetr_test_labels[CASE_LABEL]})
        await runtime.close()


@pytest.fixture(scope="class")
def rivetr_httpd_image(
    rivetr_runtime_factory: RuntimeFactory, rivetr_base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    tag = f"localhost/rivetr-test/httpd-contract:{SESSION_ID}-{uuid.uuid4().hex[:6]}"
    labels = {SESSION_LABEL: SESSION_ID, CASE_LABEL: f"httpd-{uuid.uuid4().hex[:12]}"}
    context = write_httpd_context(tmp_path_factory.mktemp("httpd"), base_image=rivetr_base_image)

    async def build() -> None:
        runtime = rivetr_runtime_factory()
        try:
            async for _ in runtime.build(BuildSpec(context_dir=context, tag=tag, labels=labels)):
                pass
        finally:
            await runtime.close()

    run_sync(build())
    yield tag

    async def remove() -> None:
        runtime = rivetr_runtime_factory()
        try:
            await remove_labelled(runtime, labels)
        finally:
            await runtime.close()

    run_sync(remove())


@pytest.fixture(scope="class")
def rivetr_app(rivetr_runtime_factory: RuntimeFactory, rivetr_httpd_image: str) -> Iterator[ContainerInfo]:
    """One running httpd container with env, labels and limits, shared by the read-only tests."""
    labels = {SESSION_LABEL: SESSION_ID, CASE_LABEL: f"app-{uuid.uuid4().hex[:12]}", "rivetr.app": "shared"}
    spec = RunSpec(
        image=rivetr_httpd_image,
        name=unique_name("app"),
        env={"RIVETR_GREETING": "hello-env", "SECRET_TOKEN": "s3cr3t"},
        labels=labels,
        container_port=HTTPD_PORT,
        cpu_limit=0.5,
        memory_limit=64 * MiB,
        pids_limit=64,
        restart_policy="on-failure",
    )

    async def start() -> ContainerInfo:
        runtime = rivetr_runtime_factory()
        try:
            info = await runtime.run(spec)
            await wait_http(info.host_port or 0)
            return info
        finally:
            await runtime.close()

    info = run_sync(start())
    yield info

    async def stop() -> None:
        runtime = rivetr_runtime_factory()
        try:
            await runtime.remove(info.id, force=True)
        finally:
            await runtime.close()

    run_sync(stop())


def _service_runtime(runtime: ContainerRuntime) -> ServiceRuntime:
    if not isinstance(runtime, ServiceRuntime):
        pytest.skip(f"{runtime.name} does not offer the ServiceRuntime methods (managed services)")
    return runtime


async def _random_chunks(total: int, digest: Any) -> AsyncIterator[bytes]:
    """``total`` random bytes in chunks of uneven sizes (as a download delivers them), fed to ``digest``."""
    block = os.urandom(1024 * 1024 + 7)
    sizes = [1, 65536, 1024 * 1024 + 7, 4096, 300_001]
    sent = 0
    for i in itertools.count():
        if sent >= total:
            return
        chunk = block[: min(sizes[i % len(sizes)], total - sent)]
        digest.update(chunk)
        sent += len(chunk)
        yield chunk


async def _read_until(session: ExecSession, needle: bytes, timeout: float = 10.0) -> bytes:
    buffer = b""
    deadline = time.monotonic() + timeout
    while needle not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not seen in interactive output: {buffer[-300:]!r}")
        chunk = await asyncio.wait_for(session.read(), remaining)
        if not chunk:
            raise AssertionError(f"session ended before {needle!r}: {buffer[-300:]!r}")
        buffer += chunk
    return buffer


# --------------------------------------------------------------------------------------------------- suite
class RuntimeContract:
    """The behaviour core relies on from every ContainerRuntime. Subclass it (see the module docstring)."""

    # Every test here is a coroutine: marked for pytest-asyncio, so the suite runs in its strict mode too.
    pytestmark = [pytest.mark.asyncio]

    #: False: skip the tests marked ``rivetr_real_engine`` (for an in-memory runtime such as FakeRuntime).
    real_engine: ClassVar[bool] = True
    #: Name of the thread a followed log runs in, when the runtime uses one (checked to end on cancel).
    stream_thread_name: ClassVar[str | None] = None
    #: Interfaces the engine gives a container on user networks beyond one per network (a swarm task on
    #: overlays has one on docker_gwbridge, its way out).
    extra_interfaces: ClassVar[int] = 0

    async def raw_inspect(
        self, runtime: ContainerRuntime, kind: Literal["container", "image"], ref: str
    ) -> dict[str, Any] | None:
        """The engine's own inspect document (Docker API shape: ``HostConfig``, ``Config.Labels``, ``Id``)
        for checks the protocol's types do not carry; None skips them."""
        return None

    def build_steps(self, runtime: ContainerRuntime, lines: list[str]) -> list[tuple[int, int]] | None:
        """``(step, of)`` pairs parsed from build log lines, when the runtime reports progress; None skips."""
        return None

    @pytest.fixture(autouse=True)
    def _rivetr_needs_real_engine(self, request: pytest.FixtureRequest) -> None:
        if not self.real_engine and request.node.get_closest_marker("rivetr_real_engine"):
            pytest.skip("needs a real container engine")

    # -------------------------------------------------------------------------------------------- engine
    async def test_ping_and_info(self, rivetr_runtime: ContainerRuntime) -> None:
        runtime = rivetr_runtime
        assert isinstance(runtime, ContainerRuntime)
        assert isinstance(runtime.name, str) and runtime.name
        assert await runtime.ping() is True
        info = await runtime.info()
        assert info.name == runtime.name and info.version and info.api_version

    # --------------------------------------------------------------------------------------------- build
    @needs_real_engine
    async def test_build_streams_lines_while_building(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        runtime = rivetr_runtime
        (tmp_path / "Dockerfile").write_text(
            f"FROM {rivetr_base_image}\nRUN echo begin-marker && sleep 2 && echo end-marker\n"
        )
        tag = f"localhost/rivetr/stream-{SESSION_ID}:1"
        spec = BuildSpec(context_dir=tmp_path, tag=tag, labels=rivetr_test_labels, no_cache=True)
        arrivals: dict[str, float] = {}
        lines: list[str] = []
        async for line in runtime.build(spec):
            lines.append(line)
            for marker in ("begin-marker", "end-marker"):
                if line.strip() == marker:
                    arrivals.setdefault(marker, time.monotonic())
        finished = time.monotonic()
        assert "begin-marker" in arrivals, lines
        # The first marker arrived while the RUN step was still sleeping, not in one batch at the end.
        assert finished - arrivals["begin-marker"] >= 1.5, lines
        assert arrivals["end-marker"] - arrivals["begin-marker"] >= 1.5
        steps = self.build_steps(runtime, lines)
        if steps is not None:
            assert steps and steps[0][0] == 1 and steps[-1][0] == steps[-1][1] >= 2, lines
        assert await runtime.image_exists(tag)
        assert tag in await runtime.list_images(labels=rivetr_test_labels)
        await runtime.remove_image(tag, force=True)
        assert not await runtime.image_exists(tag)

    @needs_real_engine
    async def test_build_args_labels_and_limits(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        runtime = rivetr_runtime
        (tmp_path / "Dockerfile").write_text(
            f'ARG BASE={rivetr_base_image}\nFROM $BASE\nARG GREETING\nRUN echo "greeting=$GREETING"\n'
        )
        tag = f"localhost/rivetr/args-{SESSION_ID}:1"
        spec = BuildSpec(
            context_dir=tmp_path,
            tag=tag,
            build_args={"GREETING": "from-build-arg"},
            labels={**rivetr_test_labels, "rivetr.deployment": "d1"},
            cpu_limit=1.0,
            memory_limit=256 * MiB,
            no_cache=True,
        )
        lines = [line async for line in runtime.build(spec)]
        assert "greeting=from-build-arg" in lines
        assert await runtime.list_images(labels={"rivetr.deployment": "d1", **rivetr_test_labels}) == [tag]
        tricky = {**rivetr_test_labels, "rivetr.note": 'a "quoted" $HOME \\ value', "rivetr.empty": ""}
        tricky_tag = f"localhost/rivetr/labels-{SESSION_ID}:1"
        await runtime.remove_image(tricky_tag)
        async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tricky_tag, labels=tricky)):
            pass
        raw = await self.raw_inspect(runtime, "image", tricky_tag)
        if raw is not None:
            assert {k: raw["Config"]["Labels"].get(k) for k in tricky} == tricky

    @needs_real_engine
    async def test_image_usage_lists_labelled_images_with_their_sizes(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        """Optional :class:`DiskUsageRuntime` (the disk-usage report): ``image_usage(labels)`` lists exactly the
        images carrying every label, each with its tags, all its labels and a size (the base image's bytes at
        least); nothing for labels no image has; never every image of the engine (empty labels refused)."""
        runtime = rivetr_runtime
        if not isinstance(runtime, DiskUsageRuntime):
            pytest.skip(f"{runtime.name} does not offer image_usage (the disk-usage report)")
        (tmp_path / "Dockerfile").write_text(f'FROM {rivetr_base_image}\nCMD ["true"]\n')
        tag = f"localhost/rivetr/usage-{SESSION_ID}:1"
        labels = {**rivetr_test_labels, "rivetr.app": "usage-app"}
        async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tag, labels=labels)):
            pass
        listed_size = next(
            (i.size for i in await runtime.image_usage({"rivetr.app": "usage-app"}) if tag in i.tags), None
        )
        assert listed_size is not None, "a single label filter did not find the image"
        [usage] = await runtime.image_usage(labels)
        assert tag in usage.tags and usage.id
        assert {k: usage.labels.get(k) for k in labels} == labels
        assert usage.size == listed_size and usage.size > 100_000  # busybox alone is ~1 MB
        assert await runtime.image_usage({**labels, "rivetr.app": "another-app"}) == []
        with pytest.raises(ValueError):
            await runtime.image_usage({})
        await runtime.remove_image(tag, force=True)
        assert await runtime.image_usage(labels) == []

    @needs_real_engine
    async def test_build_failure_raises_with_log_tail(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        (tmp_path / "Dockerfile").write_text(f"FROM {rivetr_base_image}\nRUN echo about-to-fail && exit 3\n")
        spec = BuildSpec(
            context_dir=tmp_path, tag=f"localhost/rivetr/fail-{SESSION_ID}:1", labels=rivetr_test_labels
        )
        seen: list[str] = []
        with pytest.raises(BuildFailed) as caught:
            async for line in rivetr_runtime.build(spec):
                seen.append(line)
        error = caught.value
        assert "about-to-fail" in seen
        assert "about-to-fail" in error.log_tail
        assert error.exit_code == 3
        assert "exit 3" in error.message

    @needs_real_engine
    async def test_bad_dockerfile_raises_build_failed(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        (tmp_path / "Dockerfile").write_text(f"FROM {rivetr_base_image}\nNOTANINSTRUCTION foo\n")
        spec = BuildSpec(
            context_dir=tmp_path, tag=f"localhost/rivetr/bad-{SESSION_ID}:1", labels=rivetr_test_labels
        )
        with pytest.raises(BuildFailed) as caught:
            async for _ in rivetr_runtime.build(spec):
                pass
        assert caught.value.log_tail, "the engine's complaint must be in the log tail"

    @needs_real_engine
    async def test_missing_base_image_fails_fast_naming_it(
        self, rivetr_runtime: ContainerRuntime, tmp_path: Path, rivetr_test_labels: dict[str, str]
    ) -> None:
        missing = f"localhost/rivetr-test/does-not-exist-{SESSION_ID}:1"
        (tmp_path / "Dockerfile").write_text(f"FROM {missing} AS build\nFROM build\nRUN true\n")
        spec = BuildSpec(
            context_dir=tmp_path, tag=f"localhost/rivetr/nobase-{SESSION_ID}:1", labels=rivetr_test_labels
        )
        started = time.monotonic()
        with pytest.raises(ImageNotFound) as caught:
            async for _ in rivetr_runtime.build(spec):
                pass
        assert time.monotonic() - started < 5
        assert missing in caught.value.message

    async def test_run_missing_image(
        self, rivetr_runtime: ContainerRuntime, rivetr_test_labels: dict[str, str]
    ) -> None:
        with pytest.raises(ImageNotFound):
            await run_container(rivetr_runtime, f"localhost/rivetr/nope-{SESSION_ID}:1", rivetr_test_labels)
        assert await rivetr_runtime.list(labels=rivetr_test_labels) == []

    # ---------------------------------------------------------------------- shared running container
    async def test_http_port_and_inspect(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        runtime, app = rivetr_runtime, rivetr_app
        assert app.running and app.status == "running" and app.exit_code is None
        assert app.host_port and app.host_port != HTTPD_PORT
        status, body = await http_get(app.host_port)
        assert (status, body) == (200, "hello from rivetr\n")
        info = await runtime.inspect(app.id)
        assert info.limits == {"cpu": 0.5, "memory": 64 * MiB, "pids": 64}
        assert info.labels["rivetr.app"] == "shared"
        assert info.host_port == app.host_port and info.started_at and info.created_at
        assert info.health is None
        raw = await self.raw_inspect(runtime, "container", app.id)
        if raw is not None:
            assert raw["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
            assert raw["HostConfig"]["Init"] is True
            bindings = raw["HostConfig"]["PortBindings"][f"{HTTPD_PORT}/tcp"]
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings)

    @needs_real_engine
    async def test_unpublished_port_reached_at_container_address(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """publish=False: no host port, and the app answers at ``upstream`` (the container's bridge address),
        which is what the pipeline routes to."""
        runtime = rivetr_runtime
        info = await run_container(
            runtime,
            rivetr_httpd_image,
            rivetr_test_labels,
            "direct",
            container_port=HTTPD_PORT,
            publish=False,
        )
        assert info.host_port is None and info.address and info.upstream == info.address
        host, _, port = info.address.rpartition(":")
        assert int(port) == HTTPD_PORT and not host.startswith("127.")
        assert await wait_http(HTTPD_PORT, host=host) == (200, "hello from rivetr\n")
        raw = await self.raw_inspect(runtime, "container", info.id)
        if raw is not None:
            assert not any(
                (raw["HostConfig"].get("PortBindings") or {}).values()
            )  # podman: {"8000/tcp": None}
        assert (await runtime.inspect(info.id)).upstream == info.address

    @needs_real_engine
    async def test_env_visible_inside(self, rivetr_app: ContainerInfo) -> None:
        status, body = await http_get(rivetr_app.host_port or 0, "/cgi-bin/env")
        assert status == 200
        assert "RIVETR_GREETING=hello-env" in body.splitlines()

    async def test_list_by_label(self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo) -> None:
        found = await rivetr_runtime.list(
            labels={"rivetr.app": "shared", CASE_LABEL: rivetr_app.labels[CASE_LABEL]}
        )
        assert [c.id for c in found] == [rivetr_app.id]
        assert found[0].host_port == rivetr_app.host_port
        assert await rivetr_runtime.list(labels={"rivetr.app": f"none-{SESSION_ID}"}) == []

    @needs_real_engine
    async def test_logs_tail_and_follow(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        runtime, app = rivetr_runtime, rivetr_app
        # PID 1 is the init process: its stdout/stderr are the container's log streams.
        await runtime.exec(
            app.id, ["sh", "-c", "echo tail-probe-out > /proc/1/fd/1; echo tail-probe-err > /proc/1/fd/2"]
        )
        for _ in range(50):
            lines = [line async for line in runtime.logs(app.id, tail=5)]
            if any("tail-probe-err" in line.line for line in lines):
                break
            await asyncio.sleep(0.1)
        assert 0 < len(lines) <= 5
        streams = {line.line: line.stream for line in lines}
        assert streams.get("tail-probe-out") == "stdout" and streams.get("tail-probe-err") == "stderr", lines
        assert all(line.ts is not None for line in lines)

        async def follow_until(marker: str) -> list[str]:
            seen: list[str] = []
            async for line in runtime.logs(app.id, tail=0, follow=True):
                seen.append(line.line)
                if marker in line.line:
                    return seen
            raise AssertionError(f"follow ended without {marker}: {seen}")

        follower = asyncio.create_task(follow_until("follow-probe"))
        await asyncio.sleep(0.5)
        assert not follower.done()
        await runtime.exec(app.id, ["sh", "-c", "echo follow-probe > /proc/1/fd/1"])
        seen = await asyncio.wait_for(follower, 10)
        assert not any("tail-probe" in line for line in seen)  # tail=0: only new lines

    @needs_real_engine
    async def test_cancelled_follow_ends_its_thread(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        runtime, app = rivetr_runtime, rivetr_app

        def stream_threads() -> int:
            return sum(1 for t in threading.enumerate() if t.name == self.stream_thread_name)

        before = stream_threads()
        got_line = asyncio.Event()

        async def follow() -> None:
            async for _ in runtime.logs(app.id, tail=1, follow=True):
                got_line.set()

        # What a closed browser WebSocket does to the task streaming a log.
        task = asyncio.create_task(follow())
        await runtime.exec(app.id, ["sh", "-c", "echo cancel-probe > /proc/1/fd/1"])
        await asyncio.wait_for(got_line.wait(), 10)
        if self.stream_thread_name:
            assert stream_threads() == before + 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(40):
            if stream_threads() == before:
                break
            await asyncio.sleep(0.05)
        assert stream_threads() == before, "the reader thread must stop with its consumer"

    @needs_real_engine
    async def test_exec(self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo) -> None:
        runtime, app = rivetr_runtime, rivetr_app
        result = await runtime.exec(app.id, ["cat", "/www/index.html"])
        assert (result.exit_code, result.output) == (0, "hello from rivetr\n")
        result = await runtime.exec(
            app.id, ["sh", "-c", 'echo "$EXTRA"; echo oops >&2; exit 4'], env={"EXTRA": "x1"}
        )
        assert result.exit_code == 4
        assert sorted(result.output.split()) == ["oops", "x1"]  # two pipes: their order may vary
        result = await runtime.exec(app.id, ["definitely-not-a-command"])
        assert result.exit_code in (126, 127)

    @needs_real_engine
    async def test_named_volume_outlives_its_containers(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """``RunSpec.mounts``: a named volume is created (with its labels) at the first start, keeps what a
        container wrote for the next container, is listed by label, cannot be removed while mounted."""
        runtime = rivetr_runtime
        name = unique_name("vol")
        labels = {**rivetr_test_labels, "rivetr.volume": "data"}
        mount = Mount(source=name, target="/data", kind="volume", labels=labels)
        try:
            assert await runtime.volume_sizes([name]) == {name: 0}  # not created yet
            first = await runtime.run(
                RunSpec(
                    image=rivetr_httpd_image, name=unique_name("w"), labels=rivetr_test_labels, mounts=[mount]
                )
            )
            written = await runtime.exec(first.id, ["sh", "-c", "echo kept > /data/file && sync"])
            assert written.exit_code == 0, written.output
            await runtime.remove(first.id, force=True)
            assert await runtime.list_volumes(labels) == [name]
            second = await runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("r"),
                    labels=rivetr_test_labels,
                    mounts=[Mount(source=name, target="/data", kind="volume", read_only=True, labels=labels)],
                )
            )
            read = await runtime.exec(second.id, ["cat", "/data/file"])
            assert (read.exit_code, read.output) == (0, "kept\n")
            refused = await runtime.exec(second.id, ["sh", "-c", "echo x > /data/other"])
            assert refused.exit_code != 0  # read-only mount
            size = (await runtime.volume_sizes([name]))[name]
            assert size is None or size > 0
            with pytest.raises(RivetrError):
                await runtime.remove_volume(name)  # mounted by a container
            await runtime.remove(second.id, force=True)
            await runtime.remove_volume(name)
            await runtime.remove_volume(name)  # a missing volume is not an error
            assert await runtime.list_volumes(labels) == []
        finally:
            for container in await runtime.list(labels=rivetr_test_labels):
                await runtime.remove(container.id, force=True)
            with contextlib.suppress(RivetrError):
                await runtime.remove_volume(name)

    @needs_real_engine
    async def test_volume_data_on_the_host_pause_and_start(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """Optional :class:`VolumeDataRuntime` (volume backups): ``volume_path`` is the host directory a
        container sees at the mount (None for a missing volume unless ``create``), ``pause``/``unpause``
        freeze and thaw a container, ``start`` brings a stopped one back with its mounts."""
        runtime = rivetr_runtime
        if not isinstance(runtime, VolumeDataRuntime):
            pytest.skip(f"{runtime.name} does not offer volume_path/pause/unpause/start (volume backups)")
        name = unique_name("vold")
        labels = {**rivetr_test_labels, "rivetr.volume": "data"}
        try:
            assert await runtime.volume_path(name) is None
            path = await runtime.volume_path(name, labels, create=True)
            assert path is not None and Path(path).is_dir()
            assert await runtime.list_volumes(labels) == [name]
            Path(path, "from-host").write_text("written on the host\n")
            info = await runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("p"),
                    labels=rivetr_test_labels,
                    mounts=[Mount(source=name, target="/data", kind="volume", labels=labels)],
                )
            )
            read = await runtime.exec(info.id, ["cat", "/data/from-host"])
            assert (read.exit_code, read.output) == (0, "written on the host\n")
            await runtime.pause(info.id)
            assert (await runtime.inspect(info.id)).status == "paused"
            await runtime.unpause(info.id)
            await runtime.unpause(info.id)  # not paused: no error
            assert (await runtime.inspect(info.id)).status == "running"
            await runtime.stop(info.id, timeout=1)
            assert not (await runtime.inspect(info.id)).running
            await runtime.start(info.id)
            await runtime.start(info.id)  # running: no error
            again = await runtime.exec(info.id, ["cat", "/data/from-host"])
            assert again.exit_code == 0 and (await runtime.inspect(info.id)).running
        finally:
            for container in await runtime.list(labels=rivetr_test_labels):
                await runtime.remove(container.id, force=True)
            with contextlib.suppress(RivetrError):
                await runtime.remove_volume(name)

    @needs_real_engine
    async def test_exec_interactive(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        session = await rivetr_runtime.exec_interactive(rivetr_app.id, ["/bin/sh"], rows=30, cols=100)
        assert isinstance(session, ExecSession)
        try:
            await session.write(b"echo hi-$((40+2))\n")
            await _read_until(session, b"hi-42")
            await session.resize(40, 132)
            await session.write(b"stty size\n")
            await _read_until(session, b"40 132")
            await session.write(b"exit 5\n")
            deadline = time.monotonic() + 10
            while await asyncio.wait_for(session.read(), max(0.1, deadline - time.monotonic())):
                pass
            assert await session.read() == b""
            exit_code = getattr(session, "exit_code", None)  # optional: the terminal shows it when offered
            if exit_code is not None:
                assert await exit_code() == 5
        finally:
            await session.close()

    @needs_real_engine
    async def test_stats_single(self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo) -> None:
        for _ in range(3):
            await http_get(rivetr_app.host_port or 0)
        stats = await rivetr_runtime.stats(rivetr_app.id)
        assert stats.container_id == rivetr_app.id
        assert 0 < stats.memory_used < 64 * MiB
        assert stats.memory_limit == 64 * MiB
        assert stats.net_rx > 0 and stats.net_tx > 0
        assert 0 <= stats.cpu_percent <= 100 * 2

    # ---------------------------------------------------------------------------- own containers
    @needs_real_engine
    async def test_cpu_percent_of_busy_container(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = rivetr_runtime
        info = await run_container(
            runtime,
            rivetr_httpd_image,
            rivetr_test_labels,
            "busy",
            command=["sh", "-c", "while :; do :; done"],
            cpu_limit=0.5,
        )
        await asyncio.sleep(1.0)
        samples = [(await runtime.stats(info.id)).cpu_percent for _ in range(3)]
        # Capped at half a CPU: clearly busy, never above the cap (slack for sampling and a loaded machine).
        assert max(samples) >= 10, samples
        assert all(0 <= sample <= 75 for sample in samples), samples

    async def test_stats_many_in_parallel(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = rivetr_runtime
        infos = await asyncio.gather(
            *(
                run_container(
                    runtime, rivetr_httpd_image, rivetr_test_labels, f"s{i}", command=["sleep", "300"]
                )
                for i in range(10)
            )
        )
        ids = [info.id for info in infos]
        started = time.monotonic()
        stats = await runtime.stats_many([*ids, "0" * 64])
        elapsed = time.monotonic() - started
        assert set(stats) == set(ids)  # the missing one is left out
        assert all(s.memory_used > 0 for s in stats.values())
        # In parallel: dockerd needs ~1 s per container sequentially, podman two samples 0.25 s apart.
        assert elapsed < 4, elapsed

    async def test_stop_fast_with_init_then_remove(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = rivetr_runtime
        info = await run_container(
            runtime, rivetr_httpd_image, rivetr_test_labels, "stop", container_port=HTTPD_PORT, init=True
        )
        started = time.monotonic()
        await runtime.stop(info.id, timeout=10)
        assert time.monotonic() - started < 3  # init forwards SIGTERM; no 10 s wait for SIGKILL
        stopped = await runtime.inspect(info.id)
        assert not stopped.running and stopped.status == "exited"
        assert stopped.exit_code == 143  # killed by SIGTERM
        await runtime.stop(info.id)  # stopping a stopped container is fine
        await runtime.remove(info.id)
        with pytest.raises(ContainerNotFound):
            await runtime.inspect(info.id)
        await runtime.remove(info.id)  # removing twice is fine
        with pytest.raises(ContainerNotFound):
            await runtime.stop(info.id)

    @needs_real_engine
    async def test_stop_uses_the_containers_own_stop_signal_and_grace_period(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """``RunSpec.stop_signal`` is what a stop sends first and ``stop_timeout`` how long a ``stop(id, None)``
        waits before SIGKILL (compose ``stop_signal``/``stop_grace_period``). Both shells are PID 1 without
        init, so the kernel drops a SIGTERM they have no handler for."""
        runtime = rivetr_runtime
        loop = "while true; do sleep 0.2; done"
        quits = await run_container(
            runtime,
            rivetr_httpd_image,
            rivetr_test_labels,
            "sig",
            init=False,
            command=["sh", "-c", f"trap 'exit 7' USR1; {loop}"],
            stop_signal="SIGUSR1",
            stop_timeout=60,
        )
        deaf = await run_container(
            runtime,
            rivetr_httpd_image,
            rivetr_test_labels,
            "grace",
            init=False,
            command=["sh", "-c", loop],
            stop_timeout=1,
        )
        await runtime.stop(quits.id, timeout=None)
        assert (
            await runtime.inspect(quits.id)
        ).exit_code == 7  # SIGUSR1 reached its trap (SIGTERM: 137, 60 s on)
        started = time.monotonic()
        await runtime.stop(deaf.id, timeout=None)
        waited = time.monotonic() - started
        assert (await runtime.inspect(deaf.id)).exit_code == 137  # SIGKILL after its own 1 s
        assert waited < 8, waited  # not the engine's default 10 s

    @needs_real_engine
    async def test_exit_code_of_finished_container(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = rivetr_runtime
        info = await run_container(
            runtime,
            rivetr_httpd_image,
            rivetr_test_labels,
            "exit",
            command=["sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
        )
        for _ in range(100):
            info = await runtime.inspect(info.id)
            if not info.running:
                break
            await asyncio.sleep(0.05)
        assert (info.status, info.exit_code) == ("exited", 7)
        lines = [(line.stream, line.line) async for line in runtime.logs(info.id, tail=-1)]
        assert ("stdout", "to-out") in lines and ("stderr", "to-err") in lines
        # A followed log of a stopped container ends by itself.
        followed = [line async for line in runtime.logs(info.id, follow=True)]
        assert len(followed) == 2
        running_only = await runtime.list(labels=rivetr_test_labels, all=False)
        assert info.id not in [c.id for c in running_only]
        assert info.id in [c.id for c in await runtime.list(labels=rivetr_test_labels)]

    async def test_port_in_use(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime, image, labels = rivetr_runtime, rivetr_httpd_image, rivetr_test_labels
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(PortInUse):
                await run_container(runtime, image, labels, "port", container_port=HTTPD_PORT, host_port=port)
        # The failed attempt left no container behind (its name stays free).
        assert await runtime.list(labels=labels) == []
        first = await run_container(runtime, image, labels, "p1", container_port=HTTPD_PORT)
        with pytest.raises(PortInUse):
            await run_container(
                runtime, image, labels, "p2", container_port=HTTPD_PORT, host_port=first.host_port or 0
            )

    async def test_name_clash_is_a_clear_error(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        name = unique_name("dup")
        image, labels = rivetr_httpd_image, rivetr_test_labels
        await rivetr_runtime.run(RunSpec(image=image, name=name, labels=labels, command=["sleep", "60"]))
        with pytest.raises(Exception) as caught:
            await rivetr_runtime.run(RunSpec(image=image, name=name, labels=labels, command=["sleep", "60"]))
        assert name in str(caught.value) or "already in use" in str(caught.value)

    async def test_prune_removes_only_labelled_dangling_images(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_base_image: str,
        tmp_path: Path,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        runtime = rivetr_runtime
        tag = f"localhost/rivetr/prune-{SESSION_ID}-{uuid.uuid4().hex[:6]}:1"
        first_id = ""
        for content in ("one", "two"):
            write_httpd_context(tmp_path, base_image=rivetr_base_image, files={"index.html": content})
            async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tag, labels=rivetr_test_labels)):
                pass
            if content == "one":
                first_id = await self._image_id(runtime, tag)
        assert await runtime.image_exists(first_id)  # retagging left the first build dangling
        # Another label value: not ours to prune (an unfiltered prune would delete every program's images).
        result = await runtime.prune({**rivetr_test_labels, SESSION_LABEL: "another-session"})
        assert result.images_deleted == 0 and await runtime.image_exists(first_id)
        result = await runtime.prune(rivetr_test_labels)
        assert result.images_deleted >= 1
        assert not await runtime.image_exists(first_id)
        assert await runtime.image_exists(tag)

    async def _image_id(self, runtime: ContainerRuntime, tag: str) -> str:
        raw = await self.raw_inspect(runtime, "image", tag)
        if raw is None:
            pytest.skip("the id of an image is learnt through raw_inspect: not provided")
        return str(raw["Id"])

    # ------------------------------------------------------------ managed services (ServiceRuntime, optional)
    async def test_service_network_is_idempotent_and_removed_when_unused(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = _service_runtime(rivetr_runtime)
        name = unique_name("net")
        try:
            assert await runtime.ensure_network(name, rivetr_test_labels) == name
            assert await runtime.ensure_network(name, rivetr_test_labels) == name  # exists: fine
            both = await asyncio.gather(*(runtime.ensure_network(f"{name}-r", {}) for _ in range(3)))
            assert both == [f"{name}-r"] * 3  # a race of creators: every one succeeds
            await runtime.remove_network(f"{name}-r")
            info = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("n"),
                    labels=rivetr_test_labels,
                    network=name,
                    command=["sleep", "300"],
                )
            )
            with pytest.raises(RivetrError):
                await runtime.remove_network(name)  # a container is attached
            await rivetr_runtime.remove(info.id, force=True)
            await runtime.remove_network(name)
            await runtime.remove_network(name)  # missing: not an error
            await runtime.ensure_network(name, rivetr_test_labels)  # made again from scratch
        finally:
            for container in await rivetr_runtime.list(labels=rivetr_test_labels):
                await rivetr_runtime.remove(container.id, force=True)
            for network in (name, f"{name}-r"):
                with contextlib.suppress(RivetrError):
                    await runtime.remove_network(network)

    @needs_real_engine
    async def test_containers_on_a_service_network_resolve_each_other_by_alias(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """What a linked app relies on: ``postgres://<alias>:5432`` reaches the service's container."""
        runtime = _service_runtime(rivetr_runtime)
        name = unique_name("net")
        alias = f"svc-{uuid.uuid4().hex[:6]}"
        try:
            await runtime.ensure_network(name, rivetr_test_labels)
            server = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("srv"),
                    labels=rivetr_test_labels,
                    network=name,
                    network_aliases=[alias, f"{alias}-2"],
                )
            )
            client = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("cli"),
                    labels=rivetr_test_labels,
                    network=name,
                    command=["sleep", "300"],
                )
            )
            for host in (alias, f"{alias}-2", server.name):
                looked_up = await rivetr_runtime.exec(client.id, ["nslookup", host])
                assert looked_up.exit_code == 0, looked_up.output
                pinged = await rivetr_runtime.exec(client.id, ["ping", "-c1", "-W2", host])
                assert pinged.exit_code == 0, pinged.output
            fetched = await rivetr_runtime.exec(client.id, ["wget", "-qO-", f"http://{alias}:{HTTPD_PORT}/"])
            for _ in range(50):  # httpd may not listen yet
                if fetched.exit_code == 0:
                    break
                await asyncio.sleep(0.1)
                fetched = await rivetr_runtime.exec(
                    client.id, ["wget", "-qO-", f"http://{alias}:{HTTPD_PORT}/"]
                )
            assert (fetched.exit_code, fetched.output) == (0, "hello from rivetr\n")
            unknown = await rivetr_runtime.exec(client.id, ["nslookup", f"nobody-{alias}"])
            assert unknown.exit_code != 0  # resolution is by name, not a catch-all
        finally:
            for container in await rivetr_runtime.list(labels=rivetr_test_labels):
                await rivetr_runtime.remove(container.id, force=True)
            with contextlib.suppress(RivetrError):
                await runtime.remove_network(name)

    @needs_real_engine
    async def test_exec_output_streams_large_binary_stdout(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        """A dump: 50 MB of random bytes arrive intact (the container hashes what it wrote), in many chunks,
        as they are produced; a non-zero exit raises ExecFailed after the output, with stderr's tail."""
        runtime = _service_runtime(rivetr_runtime)
        sums = f"/tmp/sum-{uuid.uuid4().hex[:6]}"
        script = (
            f"f=$(mktemp -u); mkfifo $f; sha256sum $f > {sums} & "
            "head -c 50000000 /dev/urandom | tee $f; wait; rm -f $f; echo to-stderr >&2"
        )
        digest, chunks, size = hashlib.sha256(), 0, 0
        async for chunk in runtime.exec_output(rivetr_app.id, ["sh", "-c", script]):
            assert isinstance(chunk, bytes)
            digest.update(chunk)
            chunks, size = chunks + 1, size + len(chunk)
        assert size == 50_000_000 and chunks > 10
        written = await rivetr_runtime.exec(rivetr_app.id, ["cat", sums])
        assert written.output.split()[0] == digest.hexdigest()

        arrivals: list[tuple[bytes, float]] = []
        with pytest.raises(ExecFailed) as caught:
            async for chunk in runtime.exec_output(
                rivetr_app.id,
                [
                    "sh",
                    "-c",
                    'echo "first $X"; sleep 1.5; echo last; echo e1 >&2; echo the-reason >&2; exit 3',
                ],
                env={"X": "x1"},
            ):
                arrivals.append((chunk, time.monotonic()))
        ended = time.monotonic()
        assert b"".join(c for c, _ in arrivals) == b"first x1\nlast\n"  # stderr is not in the output
        assert ended - arrivals[0][1] >= 1.0, "stdout must stream, not arrive at the end"
        assert caught.value.exit_code == 3
        assert caught.value.stderr_tail.splitlines()[-2:] == ["e1", "the-reason"]
        assert "the-reason" in caught.value.message

        with pytest.raises(ExecFailed) as missing:
            async for _ in runtime.exec_output(rivetr_app.id, ["definitely-not-a-command"]):
                pass
        assert missing.value.exit_code in (126, 127) and "definitely-not-a-command" in missing.value.message

        async for _ in runtime.exec_output(rivetr_app.id, ["cat", "/dev/zero"]):
            break  # leaving early closes the stream (no hang, no error)

    @needs_real_engine
    async def test_exec_input_streams_binary_stdin(
        self, rivetr_runtime: ContainerRuntime, rivetr_app: ContainerInfo
    ) -> None:
        """A restore: several MB of binary stdin in uneven chunks reach the command intact; its exit code and
        output tail come back; a command that stops reading early does not hang the caller."""
        runtime = _service_runtime(rivetr_runtime)
        digest = hashlib.sha256()
        result = await runtime.exec_input(
            rivetr_app.id,
            ["sh", "-c", 'sha256sum; echo "err $X" >&2; exit 2'],
            _random_chunks(12 * MiB + 3, digest),
            env={"X": "x2"},
        )
        assert result.exit_code == 2
        # Two pipes: the engine may pass stderr's line on before stdout's.
        assert digest.hexdigest() in result.output.split() and "err x2" in result.output

        started = time.monotonic()
        early = await runtime.exec_input(
            rivetr_app.id,
            ["sh", "-c", "head -c 10 >/dev/null; exit 4"],
            _random_chunks(64 * MiB, hashlib.sha256()),
        )
        assert early.exit_code == 4 and time.monotonic() - started < 20

        empty = await runtime.exec_input(rivetr_app.id, ["wc", "-c"], _random_chunks(0, hashlib.sha256()))
        assert (empty.exit_code, empty.output.strip()) == (0, "0")

    async def test_pull_missing_image_fails_fast_naming_it(
        self, rivetr_runtime: ContainerRuntime, rivetr_missing_image: str
    ) -> None:
        runtime = _service_runtime(rivetr_runtime)
        started = time.monotonic()
        with pytest.raises(ImageNotFound) as caught:
            async for _ in runtime.pull(rivetr_missing_image):
                pass
        assert time.monotonic() - started < 15
        assert rivetr_missing_image in caught.value.message

    async def test_pull_then_run_a_fully_qualified_image(
        self,
        rivetr_runtime: ContainerRuntime,
        rivetr_pull_image: str | None,
        rivetr_test_labels: dict[str, str],
    ) -> None:
        """Core passes official images fully qualified (``docker.io/library/redis:7``); the runtime pulls and
        runs them unchanged. An image this test pulled is removed again."""
        runtime = _service_runtime(rivetr_runtime)
        if rivetr_pull_image is None:
            pytest.skip("no pullable image configured (rivetr_pull_image)")
        image = rivetr_pull_image
        had_it = await rivetr_runtime.image_exists(image)
        try:
            lines = [line async for line in runtime.pull(image)]
            assert lines and lines[-1] == f"pulled {image}", lines
            assert all(isinstance(line, str) and line for line in lines)
            assert len(lines) < 200, "progress must be throttled"
            assert await rivetr_runtime.image_exists(image)
            info = await rivetr_runtime.run(
                RunSpec(
                    image=image,
                    name=unique_name("pulled"),
                    labels=rivetr_test_labels,
                    command=["sleep", "30"],
                )
            )
            assert (await rivetr_runtime.inspect(info.id)).running
            again = [line async for line in runtime.pull(image)]  # present: still fine
            assert again[-1] == f"pulled {image}"
            await rivetr_runtime.remove(info.id, force=True)
        finally:
            for container in await rivetr_runtime.list(labels=rivetr_test_labels):
                await rivetr_runtime.remove(container.id, force=True)
            if not had_it:
                await rivetr_runtime.remove_image(image, force=True)

    # ----------------------------------------------------------------- compose stacks (RunSpec fields)
    @needs_real_engine
    async def test_entrypoint_workdir_user_env_and_tmpfs_reach_the_container(
        self, rivetr_runtime: ContainerRuntime, rivetr_base_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        info = await rivetr_runtime.run(
            RunSpec(
                image=rivetr_base_image,
                name=unique_name("fields"),
                labels=rivetr_test_labels,
                env={"STACK_VAR": "stack-value"},
                entrypoint=["sh", "-c"],
                command=["while true; do sleep 1; done"],
                working_dir="/tmp",
                user="1234:1234",
                tmpfs={"/scratch": ""},
                expose=[9999],
                init=False,
            )
        )
        script = "pwd; id -u; echo $STACK_VAR; tr '\\0' ' ' </proc/1/cmdline; echo; grep -c ' /scratch tmpfs' /proc/mounts"
        out = await rivetr_runtime.exec(info.id, ["sh", "-c", script])
        assert out.exit_code == 0, out.output
        lines = [line.strip() for line in out.output.splitlines()]
        assert lines == ["/tmp", "1234", "stack-value", "sh -c while true; do sleep 1; done", "1"], lines

    @needs_real_engine
    async def test_engine_healthcheck_reports_healthy_and_unhealthy(
        self, rivetr_runtime: ContainerRuntime, rivetr_base_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        containers = {}
        for name, test in (("ok", ["CMD", "true"]), ("bad", ["CMD-SHELL", "exit 1"])):
            containers[name] = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_base_image,
                    name=unique_name(f"hc-{name}"),
                    labels=rivetr_test_labels,
                    command=["sleep", "120"],
                    healthcheck=HealthcheckConfig(test, interval=0.5, timeout=2, retries=1),
                )
            )
        assert {info.health for info in containers.values()} <= {"starting", "healthy", "unhealthy"}
        for name, want in (("ok", "healthy"), ("bad", "unhealthy")):
            deadline = time.monotonic() + 30
            health = None
            while time.monotonic() < deadline:
                health = (await rivetr_runtime.inspect(containers[name].id)).health
                if health == want:
                    break
                await asyncio.sleep(0.2)
            assert health == want, f"{name}: {health}"

    async def test_extra_published_ports_are_reported_and_a_clash_creates_nothing(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime, labels = rivetr_runtime, rivetr_test_labels
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            fixed = probe.getsockname()[1]
        info = await runtime.run(
            RunSpec(
                image=rivetr_httpd_image,
                name=unique_name("ports"),
                labels=labels,
                container_port=HTTPD_PORT,
                ports=[
                    PortPublish(HTTPD_PORT, host_port=fixed, host_ip="127.0.0.1"),
                    PortPublish(5353, protocol="udp"),
                ],
            )
        )
        assert info.host_port and labels.items() <= info.labels.items()
        reported = {(p.container_port, p.protocol, p.host_port) for p in info.ports}
        assert (HTTPD_PORT, "tcp", fixed) in reported and (HTTPD_PORT, "tcp", info.host_port) in reported
        udp = [p for p in info.ports if p.protocol == "udp"]
        assert len(udp) == 1 and udp[0].container_port == 5353 and udp[0].host_port > 0
        assert (await runtime.inspect(info.id)).ports == info.ports
        # A fixed host port taken (here by the first container, which holds it): PortInUse naming it, nothing created.
        with pytest.raises(PortInUse) as caught:
            await runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("clash"),
                    labels=labels,
                    ports=[PortPublish(HTTPD_PORT, host_port=fixed, host_ip="127.0.0.1")],
                )
            )
        assert str(fixed) in str(caught.value)
        assert [c.id for c in await runtime.list(labels=labels)] == [info.id]

    @needs_real_engine
    async def test_extra_networks_are_joined_before_start_with_their_aliases(
        self, rivetr_runtime: ContainerRuntime, rivetr_base_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = _service_runtime(rivetr_runtime)
        front, back = unique_name("front"), unique_name("back")
        alias = f"api-{uuid.uuid4().hex[:6]}"
        try:
            for network in (front, back):
                await runtime.ensure_network(network, rivetr_test_labels)
            # The first instruction already has both networks: they were joined before start.
            server = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_base_image,
                    name=unique_name("both"),
                    labels=rivetr_test_labels,
                    command=[
                        "sh",
                        "-c",
                        "grep -c eth /proc/net/dev > /tmp/ifaces; sleep 300",
                    ],
                    network=front,
                    extra_networks={back: [alias]},
                )
            )
            assert set(server.networks) == {front, back} and all(server.networks.values())
            client = await rivetr_runtime.run(
                RunSpec(
                    image=rivetr_base_image,
                    name=unique_name("cli"),
                    labels=rivetr_test_labels,
                    command=["sleep", "300"],
                    network=back,
                )
            )
            looked_up = await rivetr_runtime.exec(client.id, ["nslookup", alias])
            assert looked_up.exit_code == 0 and server.networks[back] in looked_up.output, looked_up.output
            for _ in range(100):
                first = await rivetr_runtime.exec(server.id, ["cat", "/tmp/ifaces"])
                if first.exit_code == 0 and first.output.strip():
                    break
                await asyncio.sleep(0.1)
            # Its first instruction saw both interfaces. (Its own lookups of names on the second network are
            # not checked: podman 4.3's aardvark-dns answers per network, and resolv.conf lists one first.)
            assert first.output.strip() == str(2 + self.extra_interfaces), first.output
        finally:
            for container in await rivetr_runtime.list(labels=rivetr_test_labels):
                await rivetr_runtime.remove(container.id, force=True)
            for network in (front, back):
                with contextlib.suppress(RivetrError):
                    await runtime.remove_network(network)
