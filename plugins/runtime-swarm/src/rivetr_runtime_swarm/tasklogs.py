"""The log of a task on another node, through the manager: ``GET /tasks/{id}/logs``.

The manager's engine has no container of a task another node runs, so the container log the docker runtime
reads is not there; the swarm's log broker asks the node's agent for it instead (the task's log driver must
be one the engine can read back: ``json-file``, ``local``, ``journald``). The answer is the container log's
multiplexed stream (an 8-byte header per frame), lines prefixed with their timestamp.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rivetr_runtime_docker.engine import shutdown_response
from rivetr_runtime_docker.logs import log_line, log_params, multiplexed_frames
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
    yield from multiplexed_frames(response.raw)


async def task_logs(
    runtime: SwarmRuntime, task_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
) -> AsyncIterator[LogLine]:
    """The last ``tail`` lines of the task's log (``tail < 0``: all), then new ones while ``follow``."""
    params = log_params(tail, follow, since)
    pending = {"stdout": b"", "stderr": b""}
    produce = functools.partial(_frames, runtime, task_id, params)
    async for stream, chunk in runtime._stream(produce, container=task_id):
        *complete, pending[stream] = (pending[stream] + chunk).split(b"\n")
        for raw_line in complete:
            yield log_line(stream, raw_line)
    for stream, rest in pending.items():
        if rest:
            yield log_line(stream, rest)
