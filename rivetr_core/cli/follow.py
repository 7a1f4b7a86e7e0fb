"""Following a deployment: pipeline steps as they happen, with the build log under them.

The build log arrives over the WebSocket ``/api/deployments/{id}/logs/stream`` (replay, then live) on a
reader thread, with the status changes in place between its lines; the status is also polled from
``GET /api/deployments/{id}`` twice a second. Without a WebSocket (a proxy that refuses the upgrade) the log
is polled instead. Three renderings: a terminal gets coloured step headers with timings and the log indented
under them; a pipe gets the same as plain lines; ``--json`` gets one JSON object per line
(``{"type": "status"|"log"|"result", ...}``).
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from typing import Any

import click

from .client import RivetrClient

TERMINAL = frozenset({"running", "failed", "cancelled", "superseded", "replaced"})
POLL = 0.5
_COLORS = {"running": "green", "failed": "red", "cancelled": "yellow", "superseded": "yellow"}


#: Pipeline steps in order, and the status during which each runs.
STEPS = (
    ("clone", "cloning"),
    ("build", "building"),
    ("release", "starting"),
    ("start", "starting"),
    ("health", "health_checking"),
    ("switch", "switching"),
)

#: Steps shown only when the deployment recorded them (the app has a release command).
OPTIONAL_STEPS = frozenset({"release"})


def progress_line(status: str, steps: dict[str, Any]) -> str:
    """``clone ✓ 0.4s · build ● · start · health · switch``: done, current and pending steps at a glance."""
    started = [step for step, _ in STEPS if isinstance(steps.get(step), dict)]
    parts = []
    current = False  # release and start share the status "starting": only the first unfinished is current
    for step, during in STEPS:
        if step in OPTIONAL_STEPS and step not in steps:
            continue
        info = steps.get(step) if isinstance(steps.get(step), dict) else None
        if info and isinstance(info.get("duration_ms"), (int, float)):
            failed = status == "failed" and step == started[-1]
            mark = click.style("✗", fg="red") if failed else click.style("✓", fg="green")
            parts.append(f"{step} {mark} {info['duration_ms'] / 1000:.1f}s")
        elif status == during and not current:
            current = True
            parts.append(click.style(f"{step} ●", fg="cyan", bold=True))
        else:
            parts.append(click.style(step, dim=True))
    return " · ".join(parts)


class _Renderer:
    def __init__(self, as_json: bool, tty: bool) -> None:
        self.as_json, self.tty = as_json, tty
        self.started = time.monotonic()

    def status(self, status: str, error: str | None, steps: dict[str, Any] | None = None) -> None:
        if self.as_json:
            click.echo(json.dumps({"type": "status", "status": status, "error": error}))
            return
        elapsed = f"{time.monotonic() - self.started:5.1f}s"
        if self.tty:
            color = _COLORS.get(status, "cyan")
            click.echo(
                click.style(f"==> {status:<15}", fg=color, bold=True)
                + click.style(f" [{elapsed}]  ", dim=True)
                + progress_line(status, steps or {})
            )
        else:
            click.echo(f"==> {status} [{elapsed}]")

    def log(self, line: str, ts: str | None) -> None:
        if self.as_json:
            click.echo(json.dumps({"type": "log", "ts": ts, "line": line}))
        elif self.tty:
            click.echo(click.style("    │ ", dim=True) + line)
        else:
            click.echo(f"    {line}")

    def result(self, dep: dict[str, Any]) -> None:
        if self.as_json:
            click.echo(json.dumps({"type": "result", "deployment": dep}))
            return
        steps = dep.get("steps") or {}
        timings = ", ".join(
            f"{name} {info['duration_ms'] / 1000:.1f}s"
            for name, info in steps.items()
            if isinstance(info, dict) and isinstance(info.get("duration_ms"), (int, float))
        )
        if dep["status"] == "running":
            line = f"deployment {dep['id']} is running" + (f" ({timings})" if timings else "")
            click.echo(click.style(line, fg="green", bold=True) if self.tty else line)
        else:
            reason = dep.get("error") or dep["status"]
            line = f"deployment {dep['id']} {dep['status']}: {reason}"
            click.echo(click.style(line, fg="red", bold=True) if self.tty else line, err=True)
            tail = dep.get("log_tail") or []
            if tail and not self.as_json:
                click.echo("last log lines:", err=True)
                for entry in tail[-10:]:
                    click.echo(f"    {entry}", err=True)


def _ws_reader(client: RivetrClient, deployment_id: str, out: queue.Queue[dict[str, Any] | None]) -> None:
    """Push log lines (and the final ``end`` event) into ``out``; None when the stream is over or failed."""
    try:
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
        url = client.ws_url(f"/api/deployments/{deployment_id}/logs/stream")
        with connect(url, additional_headers=headers, open_timeout=10, proxy=None) as ws:
            for message in ws:
                out.put(json.loads(message))
    except Exception as exc:  # fall back to polling the log (reported once, on stderr)
        out.put({"event": "ws_failed", "error": str(exc)})
    out.put(None)


def follow(
    client: RivetrClient, deployment: dict[str, Any], *, as_json: bool = False, tty: bool | None = None
) -> dict[str, Any]:
    """Render the deployment until it ends; return its final state."""
    tty = sys.stdout.isatty() if tty is None else tty
    render = _Renderer(as_json, tty and not as_json)
    dep_id = deployment["id"]
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    reader = threading.Thread(target=_ws_reader, args=(client, dep_id, lines), daemon=True)
    reader.start()
    ws_open, polled_lines = True, 0
    last_status = None
    shown: set[str] = set()
    dep = deployment
    next_poll = 0.0
    while True:
        now = time.monotonic()
        if now >= next_poll:
            dep = client.get(f"/api/deployments/{dep_id}")
            next_poll = now + POLL
            if dep["status"] != last_status:
                # Headers normally come from the log stream's status events, in place. Polling covers a
                # server or stream without them: a step shorter than the poll interval never shows as the
                # status, so its header comes from the steps recorded so far, and every step is shown in order.
                steps = dep.get("steps") or {}
                for step, during in STEPS:
                    if during not in shown and during != dep["status"] and isinstance(steps.get(step), dict):
                        shown.add(during)
                        render.status(during, None, steps)
                last_status = dep["status"]
                if last_status not in shown:
                    shown.add(last_status)
                    render.status(last_status, dep.get("error"), steps)
            if not ws_open:
                logs = client.get(f"/api/deployments/{dep_id}/logs")
                for entry in logs[polled_lines:]:
                    render.log(entry["line"], entry.get("ts"))
                polled_lines = len(logs)
            if dep["status"] in TERMINAL and not ws_open:
                break
        try:
            item = lines.get(timeout=max(0.05, next_poll - time.monotonic()))
        except queue.Empty:
            continue
        if item is None:
            ws_open = False
            next_poll = 0.0
            continue
        if item.get("event") == "ws_failed":
            polled_lines = 0  # replay everything by polling
            continue
        if "line" in item:
            polled_lines += 1
            render.log(item["line"], item.get("ts"))
        elif item.get("event") == "status" and item["status"] not in shown | TERMINAL:
            # The final status is left to the poll, which carries the error of a failure.
            shown.add(item["status"])
            render.status(item["status"], None, dep.get("steps") or {})
    if dep["status"] not in shown:
        render.status(dep["status"], dep.get("error"))
    render.result(dep)
    return dep
