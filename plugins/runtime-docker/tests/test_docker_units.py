"""Pure logic of the docker runtime (no engine): Dockerfile base images, time parsing, error translation,
stats arithmetic, the plugin factory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import docker.errors
import pytest
import requests
from rivetr_runtime_docker.dockerfile import base_images, is_local_only
from rivetr_runtime_docker.engine import parse_time
from rivetr_runtime_docker.runtime import DockerRuntime, EngineError

from rivetr_core.config import RivetrConfig
from rivetr_core.contract import (
    ContainerNotFound,
    ImageNotFound,
    PluginContext,
    PortInUse,
    RuntimeUnavailable,
)


def test_base_images_stages_args_and_copy_from() -> None:
    text = """
# syntax=docker/dockerfile:1
ARG BASE=localhost/rivetr/base:1
ARG TAG
FROM --platform=linux/amd64 ${BASE} AS build
RUN make \\
    # a comment inside a continuation
    && make install
FROM localhost/rivetr/runtime:${TAG:-2}
COPY --from=build /out /app
COPY --from=localhost/rivetr/assets:3 /a /b
COPY --from=0 /x /y
FROM build
FROM scratch
"""
    assert base_images(text) == [
        "localhost/rivetr/base:1",
        "localhost/rivetr/runtime:2",
        "localhost/rivetr/assets:3",
    ]
    assert base_images(text, {"BASE": "python:3.12", "TAG": "9"})[:2] == [
        "python:3.12",
        "localhost/rivetr/runtime:9",
    ]


def test_arg_after_from_does_not_leak_into_later_from() -> None:
    text = "FROM a:1\nARG X=localhost/b:1\nFROM ${X:-c:2}\n"
    assert base_images(text) == ["a:1", "c:2"]


@pytest.mark.parametrize(
    ("image", "local"),
    [
        ("localhost/rivetr/app:1", True),
        ("localhost:5000/app:1", False),
        ("python:3.12", False),
        ("docker.io/library/busybox", False),
        ("localhost", False),
    ],
)
def test_is_local_only(image: str, local: bool) -> None:
    assert is_local_only(image) is local


def testparse_time() -> None:
    assert parse_time("2026-11-27T07:31:21.910230667Z") == datetime(
        2026, 11, 27, 7, 31, 21, 910230, tzinfo=UTC
    )
    assert parse_time("2026-11-27T09:31:21+02:00") == datetime(2026, 11, 27, 7, 31, 21, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("") is None and parse_time(None) is None and parse_time("garbage") is None


def _api_error(cls: type[docker.errors.APIError], status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return cls("boom", response=response, explanation=explanation)


def test_translate_errors() -> None:
    rt = DockerRuntime("unix:///nonexistent/docker.sock")
    assert isinstance(rt._translate(requests.exceptions.ConnectionError("refused")), RuntimeUnavailable)
    assert isinstance(rt._translate(FileNotFoundError(2, "No such file")), RuntimeUnavailable)
    unavailable = rt._translate(docker.errors.DockerException("Error while fetching server API version: x"))
    assert (
        isinstance(unavailable, RuntimeUnavailable)
        and "unix:///nonexistent/docker.sock" in unavailable.message
    )
    missing = _api_error(docker.errors.NotFound, 404, "No such container: abc")
    assert isinstance(rt._translate(missing, container="abc"), ContainerNotFound)
    missing_image = _api_error(docker.errors.ImageNotFound, 404, "No such image: localhost/x:1")
    assert isinstance(rt._translate(missing_image, image="localhost/x:1"), ImageNotFound)
    port = _api_error(
        docker.errors.APIError,
        500,
        "driver failed programming external connectivity: port is already allocated",
    )
    assert isinstance(rt._translate(port), PortInUse)
    clash = _api_error(docker.errors.APIError, 409, 'Conflict. The container name "/x" is already in use')
    assert isinstance(rt._translate(clash), EngineError)
    bug = ValueError("a bug")
    assert rt._translate(bug) is bug


def test_stats_arithmetic_cgroup_v1() -> None:
    raw = {
        "read": "2026-11-27T07:31:22.946338943Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"total_inactive_file": 200}},
        "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 7}, "eth1": {"rx_bytes": 1, "tx_bytes": 1}},
    }
    stats = DockerRuntime()._stats_from("c1", raw)
    assert stats.cpu_percent == 40.0  # 200/1000 of the machine = 0.4 of 2 CPUs → 40 % of one CPU
    assert (stats.memory_used, stats.memory_limit, stats.net_rx, stats.net_tx) == (800, 4000, 6, 8)


def test_stats_of_stopped_container_are_zero() -> None:
    stats = DockerRuntime()._stats_from("c1", {"read": "0001-01-01T00:00:00Z", "memory_stats": {}})
    assert (stats.cpu_percent, stats.memory_used, stats.net_rx) == (0.0, 0, 0)


async def test_engine_down_is_clear_and_fast(tmp_path: Path) -> None:
    rt = DockerRuntime(f"unix://{tmp_path}/docker.sock")
    try:
        assert await rt.ping() is False
        with pytest.raises(RuntimeUnavailable, match="does not answer"):
            await rt.list()
    finally:
        await rt.close()


def test_plugin_factory_reads_config(tmp_path: Path) -> None:
    from rivetr_runtime_docker import plugin

    (registration,) = plugin.rivetr_container_runtimes()
    config = RivetrConfig()
    config.runtime.docker_socket = "unix:///run/other-docker.sock"
    runtime = registration.factory(PluginContext(config=config, data_dir=tmp_path))
    assert isinstance(runtime, DockerRuntime)
    assert runtime.base_url == "unix:///run/other-docker.sock" and runtime.name == "docker"


def test_cpu_percent_from_two_one_shot_samples() -> None:
    rt = DockerRuntime()

    def sample(total: int, read: str) -> dict[str, object]:
        return {"read": read, "cpu_stats": {"cpu_usage": {"total_usage": total}}, "precpu_stats": {}}

    first = rt._with_cpu("c1", sample(1_000_000_000, "2026-11-27T07:00:00.000000000Z"), 0.0)
    assert first.cpu_percent == 0.0  # no baseline yet
    second = rt._with_cpu("c1", sample(1_500_000_000, "2026-11-27T07:00:01.000000000Z"), 0.0)
    assert second.cpu_percent == 50.0  # 0.5 s of CPU in 1 s of wall time
    same_tick = rt._with_cpu("c1", sample(1_500_000_000, "2026-11-27T07:00:01.000000000Z"), 0.0)
    assert same_tick.cpu_percent == 50.0  # the engine's same sample again: last value, baseline kept
    assert rt._cpu_baseline["c1"][0] == 1_500_000_000
    # 30 ms later the counter moved by a 36 ms step: too short a window to measure (it would read 120%).
    jitter = rt._with_cpu("c1", sample(1_536_000_000, "2026-11-27T07:00:01.030000000Z"), 0.0)
    assert jitter.cpu_percent == 50.0
    later = rt._with_cpu("c1", sample(1_750_000_000, "2026-11-27T07:00:01.500000000Z"), 0.0)
    assert later.cpu_percent == 50.0  # measured over the whole 0.5 s since the kept baseline


async def test_closed_runtime_raises_runtime_unavailable() -> None:
    rt = DockerRuntime("unix:///nonexistent/docker.sock")
    await rt.close()
    assert await rt.ping() is False
    with pytest.raises(RuntimeUnavailable, match="closed"):
        await rt.inspect("abc")


def test_append_labels_quotes_values() -> None:
    from rivetr_runtime_docker.build import append_labels

    out = append_labels("FROM a\nRUN x\n\n", {"k.one": 'say "hi" $X \\ ok', "k.two": ""})
    label = 'LABEL "k.one"="say \\"hi\\" \\$X \\\\ ok" "k.two"=""'
    assert out == f"FROM a\n{label}\nRUN x\n{label}\n"


def test_labels_go_after_every_from_and_at_the_end() -> None:
    """Every stage starts labelled (the legacy builder leaves earlier stages and a failed build's last step as
    dangling images, which cleanup prunes by label only); the end keeps the final image's labels Rivetr's."""
    from rivetr_runtime_docker.build import append_labels

    dockerfile = (
        "# syntax comment\n"
        "ARG BASE=a\n"
        "FROM --platform=linux/amd64 \\\n"
        "  # a comment inside the instruction\n"
        "  $BASE AS build\n"
        "RUN echo from \\\n"
        "FROM b\n"  # the continued RUN's argument, not an instruction
        "from c\n"
        "COPY --from=build /x /x\n"
        'LABEL rivetr.app="not-mine"\n'
    )
    lines = append_labels(dockerfile, {"rivetr.app": "1"}).splitlines()
    label = 'LABEL "rivetr.app"="1"'
    assert lines == [
        "# syntax comment",
        "ARG BASE=a",
        "FROM --platform=linux/amd64 \\",
        "  # a comment inside the instruction",
        "  $BASE AS build",
        label,
        "RUN echo from \\",
        "FROM b",
        "from c",
        label,
        "COPY --from=build /x /x",
        'LABEL rivetr.app="not-mine"',
        label,
    ]


def test_frame_demux_splits_streams_across_reads_of_any_size() -> None:
    import struct

    from rivetr_runtime_docker.execio import FrameDemux

    frames = [(1, b"hello "), (2, b"warn\n"), (1, b""), (1, b"world" * 1000)]
    wire = b"".join(struct.pack(">BxxxL", stream, len(data)) + data for stream, data in frames)
    for size in (1, 3, 8, 9, 4096, len(wire)):
        demux = FrameDemux()
        pieces = [p for i in range(0, len(wire), size) for p in demux.feed(wire[i : i + size])]
        assert b"".join(d for s, d in pieces if s == 1) == b"hello " + b"world" * 1000
        assert b"".join(d for s, d in pieces if s == 2) == b"warn\n"


def test_pull_reference_split_and_progress_throttling() -> None:
    from rivetr_runtime_docker.pullprogress import ProgressLines, split_reference

    assert split_reference("docker.io/library/redis:7") == ("docker.io/library/redis", "7")
    assert split_reference("127.0.0.1:5000/library/redis") == ("127.0.0.1:5000/library/redis", "latest")
    assert split_reference("ghcr.io/a/b@sha256:abc") == ("ghcr.io/a/b", "sha256:abc")
    progress = ProgressLines(interval=1.0)

    def downloading(current: int, now: float) -> str | None:
        event = {
            "id": "l1",
            "status": "Downloading",
            "progressDetail": {"current": current, "total": 3_000_000},
        }
        return progress.line(event, now)

    assert (
        progress.line({"status": "Pulling from library/redis", "id": "7"}, 0.0)
        == "7: Pulling from library/redis"
    )
    assert downloading(1000, 0.1) == "l1: Downloading 1.0 kB / 3.0 MB"
    assert [downloading(n, 0.1 + n / 1e7) for n in range(2000, 200_000, 1000)] == [None] * 198  # < 1 s later
    assert downloading(1_500_000, 1.2) == "l1: Downloading 1.5 MB / 3.0 MB"
    assert downloading(3_000_000, 1.3) == "l1: Downloading 3.0 MB / 3.0 MB"  # finished: always shown
    assert progress.line({"id": "l1", "status": "Download complete"}, 1.4) == "l1: Download complete"
    assert progress.line({"id": "l1", "status": "Download complete"}, 1.5) is None  # podman repeats it
    assert (
        progress.line({"status": "Status: Downloaded newer image"}, 2.0) == "Status: Downloaded newer image"
    )


def test_pull_errors_name_the_image() -> None:
    runtime = DockerRuntime("unix:///nonexistent.sock")
    missing = runtime.pull_error("docker.io/library/nope:1", "manifest unknown: manifest unknown")
    assert isinstance(missing, ImageNotFound) and "docker.io/library/nope:1" in missing.message
    other = runtime.pull_error("docker.io/library/x:1", "write /var/lib/docker: no space left on device")
    assert isinstance(other, EngineError) and "docker.io/library/x:1" in other.message
