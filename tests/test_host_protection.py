"""Host protection of app containers on both real engines: log rotation keeps a chatty app's log files within
their cap on disk, and the OOM score makes the kernel pick the app before Rivetr or the engine.

The log files are measured where the engine writes them (``LogPath`` of the engine's inspect: dockerd's
``<id>-json.log`` plus its rotated ``.1``, ``.2`` …; podman's single ``ctr.log``, which conmon truncates).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from rivetr_core.contract import ContainerRuntime
from tests.support.engines import BASE_IMAGE, run_container

LINE = "x" * 80
#: Prints numbered lines as fast as the shell can: ~10-30 MB/s here, far beyond any cap below.
CHATTY = ["sh", "-c", f'i=0; while :; do i=$((i+1)); echo "$i {LINE}"; done']


async def _inspect(runtime: Any, container_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(lambda: runtime._api().inspect_container(container_id))


def _log_bytes(log_path: str) -> int:
    """Bytes of the container's log file and its rotated siblings (``<LogPath>.1`` …) on disk."""
    directory, base = os.path.split(log_path)
    total = 0
    for name in os.listdir(directory):
        if name == base or name.startswith(base + "."):
            try:
                total += os.path.getsize(os.path.join(directory, name))
            except FileNotFoundError:
                continue  # rotated away between listdir and stat
    return total


async def _last_counter(runtime: ContainerRuntime, container_id: str) -> int:
    """The highest line number the app has printed (from the engine's log API)."""
    for _ in range(20):
        lines = [entry.line async for entry in runtime.logs(container_id, tail=5)]
        numbers = [int(line.split()[0]) for line in lines if line.split() and line.split()[0].isdigit()]
        if numbers:
            return max(numbers)
        await asyncio.sleep(0.1)  # podman's file may just have been truncated
    raise AssertionError("the chatty app's log shows no line")


async def test_chatty_app_keeps_its_logs_within_the_cap(
    runtime: ContainerRuntime, test_labels: dict[str, str]
) -> None:
    size, files = 64 * 1024, 3
    cap = size * files
    info = await run_container(
        runtime, BASE_IMAGE, test_labels, "chatty", command=CHATTY, log_max_size=size, log_max_files=files
    )
    log_path = (await _inspect(runtime, info.id))["LogPath"]
    assert log_path, "the engine reports no log file"
    largest = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        largest = max(largest, _log_bytes(log_path))
        await asyncio.sleep(0.1)
    written = await _last_counter(runtime, info.id) * (len(LINE) + 2)
    assert written > 5 * cap, f"the app wrote only {written} bytes: the test proves nothing"
    # One line of slack: dockerd rotates after the write that crosses max-size.
    assert largest <= cap + 4096, f"{runtime.name}: log files reached {largest} bytes (cap {cap})"


async def test_oom_score_adj_reaches_the_container(
    runtime: ContainerRuntime, test_labels: dict[str, str]
) -> None:
    info = await run_container(
        runtime, BASE_IMAGE, test_labels, "oom", command=["sleep", "60"], oom_score_adj=500
    )
    assert (await _inspect(runtime, info.id))["HostConfig"]["OomScoreAdj"] == 500
    result = await runtime.exec(info.id, ["cat", "/proc/1/oom_score_adj"])
    assert result.output.strip() == "500", result


async def test_without_rotation_settings_the_engine_logging_is_untouched(
    runtime: ContainerRuntime, test_labels: dict[str, str]
) -> None:
    """``log_max_size=None`` leaves the engine's own log driver and options (``[runtime] log_max_size = 0``)."""
    info = await run_container(runtime, BASE_IMAGE, test_labels, "plain", command=["sleep", "60"])
    config = (await _inspect(runtime, info.id))["HostConfig"]
    assert not (config.get("LogConfig") or {}).get("Config"), config.get("LogConfig")
    assert not config.get("OomScoreAdj")
