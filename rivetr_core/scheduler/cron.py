"""Cron expressions → the next run times, computed in a short-lived child process.

Importing croniter (and the dateutil it pulls in) costs the server ~3.4 MB of resident memory for good (measured:
RSS before/after ``import croniter`` plus one ``get_next`` in a fresh interpreter), and the control plane idles
near its 100 MB ceiling. The scheduler stores each job's ``next_run_at``, so cron is parsed only when a job is
created or has just been claimed: then :func:`next_run` runs ``python -m rivetr_core.scheduler.cron EXPR TZ
AFTER`` and reads ISO times back. The server process never imports croniter.

Command line (also handy by hand)::

    python -m rivetr_core.scheduler.cron "0 3 * * *" Europe/Paris 2026-03-28T12:00:00Z [COUNT]

prints COUNT (default 1) next run times in UTC, one per line, or exits 2 with the reason on stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime


class CronError(ValueError):
    """A cron expression or time zone that does not parse; the message names the problem."""


def compute(expr: str, tz: str, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` times (aware, UTC) ``expr`` fires in time zone ``tz`` strictly after ``after``.

    Runs croniter in this process: call it from the child (or tests), the server calls :func:`next_run`."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import croniter  # the whole point of this module: imported only here

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {tz!r} (use an IANA name such as UTC or Europe/Paris)") from None
    if not croniter.is_valid(expr):
        raise CronError(f"invalid cron expression {expr!r} (five fields: minute hour day month weekday)")
    if len(expr.split()) != 5:
        raise CronError(f"invalid cron expression {expr!r} (five fields: minute hour day month weekday)")
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    itr = croniter(expr, after.astimezone(zone))
    return [itr.get_next(datetime).astimezone(UTC) for _ in range(count)]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def next_runs(expr: str, tz: str, after: datetime, count: int = 1) -> list[datetime]:
    """:func:`compute` in a child process (see the module docstring for why). Raises :class:`CronError`."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rivetr_core.scheduler.cron",
        expr,
        tz,
        _iso(after if after.tzinfo else after.replace(tzinfo=UTC)),
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    if proc.returncode == 2:
        raise CronError(err.decode(errors="replace").strip())
    if proc.returncode != 0:
        raise RuntimeError(f"cron helper failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return [datetime.fromisoformat(line.replace("Z", "+00:00")) for line in out.decode().split()]


async def next_run(expr: str, tz: str, after: datetime) -> datetime:
    return (await next_runs(expr, tz, after, 1))[0]


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print("usage: python -m rivetr_core.scheduler.cron EXPR TZ AFTER [COUNT]", file=sys.stderr)
        return 2
    expr, tz, after_text = argv[:3]
    try:
        after = datetime.fromisoformat(after_text.replace("Z", "+00:00"))
        count = int(argv[3]) if len(argv) == 4 else 1
        for value in compute(expr, tz, after, max(1, min(count, 1000))):
            print(_iso(value))
    except (CronError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
