"""Reading sample history back as at most ``max_points`` evenly spaced points (dashboard graphs)."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

from sqlmodel import col, select

from rivetr_core.db import Database
from rivetr_core.db.engine import isoformat, utcnow
from rivetr_core.models.ops import MetricSample

RANGES = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
#: ``<n>m|h|d`` from 1 minute to 366 days, no leading zeros (also the API's documented pattern).
RANGE_PATTERN = (
    r"^(?:[1-9][0-9]{0,3}m|(?:[1-9][0-9]{0,2}|[1-7][0-9]{3}|8[0-6][0-9]{2}|87[0-7][0-9]|878[0-4])h"
    r"|(?:[1-9][0-9]?|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$"
)
_RANGE = re.compile(r"^([1-9][0-9]{0,3})([mhd])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}
MAX_RANGE = timedelta(days=366)


def parse_range(value: str) -> timedelta:
    """``15m``, ``1h``, ``6h``, ``24h``, ``7d``, ``30d`` … (any ``<n>m|h|d`` up to a year)."""
    if value in RANGES:
        return RANGES[value]
    match = _RANGE.match(value or "")
    if not match:
        raise ValueError("must look like 15m, 1h, 24h or 7d")
    span = timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
    if span > MAX_RANGE:
        raise ValueError("must be at most 366d")
    return span


async def series(
    db: Database, scope: str, app_id: str | None, span: timedelta, max_points: int = 300
) -> list[dict[str, Any]]:
    """Averages over ``max_points`` equal buckets of the last ``span`` (raw and hourly rows both count)."""
    now = utcnow()
    since = now - span
    async with db.session() as session:
        query = select(MetricSample).where(MetricSample.scope == scope, MetricSample.ts >= since)
        if app_id is not None:
            query = query.where(MetricSample.app_id == app_id)
        rows = list((await session.exec(query.order_by(col(MetricSample.ts)))).all())
    if not rows:
        return []
    step = max(span / max_points, timedelta(seconds=1))
    buckets: dict[int, list[MetricSample]] = {}
    for row in rows:
        ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=UTC)
        buckets.setdefault(int((ts - since) / step), []).append(row)
    points = []
    for index in sorted(buckets):
        members = buckets[index]
        n = len(members)
        last = members[-1]
        disks = [m.disk_percent for m in members if m.disk_percent is not None]
        point = {
            "ts": isoformat(since + step * index),
            "cpu_percent": round(sum(m.cpu_percent for m in members) / n, 2),
            "memory_used": sum(m.memory_used for m in members) // n,
            "memory_limit": last.memory_limit,
            "net_rx": last.net_rx,
            "net_tx": last.net_tx,
        }
        if scope == "host":
            point["disk_percent"] = round(sum(disks) / len(disks), 2) if disks else None
        else:
            point["containers"] = last.containers
        points.append(point)
    return points
