"""Printing for the CLI: JSON for machines (``--json``), aligned tables and key/value blocks for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def human_size(size: int | None) -> str:
    """Bytes for people: ``-`` when unknown, else B/KiB/MiB/GiB."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain aligned table (no box drawing: it survives pipes, grep and narrow terminals)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"{key + ':':<{width + 1}} {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def short_time(iso: str | None) -> str:
    """``2026-11-27T07:30:45.123Z`` → ``2026-11-27 07:30:45``."""
    return iso.replace("T", " ")[:19] if iso else "-"


def resources_line(latest: dict[str, Any] | None) -> str:
    """``cpu 1.3%, memory 12.4 MiB / 512.0 MiB (1 container)`` from the metrics history's ``latest`` (an app's or a
    service's)."""
    if not latest:
        return "-"
    mib = 1024 * 1024
    limit = f" / {latest['memory_limit'] / mib:.1f} MiB" if latest.get("memory_limit") else ""
    return (
        f"cpu {latest.get('cpu_percent', 0):.1f}%, memory {latest.get('memory_used', 0) / mib:.1f} MiB{limit}"
        f" ({latest.get('containers', 0)} container{'s' if latest.get('containers') != 1 else ''})"
    )
