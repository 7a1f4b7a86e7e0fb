"""Build logs: every line goes to subscribers at once and to the database in batches.

A deployment's log is *open* while its pipeline runs: lines are kept in memory as well (build logs are
small), so a subscriber joining mid-build gets the full replay and then every new line with no gap and no
duplicate (the copy and the registration happen without an ``await`` in between). Once closed, the log is
flushed and later readers replay it from the database.

While a log is open, status changes of its deployment are placed between its lines as :class:`StatusMark`
items for followers (``rivetr deploy --follow`` prints each step's header above that step's output, however
short the step). Marks are not stored: a finished deployment's steps are in ``Deployment.steps``.

Writes are batched (one transaction per :data:`FLUSH_INTERVAL` or :data:`FLUSH_LINES`) so a chatty build
does not turn into thousands of SQLite commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select

from rivetr_core.db import Database, utcnow
from rivetr_core.models.apps import DeploymentLog

log = logging.getLogger("rivetr.engine.logs")

FLUSH_INTERVAL = 0.25
FLUSH_LINES = 200
MAX_LINE = 8192  # a single absurd line (minified JS in a build log) must not bloat the DB
QUEUE_LIMIT = 10_000  # a subscriber that stops reading is dropped rather than growing memory without bound


@dataclass(frozen=True, slots=True)
class StatusMark:
    """The deployment's status changed to ``status`` at this point of its log."""

    ts: datetime
    status: str


#: What following a log yields: ``(ts, line)`` or a status mark.
LogItem = tuple[datetime, str] | StatusMark


@dataclass
class _OpenLog:
    lines: list[tuple[datetime, str]] = field(default_factory=list)
    pending: list[tuple[datetime, str]] = field(default_factory=list)
    marks: list[tuple[int, StatusMark]] = field(default_factory=list)  # (number of lines before it, mark)
    subscribers: set[asyncio.Queue[LogItem | None]] = field(default_factory=set)

    def push(self, item: LogItem) -> None:
        for queue in list(self.subscribers):
            if queue.qsize() >= QUEUE_LIMIT:
                self.subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(item)

    def replay(self) -> list[LogItem]:
        """Lines and marks so far, in order."""
        items: list[LogItem] = []
        done = 0
        for before, mark in self.marks:
            items.extend(self.lines[done:before])
            items.append(mark)
            done = before
        items.extend(self.lines[done:])
        return items


class BuildLogStore:
    """Append, read and follow deployment build logs. One per app (``DeploymentService.logs``); compose stacks
    keep their own in ``stack_deployment_logs`` (``model``: a table with ``deployment_id``, ``ts``, ``line``)."""

    def __init__(self, db: Database, model: Any = DeploymentLog) -> None:
        self.db = db
        self.model = model
        self._open: dict[str, _OpenLog] = {}
        # Recently closed logs: a late line (a clone thread still printing after a cancel) must not reopen
        # a log nobody will close again.
        self._closed: deque[str] = deque(maxlen=1000)
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------------------------------- writing
    def open(self, deployment_id: str) -> None:
        self._open.setdefault(deployment_id, _OpenLog())

    def append(self, deployment_id: str, line: str) -> None:
        """Record one line (no trailing newline needed). Never blocks, never raises."""
        entry = self._open.get(deployment_id)
        if entry is None:
            if deployment_id in self._closed:
                return
            entry = self._open[deployment_id] = _OpenLog()
        item = (utcnow(), line.rstrip("\r\n")[:MAX_LINE])
        entry.lines.append(item)
        entry.pending.append(item)
        entry.push(item)
        self._ensure_flusher()
        if len(entry.pending) >= FLUSH_LINES:
            self._wake.set()

    def mark(self, deployment_id: str, status: str) -> None:
        """Place a status change after the lines so far (only while the log is open)."""
        entry = self._open.get(deployment_id)
        if entry is not None:
            mark = StatusMark(utcnow(), status)
            entry.marks.append((len(entry.lines), mark))
            entry.push(mark)

    def tail(self, deployment_id: str, n: int = 20) -> list[str]:
        entry = self._open.get(deployment_id)
        return [line for _, line in entry.lines[-n:]] if entry else []

    async def close(self, deployment_id: str) -> None:
        """Flush and end the log: followers get their last lines, then the end of the stream."""
        entry = self._open.get(deployment_id)
        if entry is None:
            return
        while entry.pending:  # lines may arrive while a batch is written; pop only once all are stored
            await self._write(deployment_id, entry)
        self._open.pop(deployment_id, None)
        self._closed.append(deployment_id)
        for queue in entry.subscribers:
            queue.put_nowait(None)

    async def flush_all(self) -> None:
        for deployment_id, entry in list(self._open.items()):
            await self._write(deployment_id, entry)

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name="build-log-flush")

    async def _flush_loop(self) -> None:
        while self._open:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush_all()
            except Exception:  # a locked DB for a moment must not lose the flusher
                log.warning("flushing build logs failed; retrying", exc_info=True)

    async def _write(self, deployment_id: str, entry: _OpenLog) -> None:
        if not entry.pending:
            return
        batch, entry.pending = entry.pending, []
        try:
            async with self.db.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    insert(self.model),
                    params=[{"deployment_id": deployment_id, "ts": ts, "line": line} for ts, line in batch],
                )
                await session.commit()
        except Exception:
            entry.pending[:0] = batch  # keep them for the next attempt
            raise

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        try:
            await self.flush_all()
        except Exception:
            log.warning("final build-log flush failed", exc_info=True)

    # ------------------------------------------------------------------------------------------- reading
    async def lines(self, deployment_id: str, *, limit: int | None = None) -> list[tuple[datetime, str]]:
        """Every line so far (open logs are served from memory, closed ones from the DB)."""
        entry = self._open.get(deployment_id)
        if entry is not None:
            return list(entry.lines[-limit:] if limit else entry.lines)
        async with self.db.session() as session:
            model = self.model
            query = (
                select(model.ts, model.line)
                .where(model.deployment_id == deployment_id)
                .order_by(col(model.id))
            )
            rows = list((await session.exec(query)).all())
        return [(ts, line) for ts, line in (rows[-limit:] if limit else rows)]

    async def follow(self, deployment_id: str) -> AsyncIterator[LogItem]:
        """Replay the log, then yield new lines (and status marks) until the deployment's pipeline ends."""
        entry = self._open.get(deployment_id)
        if entry is None:
            for line in await self.lines(deployment_id):
                yield line
            return
        queue: asyncio.Queue[LogItem | None] = asyncio.Queue()
        replay = entry.replay()  # copied and subscribed with no await between: no gap, no duplicate
        entry.subscribers.add(queue)
        try:
            for item in replay:
                yield item
            while (item := await queue.get()) is not None:  # type: ignore[assignment]
                yield item
        finally:
            entry.subscribers.discard(queue)
