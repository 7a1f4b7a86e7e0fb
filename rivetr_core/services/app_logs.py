"""An app's runtime log, searched: a time window (``since``/``until``), a case-insensitive text filter (``q``) and
the last ``tail`` matching lines, as ``GET /api/apps/{id}/logs`` and ``rivetr logs`` answer it.

The engine filters by ``since`` itself (whole seconds on Docker's API, so the exact bound is applied here
again); ``until`` and ``q`` are applied here, over at most :data:`MAX_LINES` of the newest lines, so a search of
a long log costs a bounded read. Without ``until`` and ``q`` the engine sends only the last ``tail`` lines.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rivetr_core.contract.runtime import LogLine
from rivetr_core.db.engine import isoformat

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: The most lines one answer holds (``tail``) and the most a search reads from the engine.
MAX_LINES = 100_000
#: Longest ``q``: a search term, not a document.
MAX_QUERY = 200

_RELATIVE = re.compile(r"^(\d{1,7})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
TIME_HELP = "an RFC 3339 time with its zone (2026-01-31T12:00:00Z) or a duration ago (30s, 10m, 2h, 7d)"


def parse_log_time(value: str, now: datetime | None = None) -> datetime:
    """``10m`` → ten minutes before ``now``; ``2026-01-31T12:00:00Z`` (or ``+01:00``) → that instant, in UTC.
    Raises ``ValueError`` (naming both accepted forms) for anything else, a time without a zone included:
    which zone a bare time meant cannot be guessed."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        # fromisoformat takes "Z" (Python 3.11) and a space for the "T", as RFC 3339 allows.
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be {TIME_HELP}") from None
    if stamp.tzinfo is None:
        raise ValueError(f"needs a zone (Z or +hh:mm): must be {TIME_HELP}")
    return stamp.astimezone(UTC)


def matches(entry: LogLine, *, since: datetime | None, until: datetime | None, needle: str | None) -> bool:
    """Whether a line passes the filters. A line without a timestamp (an engine that gives none) is kept by
    the time window: it cannot be placed, and dropping output silently is worse."""
    if entry.ts is not None:
        ts = entry.ts if entry.ts.tzinfo else entry.ts.replace(tzinfo=UTC)
        if since is not None and ts < since:
            return False
        if until is not None and ts > until:
            return False
    return needle is None or needle in entry.line.casefold()


async def select_lines(
    lines: AsyncIterator[LogLine],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    tail: int = 100,
) -> list[LogLine]:
    """The last ``tail`` lines of ``lines`` that pass :func:`matches`, oldest first."""
    needle = q.casefold() if q else None
    kept: deque[LogLine] = deque(maxlen=max(tail, 0))
    async for entry in lines:
        if matches(entry, since=since, until=until, needle=needle):
            kept.append(entry)
    return list(kept)


async def app_logs(
    ctx: RivetrContext,
    app_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    tail: int = 100,
    replica: int = 0,
) -> list[LogLine]:
    """The app's running container's (replica ``replica``'s) lines in the window that contain ``q`` (case-insensitive), the last
    ``tail`` of them. ``NotFound`` for an unknown app, ``Conflict`` (``no_container``) when nothing runs,
    ``RuntimeUnavailable`` without an engine; ``ValueError`` never (the API validated the values)."""
    container_id = await ctx.services.deployments.running_container(app_id, replica=replica)
    runtime = await ctx.runtime()
    searching = bool(q) or until is not None
    # A search reads the newest MAX_LINES and keeps the matches; a plain read asks the engine for tail only.
    engine_tail = MAX_LINES if searching else min(tail, MAX_LINES)
    lines = runtime.logs(container_id, tail=engine_tail, follow=False, since=since)
    return await select_lines(lines, since=since, until=until, q=q, tail=min(tail, MAX_LINES))


def as_text(entries: list[LogLine]) -> str:
    """The download's form: ``<time> <stream> <line>`` per line, the time as the JSON answer writes it (UTC,
    milliseconds, Z; ``-`` where the engine gave none), as ``grep``/``less`` read it."""
    out = []
    for entry in entries:
        stamp = isoformat(entry.ts) or "-"
        out.append(f"{stamp} {entry.stream} {entry.line}\n")
    return "".join(out)
