"""The log of a task on another node, through the manager: ``GET /tasks/{id}/logs``.

The manager's engine has no container of a task another node runs, so the container log the docker runtime
reads is not there; the swarm's log broker asks the node's agent for it instead (the task's log driver must
be one the engine can read back: ``json-file``, ``local``, ``journald``). The answer is the container log's
multiplexed stream (an 8-byte header per frame), lines prefixed with their timestamp.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rivetr_runtime_docker.engine import parse_time, shutdown_response
from rivetr_runtime_docker.streams import StreamHandle

from rivetr_core.contract import LogLine

if TYPE_CHECKING:
    from .runtime import SwarmRuntime


def _frames(
    runtime: SwarmRuntime, task_id: str, params: dict[str, Any], handle: StreamHandle
) -> Iterator[tuple[str, bytes]]:
    """Blocking: ``(stream, data)`` frames of the task's log."""
    api = runtime._api()
    response = api._get(api._url("/tasks/{0}/logs", task_id), params=params, stream=True, timeout=None)
    handle.on_cancel(lambda: shutdown_response(response))
    api._raise_for_status(response)
    raw = response.raw
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


def _line(stream: str, raw_line: bytes) -> LogLine:
    text = raw_line.decode("utf-8", "replace").rstrip("\r")
    stamp, sep, rest = text.partition(" ")
    ts = parse_time(stamp) if sep else None
    return LogLine(line=rest if ts else text, stream=stream, ts=ts)  # type: ignore[arg-type]


async def task_logs(
    runtime: SwarmRuntime, task_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
) -> AsyncIterator[LogLine]:
    """The last ``tail`` lines of the task's log (``tail < 0``: all), then new ones while ``follow``."""
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
    produce = functools.partial(_frames, runtime, task_id, params)
    async for stream, chunk in runtime._stream(produce, container=task_id):
        *complete, pending[stream] = (pending[stream] + chunk).split(b"\n")
        for raw_line in complete:
            yield _line(stream, raw_line)
    for stream, rest in pending.items():
        if rest:
            yield _line(stream, rest)
