"""The ContainerRuntime contract, written once and run against every engine on real engines.

Each runtime plugin's tests subclass :class:`RuntimeContract` and set ``engine``::

    @pytest.mark.docker
    class TestDockerContract(RuntimeContract):
        engine = "docker"

Fixtures come from :mod:`tests.support.engines`. To keep the suite fast, one httpd container per engine
(class scope) serves the read-only checks (HTTP, env, logs, exec, stats, inspect, list); tests that change
state start their own containers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rivetr_core.types import (
    BuildFailed,
    BuildSpec,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    ExecSession,
    ImageNotFound,
    PortInUse,
    RunSpec,
)
from tests.support.engines import (
    BASE_IMAGE,
    CASE_LABEL,
    HTTPD_PORT,
    SESSION_ID,
    SESSION_LABEL,
    EngineEnv,
    http_get,
    make_runtime,
    run_container,
    run_sync,
    unique_name,
    wait_http,
    write_httpd_context,
)

MiB = 1024 * 1024


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


class RuntimeContract:
    engine: ClassVar[str]

    # ------------------------------------------------------------------------------------------ fixtures
    @pytest.fixture
    def runtime(self, request: pytest.FixtureRequest) -> Any:
        return request.getfixturevalue(f"{self.engine}_runtime")

    @pytest.fixture
    def image(self, request: pytest.FixtureRequest) -> str:
        return request.getfixturevalue(f"{self.engine}_httpd_image")

    @pytest.fixture(scope="class")
    @classmethod
    def app(cls, request: pytest.FixtureRequest, engine_env: EngineEnv) -> Iterator[ContainerInfo]:
        """One running httpd container with env, labels and limits, shared by the read-only tests."""
        engine = cls.engine
        image = request.getfixturevalue(f"{engine}_httpd_image")
        labels = {SESSION_LABEL: SESSION_ID, CASE_LABEL: f"app-{engine}-{SESSION_ID}", "rivetr.app": "shared"}
        spec = RunSpec(
            image=image,
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
            runtime = make_runtime(engine, engine_env)
            try:
                info = await runtime.run(spec)
                await wait_http(info.host_port or 0)
                return info
            finally:
                await runtime.close()

        info = run_sync(start())
        yield info

        async def stop() -> None:
            runtime = make_runtime(engine, engine_env)
            try:
                await runtime.remove(info.id, force=True)
            finally:
                await runtime.close()

        run_sync(stop())

    # -------------------------------------------------------------------------------------------- engine
    async def test_ping_and_info(self, runtime: ContainerRuntime) -> None:
        assert isinstance(runtime, ContainerRuntime)
        assert runtime.name == self.engine
        assert await runtime.ping() is True
        info = await runtime.info()
        assert info.name == self.engine and info.version and info.api_version

    # --------------------------------------------------------------------------------------------- build
    async def test_build_streams_lines_while_building(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        (tmp_path / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\nRUN echo begin-marker && sleep 2 && echo end-marker\n"
        )
        tag = f"localhost/rivetr/stream-{SESSION_ID}:1"
        spec = BuildSpec(context_dir=tmp_path, tag=tag, labels=test_labels, no_cache=True)
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
        steps = [step for line in lines if (step := runtime.build_step(line))]  # type: ignore[attr-defined]
        assert steps and steps[0][0] == 1 and steps[-1][0] == steps[-1][1] >= 2, lines
        assert await runtime.image_exists(tag)
        assert tag in await runtime.list_images(labels=test_labels)
        await runtime.remove_image(tag, force=True)
        assert not await runtime.image_exists(tag)

    async def test_build_args_labels_and_limits(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        (tmp_path / "Dockerfile").write_text(
            f'ARG BASE={BASE_IMAGE}\nFROM $BASE\nARG GREETING\nRUN echo "greeting=$GREETING"\n'
        )
        tag = f"localhost/rivetr/args-{SESSION_ID}:1"
        spec = BuildSpec(
            context_dir=tmp_path,
            tag=tag,
            build_args={"GREETING": "from-build-arg"},
            labels={**test_labels, "rivetr.deployment": "d1"},
            cpu_limit=1.0,
            memory_limit=256 * MiB,
            no_cache=True,
        )
        lines = [line async for line in runtime.build(spec)]
        assert "greeting=from-build-arg" in lines
        assert await runtime.list_images(labels={"rivetr.deployment": "d1", **test_labels}) == [tag]
        tricky = {**test_labels, "rivetr.note": 'a "quoted" $HOME \\ value', "rivetr.empty": ""}
        tricky_tag = f"localhost/rivetr/labels-{SESSION_ID}:1"
        await runtime.remove_image(tricky_tag)
        async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tricky_tag, labels=tricky)):
            pass
        raw = await runtime._call(lambda: runtime._api().inspect_image(tricky_tag))  # type: ignore[attr-defined]
        assert {k: raw["Config"]["Labels"].get(k) for k in tricky} == tricky

    async def test_build_failure_raises_with_log_tail(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo about-to-fail && exit 3\n")
        spec = BuildSpec(
            context_dir=tmp_path, tag=f"localhost/rivetr/fail-{SESSION_ID}:1", labels=test_labels
        )
        seen: list[str] = []
        with pytest.raises(BuildFailed) as caught:
            async for line in runtime.build(spec):
                seen.append(line)
        error = caught.value
        assert "about-to-fail" in seen
        assert "about-to-fail" in error.log_tail
        assert error.exit_code == 3
        assert "exit 3" in error.message

    async def test_bad_dockerfile_raises_build_failed(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nNOTANINSTRUCTION foo\n")
        spec = BuildSpec(context_dir=tmp_path, tag=f"localhost/rivetr/bad-{SESSION_ID}:1", labels=test_labels)
        with pytest.raises(BuildFailed) as caught:
            async for _ in runtime.build(spec):
                pass
        assert caught.value.log_tail, "the engine's complaint must be in the log tail"

    async def test_missing_base_image_fails_fast_naming_it(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        missing = f"localhost/rivetr-test/does-not-exist-{SESSION_ID}:1"
        (tmp_path / "Dockerfile").write_text(f"FROM {missing} AS build\nFROM build\nRUN true\n")
        spec = BuildSpec(
            context_dir=tmp_path, tag=f"localhost/rivetr/nobase-{SESSION_ID}:1", labels=test_labels
        )
        started = time.monotonic()
        with pytest.raises(ImageNotFound) as caught:
            async for _ in runtime.build(spec):
                pass
        assert time.monotonic() - started < 5
        assert missing in caught.value.message

    async def test_run_missing_image(self, runtime: ContainerRuntime, test_labels: dict[str, str]) -> None:
        with pytest.raises(ImageNotFound):
            await run_container(runtime, f"localhost/rivetr/nope-{SESSION_ID}:1", test_labels)

    # ---------------------------------------------------------------------- shared running container
    async def test_http_port_and_inspect(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
        assert app.running and app.status == "running" and app.exit_code is None
        assert app.host_port and app.host_port != HTTPD_PORT
        status, body = await http_get(app.host_port)
        assert (status, body) == (200, "hello from rivetr\n")
        info = await runtime.inspect(app.id)
        assert info.limits == {"cpu": 0.5, "memory": 64 * MiB, "pids": 64}
        assert info.labels["rivetr.app"] == "shared"
        assert info.host_port == app.host_port and info.started_at and info.created_at
        assert info.health is None
        raw = await runtime._call(lambda: runtime._api().inspect_container(app.id))  # type: ignore[attr-defined]
        assert raw["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
        assert raw["HostConfig"]["Init"] is True
        assert all(b["HostIp"] == "127.0.0.1" for b in raw["HostConfig"]["PortBindings"][f"{HTTPD_PORT}/tcp"])

    async def test_unpublished_port_reached_at_container_address(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        """publish=False: no host port, and the app answers at ``upstream`` (the container's bridge address),
        which is what the pipeline routes to."""
        info = await run_container(
            runtime, image, test_labels, "direct", container_port=HTTPD_PORT, publish=False, init=True
        )
        assert info.host_port is None and info.address and info.upstream == info.address
        host, _, port = info.address.rpartition(":")
        assert int(port) == HTTPD_PORT and not host.startswith("127.")
        assert await wait_http(HTTPD_PORT, host=host) == (200, "hello from rivetr\n")
        raw = await runtime._call(lambda: runtime._api().inspect_container(info.id))  # type: ignore[attr-defined]
        assert not any((raw["HostConfig"].get("PortBindings") or {}).values())  # podman: {"8000/tcp": None}
        assert (await runtime.inspect(info.id)).upstream == info.address

    async def test_env_visible_inside(self, app: ContainerInfo) -> None:
        status, body = await http_get(app.host_port or 0, "/cgi-bin/env")
        assert status == 200
        assert "RIVETR_GREETING=hello-env" in body.splitlines()

    async def test_list_by_label(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
        found = await runtime.list(labels={"rivetr.app": "shared", SESSION_LABEL: SESSION_ID})
        assert [c.id for c in found] == [app.id]
        assert found[0].host_port == app.host_port
        assert await runtime.list(labels={"rivetr.app": f"none-{SESSION_ID}"}) == []

    async def test_logs_tail_and_follow(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
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

    async def test_cancelled_follow_ends_its_thread(
        self, runtime: ContainerRuntime, app: ContainerInfo
    ) -> None:
        def stream_threads() -> int:
            return sum(1 for t in threading.enumerate() if t.name == f"rivetr-{self.engine}-stream")

        before = stream_threads()
        got_line = asyncio.Event()

        async def follow() -> None:
            async for _ in runtime.logs(app.id, tail=1, follow=True):
                got_line.set()

        # What a closed browser WebSocket does to the task streaming a log.
        task = asyncio.create_task(follow())
        await runtime.exec(app.id, ["sh", "-c", "echo cancel-probe > /proc/1/fd/1"])
        await asyncio.wait_for(got_line.wait(), 10)
        assert stream_threads() == before + 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(40):
            if stream_threads() == before:
                break
            await asyncio.sleep(0.05)
        assert stream_threads() == before, "the reader thread must stop with its consumer"

    async def test_exec(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
        result = await runtime.exec(app.id, ["cat", "/www/index.html"])
        assert (result.exit_code, result.output) == (0, "hello from rivetr\n")
        result = await runtime.exec(
            app.id, ["sh", "-c", 'echo "$EXTRA"; echo oops >&2; exit 4'], env={"EXTRA": "x1"}
        )
        assert result.exit_code == 4
        assert sorted(result.output.split()) == ["oops", "x1"]  # two pipes: their order may vary
        result = await runtime.exec(app.id, ["definitely-not-a-command"])
        assert result.exit_code in (126, 127)

    async def test_exec_interactive(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
        session = await runtime.exec_interactive(app.id, ["/bin/sh"], rows=30, cols=100)
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
            assert await session.exit_code() == 5  # type: ignore[attr-defined]
        finally:
            await session.close()

    async def test_stats_single(self, runtime: ContainerRuntime, app: ContainerInfo) -> None:
        for _ in range(3):
            await http_get(app.host_port or 0)
        stats = await runtime.stats(app.id)
        assert stats.container_id == app.id
        assert 0 < stats.memory_used < 64 * MiB
        assert stats.memory_limit == 64 * MiB
        assert stats.net_rx > 0 and stats.net_tx > 0
        assert 0 <= stats.cpu_percent <= 100 * 2

    # ---------------------------------------------------------------------------- own containers
    async def test_cpu_percent_of_busy_container(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        info = await run_container(
            runtime, image, test_labels, "busy", command=["sh", "-c", "while :; do :; done"], cpu_limit=0.5
        )
        await asyncio.sleep(1.0)
        samples = [(await runtime.stats(info.id)).cpu_percent for _ in range(3)]
        # Capped at half a CPU: clearly busy, never above the cap (slack for sampling and a loaded machine).
        assert max(samples) >= 10, samples
        assert all(0 <= sample <= 75 for sample in samples), samples

    async def test_stats_many_in_parallel(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        infos = await asyncio.gather(
            *(
                run_container(runtime, image, test_labels, f"s{i}", command=["sleep", "300"])
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
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        info = await run_container(runtime, image, test_labels, "stop", container_port=HTTPD_PORT, init=True)
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

    async def test_exit_code_of_finished_container(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        info = await run_container(
            runtime, image, test_labels, "exit", command=["sh", "-c", "echo to-out; echo to-err >&2; exit 7"]
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
        running_only = await runtime.list(labels=test_labels, all=False)
        assert info.id not in [c.id for c in running_only]
        assert info.id in [c.id for c in await runtime.list(labels=test_labels)]

    async def test_port_in_use(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(PortInUse):
                await run_container(
                    runtime, image, test_labels, "port", container_port=HTTPD_PORT, host_port=port
                )
        # The failed attempt left no container behind (its name stays free).
        assert await runtime.list(labels=test_labels) == []
        first = await run_container(runtime, image, test_labels, "p1", container_port=HTTPD_PORT)
        with pytest.raises(PortInUse):
            await run_container(
                runtime, image, test_labels, "p2", container_port=HTTPD_PORT, host_port=first.host_port or 0
            )

    async def test_name_clash_is_a_clear_error(
        self, runtime: ContainerRuntime, image: str, test_labels: dict[str, str]
    ) -> None:
        name = unique_name("dup")
        await runtime.run(RunSpec(image=image, name=name, labels=test_labels, command=["sleep", "60"]))
        with pytest.raises(Exception) as caught:
            await runtime.run(RunSpec(image=image, name=name, labels=test_labels, command=["sleep", "60"]))
        assert name in str(caught.value) or "already in use" in str(caught.value)

    async def test_prune_removes_dangling_images(
        self, runtime: ContainerRuntime, tmp_path: Path, test_labels: dict[str, str]
    ) -> None:
        tag = f"localhost/rivetr/prune-{SESSION_ID}:1"
        for content in ("one", "two"):
            write_httpd_context(tmp_path, files={"index.html": content})
            async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tag, labels=test_labels)):
                pass
            if content == "one":
                raw = await runtime._call(lambda: runtime._api().inspect_image(tag))  # type: ignore[attr-defined]
                first_id = raw["Id"]
        assert await runtime.image_exists(first_id)  # retagging left the first build dangling
        # Another label value: not ours to prune (an unfiltered prune would delete every program's images).
        result = await runtime.prune({**test_labels, SESSION_LABEL: "another-session"})
        assert result.images_deleted == 0 and await runtime.image_exists(first_id)
        result = await runtime.prune(test_labels)
        assert result.images_deleted >= 1
        assert not await runtime.image_exists(first_id)
        assert await runtime.image_exists(tag)
