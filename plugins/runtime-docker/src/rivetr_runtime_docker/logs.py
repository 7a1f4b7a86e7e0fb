"""Container logs: the engine's (multiplexed) log stream as :class:`LogLine` objects."""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

from rivetr_core.contract import LogLine, RuntimeUnavailable

from .engine import EngineClient, EngineError, parse_time, shutdown_response
from .streams import StreamHandle

_ROTATED_MARK = "is not a valid container log line"
_ROTATION_RETRIES = 3


def log_params(tail: int | None, follow: bool, since: datetime | None) -> dict[str, Any]:
    """The query of the engine's log endpoints (containers' and swarm tasks'), timestamps on."""
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": 1 if follow else 0,
        "tail": "all" if tail is None or tail < 0 else str(tail),
    }
    if since is not None:
        params["since"] = int(since.timestamp())
    return params


def multiplexed_frames(raw: Any) -> Iterator[tuple[str, bytes]]:
    """Blocking: ``(stream, data)`` frames of an engine log stream with 8-byte multiplex headers."""
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


def log_line(stream: str, raw_line: bytes) -> LogLine:
    """One line of a timestamped log stream: the engine's timestamp taken off the text."""
    text = raw_line.decode("utf-8", "replace").rstrip("\r")
    stamp, sep, rest = text.partition(" ")
    ts = parse_time(stamp) if sep else None
    return LogLine(line=rest if ts else text, stream=stream, ts=ts)  # type: ignore[arg-type]


class LogsMixin(EngineClient):
    """The ``logs`` part of the runtime Protocol."""

    def _log_frames(
        self, container_id: str, params: dict[str, Any], tty: bool, handle: StreamHandle
    ) -> Iterator[tuple[str, bytes]]:
        """Blocking: yield ``(stream, data)`` frames of the container's log (8-byte multiplex headers unless
        the container has a TTY)."""
        api = self._api()
        response = api._get(
            api._url("/containers/{0}/logs", container_id), params=params, stream=True, timeout=None
        )
        handle.on_cancel(lambda: shutdown_response(response))
        api._raise_for_status(response)
        raw = response.raw
        if tty:
            while chunk := raw.read1(65536) if hasattr(raw, "read1") else raw.read(4096):
                yield "stdout", chunk
            return
        yield from multiplexed_frames(raw)

    async def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]:
        """The last ``tail`` lines (``tail < 0``: all), then new ones while ``follow``; each with its stream
        and engine timestamp. A followed log ends when the container stops; raises RuntimeUnavailable when
        the engine goes away."""
        data = await self._call(lambda: self._api().inspect_container(container_id), container=container_id)
        tty = bool((data.get("Config") or {}).get("Tty"))
        params = log_params(tail, follow, since)
        pending = {"stdout": b"", "stderr": b""}
        to_line = log_line
        produce = functools.partial(self._log_frames, container_id, params, tty)
        for attempt in range(_ROTATION_RETRIES + 1):
            started = False
            try:
                async for stream, chunk in self._stream(produce, container=container_id):
                    started = True
                    buffered = pending[stream] + chunk
                    *complete, pending[stream] = buffered.split(b"\n")
                    for raw_line in complete:
                        yield to_line(stream, raw_line)
                break
            except EngineError as exc:
                # Podman reads its k8s-file log itself; when it rotates the file mid-read it answers with
                # "... is not a valid container log line" before any data. Reading again sees the new file.
                if started or attempt == _ROTATION_RETRIES or _ROTATED_MARK not in str(exc):
                    raise
                await asyncio.sleep(0.05)
        for stream, rest in pending.items():
            if rest:
                yield to_line(stream, rest)
        if follow and not await self._answers():
            raise RuntimeUnavailable(f"{self.name} engine at {self.base_url} went away while following logs")
