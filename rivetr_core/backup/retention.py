"""Which backups a schedule's retention lets go: grandfather-father-son, as restic and borg count it.

A backup is kept when any rule keeps it; the rest expire:

* ``keep_last`` — the newest N;
* ``keep_daily`` — the newest of each day, for the N most recent days that have a backup;
* ``keep_weekly`` — the newest of each ISO week, for the N most recent weeks that have a backup.

Days and weeks are counted among those that *have* backups (not back from today), so a schedule that stopped
running for a month does not expire everything it had at its next run. Days and weeks are those of the
schedule's time zone. 0 turns a rule off; with every rule off nothing expires (a schedule always sets one).
Pure: no I/O, stdlib only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime, tzinfo


def _newest_per_period(
    ordered: list[tuple[str, datetime]], periods: int, period: Callable[[datetime], Hashable]
) -> set[str]:
    kept: set[str] = set()
    seen: set[Hashable] = set()
    for ident, at in ordered:  # newest first: the first of a period is its newest
        key = period(at)
        if key in seen:
            continue
        if len(seen) == periods:
            break
        seen.add(key)
        kept.add(ident)
    return kept


def keep_set(
    backups: Iterable[tuple[str, datetime]],
    *,
    keep_last: int = 0,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    tz: tzinfo = UTC,
) -> set[str]:
    """Ids of the backups the rules keep, from ``(id, started_at)`` pairs (naive times are UTC)."""
    local = [(i, (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(tz)) for i, t in backups]
    ordered = sorted(local, key=lambda item: (item[1], item[0]), reverse=True)
    if not (keep_last or keep_daily or keep_weekly):
        return {i for i, _ in ordered}
    kept = {i for i, _ in ordered[: max(0, keep_last)]}
    if keep_daily > 0:
        kept |= _newest_per_period(ordered, keep_daily, lambda at: at.date())
    if keep_weekly > 0:
        kept |= _newest_per_period(ordered, keep_weekly, lambda at: at.isocalendar()[:2])
    return kept


def expired(
    backups: Iterable[tuple[str, datetime]],
    *,
    keep_last: int = 0,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    tz: tzinfo = UTC,
) -> list[str]:
    """Ids of the backups no rule keeps, oldest first (the order they are deleted in)."""
    items = list(backups)
    kept = keep_set(items, keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly, tz=tz)
    gone = [(t if t.tzinfo else t.replace(tzinfo=UTC), i) for i, t in items if i not in kept]
    return [i for _, i in sorted(gone)]
