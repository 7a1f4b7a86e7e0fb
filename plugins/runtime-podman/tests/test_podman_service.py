"""Podman-only behaviour: the API service started on demand, and the engine dying under a running runtime.

These use a private ``podman system service`` on a temporary socket (never the shared one other sessions use)
and end it themselves.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rivetr_runtime_podman.runtime import PodmanRuntime, qualify, socket_answers

from rivetr_core.config import RivetrConfig
from rivetr_core.contract import BuildSpec, LogLine, PluginContext, RuntimeUnavailable
from tests.support.engines import BASE_IMAGE, EngineEnv, run_container

pytestmark = pytest.mark.podman


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A unix socket path must fit in 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="rvp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def private_podman(engine_env: EngineEnv, short_dir: Path) -> PodmanRuntime:
    runtime = PodmanRuntime(
        f"unix://{short_dir}/podman.sock",
        containers_conf=engine_env.containers_conf,
        service_log=short_dir / "service.log",
    )
    yield runtime  # type: ignore[misc]
    runtime.stop_service()
    await runtime.close()


async def test_service_started_on_demand_and_engine_death_is_clear(
    private_podman: PodmanRuntime,
    podman_runtime: PodmanRuntime,
    podman_httpd_image: str,
    short_dir: Path,
    test_labels: dict[str, str],
) -> None:
    runtime = private_podman
    assert not socket_answers(runtime.socket_path)
    assert await runtime.ping() is True  # started the service
    assert runtime.service_process is not None and runtime.service_process.poll() is None

    info = await run_container(
        runtime,
        podman_httpd_image,
        test_labels,
        "die",
        command=["sh", "-c", "while :; do echo tick; sleep 0.2; done"],
    )
    seen: list[LogLine] = []

    async def follow() -> None:
        async for line in runtime.logs(info.id, tail=0, follow=True):
            seen.append(line)

    follower = asyncio.create_task(follow())
    for _ in range(100):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(seen) >= 2, "the followed log never produced lines"

    runtime.service_process.kill()  # the engine goes away mid-stream
    runtime.service_process.wait()
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailable) as caught:
        await asyncio.wait_for(follower, 10)
    assert time.monotonic() - started < 5
    assert "podman" in caught.value.message and runtime.socket_path in caught.value.message

    # Later calls fail fast and clearly too, streaming or not.
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailable):
        await runtime.inspect(info.id)
    with pytest.raises(RuntimeUnavailable):
        await runtime.stats(info.id)
    (short_dir / "ctx").mkdir()
    (short_dir / "ctx" / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN true\n")
    with pytest.raises(RuntimeUnavailable):
        async for _ in runtime.build(BuildSpec(context_dir=short_dir / "ctx", tag="localhost/rivetr/x:1")):
            pass
    assert time.monotonic() - started < 5

    runtime.autostart = False
    assert await runtime.ping() is False  # no restart behind the caller's back
    runtime.autostart = True
    assert await runtime.ping() is True  # ping restarts the service on demand
    # conmon keeps containers alive while the API service is down.
    assert (await runtime.inspect(info.id)).running
    # The shared runtime (same storage) sees it too; its teardown removes it by label.
    assert (await podman_runtime.inspect(info.id)).running


async def test_silent_socket_without_autostart(short_dir: Path) -> None:
    runtime = PodmanRuntime(f"unix://{short_dir}/none.sock", autostart=False)
    try:
        assert await runtime.ping() is False
        started = time.monotonic()
        with pytest.raises(RuntimeUnavailable, match="autostart is off"):
            await runtime.list()
        assert time.monotonic() - started < 2
    finally:
        await runtime.close()


async def test_plugin_factory_reads_config(engine_env: EngineEnv, tmp_path: Path) -> None:
    from rivetr_runtime_podman import plugin

    (registration,) = plugin.rivetr_container_runtimes()
    config = RivetrConfig()
    config.runtime.podman_socket = engine_env.podman_socket
    ctx = PluginContext(
        config=config,
        data_dir=tmp_path,
        plugin_settings={"runtime-podman": {"containers_conf": engine_env.containers_conf}},
    )
    runtime = registration.factory(ctx)
    try:
        assert isinstance(runtime, PodmanRuntime)
        assert runtime.base_url == engine_env.podman_socket
        assert runtime.containers_conf == engine_env.containers_conf
        assert await runtime.ping()
        assert (await runtime.info()).name == "podman"
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("app:1", "localhost/app:1"),
        ("rivetr/app:1", "localhost/rivetr/app:1"),
        ("localhost/rivetr/app:1", "localhost/rivetr/app:1"),
        ("docker.io/library/python:3.12", "docker.io/library/python:3.12"),
        ("registry.local:5000/a/b", "registry.local:5000/a/b"),
        ("localhost:5000/a", "localhost:5000/a"),
        ("sha256:" + "a" * 64, "sha256:" + "a" * 64),
    ],
)
def test_qualify(ref: str, expected: str) -> None:
    assert qualify(ref) == expected
