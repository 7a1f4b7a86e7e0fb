"""The event log of managed services: what Rivetr did to a service's container (pull progress, start,
readiness, errors), kept in memory, the last lines per service.

A service's own output is its container's log; before a container exists (pulling the image, a pull that
failed) the API's ``GET /api/services/{id}/logs`` shows these lines instead, so a user sees why a service is
not running yet. Nothing here holds a credential: callers write only image names, states and engine messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

#: Lines kept per service (a pull of a big image writes a few hundred progress lines; the tail is what counts).
KEEP = 200


@dataclass(frozen=True)
class Event:
    line: str
    ts: datetime
    stream: str = "rivetr"


class EventLog:
    """Per service: the last :data:`KEEP` lines, and a wake-up for live followers."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[Event]] = {}
        self._changed: dict[str, asyncio.Event] = {}

    def add(self, service_id: str, line: str) -> None:
        self._lines.setdefault(service_id, deque(maxlen=KEEP)).append(Event(line, datetime.now(UTC)))
        waiter = self._changed.pop(service_id, None)
        if waiter is not None:
            waiter.set()

    def tail(self, service_id: str, n: int) -> list[Event]:
        lines = list(self._lines.get(service_id, ()))
        return lines[-n:] if n > 0 else []

    def forget(self, service_id: str) -> None:
        self._lines.pop(service_id, None)
        waiter = self._changed.pop(service_id, None)
        if waiter is not None:
            waiter.set()

    async def wait(self, service_id: str, timeout: float) -> None:
        """Until a line is added for the service (or ``timeout`` seconds)."""
        waiter = self._changed.setdefault(service_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
