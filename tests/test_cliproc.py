"""rivetr_core.contract.cliproc, the helpers of builders that run a CLI (builder-nixpacks, builder-buildpacks):
the CLI's engine address, its availability and registration, and its output streamed from real processes."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from rivetr_core.contract import BuildFailed, BuildRequest
from rivetr_core.contract.cliproc import CliTool, child_env, engine_host, run_logged, stream_lines


def test_the_cli_is_pointed_at_the_runtimes_engine() -> None:
    from rivetr_runtime_docker.runtime import DockerRuntime
    from rivetr_runtime_podman.runtime import PodmanRuntime

    assert engine_host(DockerRuntime("unix:///var/run/docker.sock")) == "unix:///var/run/docker.sock"
    podman = PodmanRuntime("unix:///run/podman/podman.sock", autostart=False)
    assert engine_host(podman) == "unix:///run/podman/podman.sock"
    assert engine_host(object()) is None  # a runtime without an address: the CLI's own default


def test_a_tool_on_path_and_one_missing(tmp_path: Path) -> None:
    """A third party's CLI builder: the reason names the CLI and where to get it; available, detect() looks
    for a non-empty build context inside the checkout."""
    missing = CliTool(builder="ghost", cli="rivetr-no-such-cli", install_url="https://example.com/ghost")
    reason = "`rivetr-no-such-cli` not on PATH (install from https://example.com/ghost)"
    assert missing.unavailable() == reason
    with pytest.raises(BuildFailed, match=f"^the ghost builder is unavailable: {re.escape(reason)}$"):
        missing.executable()
    registration = missing.registration(lambda ctx: object(), priority=500, description="ghost builds")  # type: ignore[arg-type,return-value]
    assert (registration.name, registration.priority) == ("ghost", 500)
    assert registration.description == f"unavailable: {reason}" and registration.unavailable is not None
    assert registration.unavailable() == reason
    (tmp_path / "app.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    assert missing.detect(tmp_path, BuildRequest(source_dir=tmp_path, tag="t")) is False

    present = CliTool(builder="shell", cli="sh", install_url="https://example.com/sh")
    assert present.unavailable() is None and present.executable().endswith("/sh")
    assert present.registration(lambda ctx: object(), priority=1, description="d").description == "d"  # type: ignore[arg-type,return-value]
    assert present.detect(tmp_path, BuildRequest(source_dir=tmp_path, tag="t")) is True
    assert (
        present.detect(tmp_path, BuildRequest(source_dir=tmp_path, tag="t", build_context="empty")) is False
    )
    assert present.detect(tmp_path, BuildRequest(source_dir=tmp_path, tag="t", build_context="..")) is False


def test_build_variables_are_names_on_the_command_line() -> None:
    tool = CliTool(builder="shell", cli="sh", install_url="https://example.com/sh")
    assert tool.env_flags({"B": "2", "A": "s3cret"}) == ["--env", "A", "--env", "B"]
    with pytest.raises(
        BuildFailed, match="build variable\\(s\\) HOME, PATH cannot be given to the shell builder"
    ):
        tool.env_flags({"PATH": "/x", "HOME": "/y", "A": "1"})


async def test_run_logged_logs_the_command_then_streams_it() -> None:
    args = ["sh", "-c", 'echo "token=$API_TOKEN host=$DOCKER_HOST"']
    lines = [
        line
        async for line in run_logged(
            args, {"API_TOKEN": "s3cret"}, "unix:///x.sock", prefix="[sh]", what="sh"
        )
    ]
    assert lines == [
        "[sh] sh -c 'echo \"token=$API_TOKEN host=$DOCKER_HOST\"' (DOCKER_HOST=unix:///x.sock)",
        "token=s3cret host=unix:///x.sock",
    ]


async def test_output_is_streamed_line_by_line_with_the_environment() -> None:
    env = child_env({"API_TOKEN": "s3cret"}, None, os.environ)
    script = 'echo one; echo "two $API_TOKEN" >&2; printf three'
    lines = [line async for line in stream_lines(["sh", "-c", script], env, what="test run")]
    assert lines == ["one", "two s3cret", "three"]


async def test_a_failing_cli_raises_with_its_last_lines() -> None:
    script = "for i in $(seq 1 30); do echo line-$i; done; exit 3"
    seen: list[str] = []
    with pytest.raises(BuildFailed) as failed:
        async for line in stream_lines(["sh", "-c", script], os.environ, what="nixpacks build"):
            seen.append(line)
    assert len(seen) == 30
    message = failed.value.message
    assert message.startswith("nixpacks build failed (exit 3); last output:")
    assert "line-30" in message and "line-11" in message and "line-10\n" not in message


async def test_a_missing_executable_is_a_build_failure() -> None:
    with pytest.raises(BuildFailed, match="could not start"):
        async for _ in stream_lines(["/nonexistent/nixpacks"], os.environ, what="nixpacks build"):
            pass


async def test_closing_the_stream_kills_the_process_and_its_children() -> None:
    # The CLI's own children (docker, a lifecycle container client) must not outlive a cancelled build.
    stream = stream_lines(["sh", "-c", "sleep 60 & echo $!; wait"], os.environ, what="x")
    child = int(await stream.__anext__())
    # A cancelled deployment; a surviving child would hold the output pipe open and block this for 60 s.
    await asyncio.wait_for(stream.aclose(), 15)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper does not count: it has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
