"""rivetr_core.testing: the runtime contract suite holds for FakeRuntime (what it can do without an engine), its
knobs behave as documented, and nothing of it is loaded by the server or drags pytest in."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from rivetr_core.contract import (
    BuildFailed,
    BuildSpec,
    ContainerRuntime,
    ExecFailed,
    ExecResult,
    ImageNotFound,
    RivetrError,
    RunSpec,
    RuntimeUnavailable,
    ServiceRuntime,
)
from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.contract import RuntimeContract
from rivetr_core.testing.helpers import http_get, write_httpd_context

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rivetr_runtime_factory() -> Iterator[Callable[[], FakeRuntime]]:
    # One engine: every runtime object the suite makes talks to it (as real clients share a daemon).
    engine = FakeRuntime()
    yield lambda: engine
    engine.shutdown()


@pytest.fixture(scope="module")
def rivetr_base_image() -> str:
    return "localhost/fake/busybox:latest"


@pytest.fixture(scope="module")
def rivetr_pull_image(rivetr_runtime_factory: Callable[[], FakeRuntime]) -> str:
    rivetr_runtime_factory().publish("docker.io/library/redis:7", body="redis stand-in\n")
    return "docker.io/library/redis:7"


class TestFakeRuntimeContract(RuntimeContract):
    real_engine = False

    async def raw_inspect(
        self, runtime: Any, kind: Literal["container", "image"], ref: str
    ) -> dict[str, Any] | None:
        return {"Id": runtime.images[ref].id} if kind == "image" else None


@pytest.fixture
def fake() -> Iterator[FakeRuntime]:
    runtime = FakeRuntime()
    yield runtime
    runtime.shutdown()


async def _image(fake: FakeRuntime, tmp_path: Path, tag: str = "localhost/rivetr/web:1", **marks: str) -> str:
    write_httpd_context(tmp_path, base_image="unused")
    for name in marks:
        (tmp_path / name).write_text("")
    async for _ in fake.build(BuildSpec(context_dir=tmp_path, tag=tag, labels={"rivetr.app": "web"})):
        pass
    return tag


def test_fake_runtime_is_a_container_runtime() -> None:
    assert isinstance(FakeRuntime(), ContainerRuntime)


async def test_build_marks_steer_the_fake(fake: FakeRuntime, tmp_path: Path) -> None:
    fake.slow = 0.2
    started = asyncio.get_running_loop().time()
    tag = await _image(fake, tmp_path, "localhost/rivetr/web:slow", SLOW_BUILD="", UNHEALTHY="")
    assert asyncio.get_running_loop().time() - started >= 0.2
    assert fake.builds == [tag] and fake.images[tag].unhealthy and fake.building.is_set()
    info = await fake.run(RunSpec(image=tag, name="web"))
    assert await http_get(info.host_port or 0, "/any") == (500, "hello from rivetr\n")
    assert [line.line async for line in fake.logs(info.id)] == ["GET /any 500"]
    with pytest.raises(BuildFailed) as caught:
        await _image(fake, tmp_path, "localhost/rivetr/web:bad", FAIL_BUILD="")
    assert caught.value.exit_code == 1 and "localhost/rivetr/web:bad" not in fake.images


async def test_failures_delays_and_reachability(fake: FakeRuntime, tmp_path: Path) -> None:
    tag = await _image(fake, tmp_path)
    fake.failures["run"] = RuntimeUnavailable("engine went away")
    with pytest.raises(RuntimeUnavailable, match="went away"):
        await fake.run(RunSpec(image=tag, name="a"))
    del fake.failures["run"]
    fake.delays["ping"] = 5
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(fake.ping(), 0.1)  # an engine that hangs
    fake.delays.clear()
    fake.reachable = False
    assert await fake.ping() is False and fake.pinged == 2
    with pytest.raises(RuntimeUnavailable, match="does not answer"):
        await fake.list()
    fake.reachable = True
    await fake.run(RunSpec(image=tag, name="b", labels={"rivetr.app": "web"}))
    assert fake.calls_to("run")[-1]["spec"].name == "b"


async def test_containers_outlive_the_loop_and_client_that_started_them(
    fake: FakeRuntime, tmp_path: Path
) -> None:
    """A container started from another event loop (a class-scoped fixture's) keeps serving, and close()
    ends the client, not the containers, as on a real engine."""
    tag = await _image(fake, tmp_path)

    def start_elsewhere() -> str:
        return asyncio.run(fake.run(RunSpec(image=tag, name="elsewhere"))).id

    cid = await asyncio.to_thread(start_elsewhere)
    await fake.close()
    assert fake.closed and fake.live() == [cid]
    port = fake.containers[cid].port
    assert await http_get(port) == (200, "hello from rivetr\n")
    fake.crash(cid)
    info = await fake.inspect(cid)
    assert (info.running, info.exit_code) == (False, 137) and fake.live() == []
    for _ in range(50):
        try:
            await http_get(port, timeout=0.5)
        except OSError:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("a crashed container still answers")


async def test_service_methods_of_the_fake(fake: FakeRuntime, tmp_path: Path) -> None:
    """The ServiceRuntime knobs: networks are recorded, pull fetches what was published, exec_output and
    exec_input answer through their handlers (a non-zero exit of exec_output raises ExecFailed)."""
    assert isinstance(fake, ServiceRuntime)
    assert await fake.ensure_network("proj-net", {"rivetr.project": "p1"}) == "proj-net"
    assert fake.networks == {"proj-net": {"rivetr.project": "p1"}}
    with pytest.raises(ImageNotFound, match=r"docker\.io/library/postgres:16"):
        async for _ in fake.pull("docker.io/library/postgres:16"):
            pass
    fake.publish("docker.io/library/postgres:16", body="pg\n")
    lines = [line async for line in fake.pull("docker.io/library/postgres:16")]
    assert (
        lines[-1] == "pulled docker.io/library/postgres:16"
        and fake.pulls == ["docker.io/library/postgres:16"] * 2
    )
    info = await fake.run(
        RunSpec(image="docker.io/library/postgres:16", name="pg", network="proj-net", network_aliases=["db"])
    )
    assert fake.runs[-1].network_aliases == ["db"]
    with pytest.raises(RivetrError, match="still used"):
        await fake.remove_network("proj-net")

    fake.output_handler = lambda cid, cmd, env: ([b"part1,", b"part2"], 0, "")
    assert b"".join([c async for c in fake.exec_output(info.id, ["pg_dumpall"])]) == b"part1,part2"
    fake.output_handler = lambda cid, cmd, env: (b"half", 2, "pg_dumpall: error: connection refused\n")
    seen: list[bytes] = []
    with pytest.raises(ExecFailed) as caught:
        async for chunk in fake.exec_output(info.id, ["pg_dumpall"]):
            seen.append(chunk)
    assert seen == [b"half"] and caught.value.exit_code == 2 and "connection refused" in caught.value.message

    async def dump() -> AsyncIterator[bytes]:
        yield b"CREATE TABLE t;"
        yield b"\x00binary"

    fake.input_handler = lambda cid, cmd, stdin, env: ExecResult(0, f"{len(stdin)} bytes as {env['PGUSER']}")
    result = await fake.exec_input(info.id, ["psql"], dump(), env={"PGUSER": "u"})
    assert result == ExecResult(0, "22 bytes as u")
    assert fake.inputs == [(info.id, ["psql"], b"CREATE TABLE t;\x00binary")]
    await fake.remove(info.id)
    await fake.remove_network("proj-net")
    assert fake.networks == {}


THIRD_PARTY_TESTS = """
import pytest

from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.contract import RuntimeContract


class MyRuntime(FakeRuntime):
    \"\"\"A third party's runtime (the fake under another name: no engine needed here).\"\"\"


ENGINE = MyRuntime("mine")


@pytest.fixture(scope="session")
def rivetr_runtime_factory():
    return lambda: ENGINE


@pytest.fixture(scope="session")
def rivetr_base_image():
    return "localhost/mine/busybox:latest"


class TestMine(RuntimeContract):
    real_engine = False

    async def raw_inspect(self, runtime, kind, ref):
        return {"Id": runtime.images[ref].id} if kind == "image" else None
"""


def _pytest_in(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_third_party_package_runs_the_suite_from_its_own_tree(tmp_path: Path) -> None:
    """Outside this repository (own rootdir and conftest, pytest-asyncio in its default strict mode), the
    plugin brings the suite in through ``pytest_plugins`` and runs it against the package's runtime."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["rivetr_core.testing.contract"]\n')
    (tmp_path / "test_mine.py").write_text(THIRD_PARTY_TESTS)
    result = _pytest_in(tmp_path)
    output = result.stdout + result.stderr
    runnable = [
        name
        for name, test in vars(RuntimeContract).items()
        if name.startswith("test_")
        and not any(mark.name == "rivetr_real_engine" for mark in getattr(test, "pytestmark", []))
    ]
    runnable.remove("test_pull_then_run_a_fully_qualified_image")  # no rivetr_pull_image given: skipped
    assert result.returncode == 0, output
    assert f"{len(runnable)} passed" in output and "needs a real container engine" in output, output
    assert "no pullable image configured" in output, output

    # Without the factory fixture, a clear error says what to provide.
    (tmp_path / "test_mine.py").write_text(
        THIRD_PARTY_TESTS.replace("def rivetr_runtime_factory", "def not_the_factory")
    )
    result = _pytest_in(tmp_path)
    assert result.returncode != 0
    assert "needs a `rivetr_runtime_factory` fixture" in result.stdout + result.stderr


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_package_does_not_import_pytest_and_the_server_does_not_import_it(tmp_path: Path) -> None:
    assert (
        _python(
            "import sys, rivetr_core.testing\n"
            "from rivetr_core.testing import FakeRuntime\n"
            "import rivetr_core.testing.helpers\n"
            "FakeRuntime()\n"
            "print('pytest' in sys.modules)"
        )
        == "False"
    )
    loaded = _python(
        "import sys\n"
        "from rivetr_core.app import create_app\n"
        "from rivetr_core.config import load_config\n"
        f"config = load_config(None, server={{'data_dir': {str(tmp_path)!r}}}, proxy={{'enabled': False}})\n"
        "create_app(config)\n"
        "print(sorted(m for m in sys.modules if m.startswith('rivetr_core.testing') or m == 'pytest'))"
    )
    assert loaded == "[]"
