"""``rivetr tasks list|add|update|remove|run|runs APP ...``: an app's scheduled tasks, and ``rivetr schedules
deploy|deployments|cancel APP ...``: its scheduled deployments (see docs/tasks.md). Over
``/api/apps/{id}/tasks`` and ``/api/apps/{id}/scheduled-deployments``."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .client import CliError, Connection, complete_app, connection_options, json_option
from .output import print_json, short_time, table


def _task(client: Any, app_id: str, ref: str) -> dict[str, Any]:
    for row in client.get(f"/api/apps/{app_id}/tasks")["items"]:
        if ref in (row["id"], row["name"]):
            return row  # type: ignore[no-any-return]
    raise CliError(f"no task {ref!r} (give its name or id; see rivetr tasks list)")


def _duration(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def _result(run: dict[str, Any] | None) -> str:
    if run is None:
        return "-"
    code = "" if run["exit_code"] is None else f" (exit {run['exit_code']})"
    return f"{run['status']}{code}"


@click.group()
def tasks() -> None:
    """An app's scheduled tasks: commands run in its running container on a cron (docs/tasks.md)."""


@tasks.command("list")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def tasks_list(app: str, conn: Connection, as_json: bool) -> None:
    """The app's tasks with their schedule, next run and last result."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.get(f"/api/apps/{found['id']}/tasks")["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no tasks")
        return
    table(
        [
            (
                r["name"],
                f"{r['schedule']} ({r['timezone']})",
                "yes" if r["enabled"] else "no",
                short_time(r["next_run_at"]) if r["next_run_at"] else "-",
                _result(r["last_run"]),
                r["command"] if len(r["command"]) <= 50 else r["command"][:49] + "…",
            )
            for r in rows
        ],
        ["name", "schedule", "enabled", "next run", "last run", "command"],
    )


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@tasks.command("add")
@click.argument("app", shell_complete=complete_app)
@click.option("--name", required=True, help="Unique per app: a-z, 0-9, '-' and '_'.")
@click.option("--command", "command", required=True, help="Shell text, run with sh -c in the container.")
@click.option("--schedule", required=True, help="Cron, five fields, e.g. '0 3 * * *'.")
@click.option("--timezone", help="IANA time zone of the cron (default UTC).")
@click.option("--timeout", type=int, help="Seconds before the command is killed (default 300).")
@click.option("--disabled", is_flag=True, help="Create it disabled (Run now still works).")
@connection_options
@json_option
def tasks_add(
    app: str,
    name: str,
    command: str,
    schedule: str,
    timezone: str | None,
    timeout: int | None,
    disabled: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Add a task: ``rivetr tasks add web --name prune --command 'find /tmp -mtime +1 -delete' --schedule
    '0 3 * * *'``."""
    body = _body(name=name, command=command, schedule=schedule, timezone=timezone, timeout=timeout)
    body["enabled"] = not disabled
    with conn.client() as client:
        found = client.resolve_app(app)
        row = client.post(f"/api/apps/{found['id']}/tasks", body)
    if as_json:
        print_json(row)
        return
    nxt = short_time(row["next_run_at"]) if row["next_run_at"] else "none (disabled)"
    click.echo(f"added task {row['name']} to {found['name']}; next run: {nxt}")


@tasks.command("update")
@click.argument("app", shell_complete=complete_app)
@click.argument("task")
@click.option("--name", help="A new name.")
@click.option("--command", "command")
@click.option("--schedule")
@click.option("--timezone")
@click.option("--timeout", type=int)
@click.option("--enable/--disable", "enabled", default=None, help="Turn the schedule on or off.")
@connection_options
@json_option
def tasks_update(
    app: str,
    task: str,
    name: str | None,
    command: str | None,
    schedule: str | None,
    timezone: str | None,
    timeout: int | None,
    enabled: bool | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Change TASK (name or id): only the options given change."""
    body = _body(
        name=name, command=command, schedule=schedule, timezone=timezone, timeout=timeout, enabled=enabled
    )
    if not body:
        raise CliError("nothing to change: give at least one option (see --help)")
    with conn.client() as client:
        found = client.resolve_app(app)
        row = _task(client, found["id"], task)
        row = client.put(f"/api/apps/{found['id']}/tasks/{row['id']}", body)
    if as_json:
        print_json(row)
        return
    click.echo(f"updated task {row['name']} of {found['name']}")


@tasks.command("remove")
@click.argument("app", shell_complete=complete_app)
@click.argument("task")
@connection_options
def tasks_remove(app: str, task: str, conn: Connection) -> None:
    """Delete TASK (name or id) with its run history."""
    with conn.client() as client:
        found = client.resolve_app(app)
        row = _task(client, found["id"], task)
        client.delete(f"/api/apps/{found['id']}/tasks/{row['id']}")
    click.echo(f"removed task {row['name']} from {found['name']}")


@tasks.command("run")
@click.argument("app", shell_complete=complete_app)
@click.argument("task")
@click.option("--no-wait", is_flag=True, help="Return once started instead of waiting for the result.")
@connection_options
@json_option
def tasks_run(app: str, task: str, no_wait: bool, conn: Connection, as_json: bool) -> None:
    """Run TASK now and print its output; exits 1 unless it succeeded."""
    with conn.client() as client:
        found = client.resolve_app(app)
        row = _task(client, found["id"], task)
        base = f"/api/apps/{found['id']}/tasks/{row['id']}"
        run = client.post(f"{base}/run")
        while not no_wait and run["status"] == "running":
            time.sleep(0.5)
            run = client.get(f"{base}/runs/{run['id']}")
    if as_json:
        print_json(run)
    elif no_wait:
        click.echo(f"started {row['name']}; follow it with: rivetr tasks runs {found['name']} {row['name']}")
    else:
        if run["output"]:
            click.echo(run["output"], nl=not run["output"].endswith("\n"))
        err = f": {run['error']}" if run["error"] else ""
        click.echo(f"{row['name']}: {_result(run)} in {_duration(run['duration_ms'])}{err}", err=True)
    if not no_wait and run["status"] != "succeeded":
        sys.exit(1)


@tasks.command("runs")
@click.argument("app", shell_complete=complete_app)
@click.argument("task")
@click.option("--output", "show_output", is_flag=True, help="Print each run's output too.")
@connection_options
@json_option
def tasks_runs(app: str, task: str, show_output: bool, conn: Connection, as_json: bool) -> None:
    """TASK's latest runs, newest first."""
    with conn.client() as client:
        found = client.resolve_app(app)
        row = _task(client, found["id"], task)
        runs = client.get(f"/api/apps/{found['id']}/tasks/{row['id']}/runs")["items"]
    if as_json:
        print_json(runs)
        return
    if not runs:
        click.echo(f"task {row['name']} has not run yet")
        return
    if not show_output:
        # Several control planes (PostgreSQL): which one ran each (``rivetr system control-planes``).
        planes = any(r.get("plane_id") for r in runs)
        table(
            [
                (
                    r["id"][:8],
                    short_time(r["started_at"]),
                    r["trigger"],
                    _result(r),
                    _duration(r["duration_ms"]),
                    *([(r.get("plane_id") or "-")[:8]] if planes else []),
                )
                for r in runs
            ],
            ["run", "started", "trigger", "result", "took", *(["plane"] if planes else [])],
        )
        return
    for r in runs:
        click.echo(
            f"== {short_time(r['started_at'])} {r['trigger']} {_result(r)} {_duration(r['duration_ms'])}"
        )
        if r["error"]:
            click.echo(f"   {r['error']}")
        if r["output"]:
            click.echo(r["output"], nl=not r["output"].endswith("\n"))


# -- scheduled deployments: registered on ``rivetr schedules`` (backup_cmd.py) -------------------------------


@click.command("deploy")
@click.argument("app", shell_complete=complete_app)
@click.option("--at", "at", metavar="TIME", help="Once, at this RFC 3339 time (2026-05-01T03:00:00Z).")
@click.option("--cron", "cron", metavar="EXPR", help="Or on this cron, e.g. '0 2 * * *' (nightly).")
@click.option("--timezone", help="IANA time zone of --cron (default UTC).")
@click.option("--no-cache", is_flag=True, help="Build without the layer cache (a clean rebuild).")
@connection_options
@json_option
def schedule_deploy(
    app: str,
    at: str | None,
    cron: str | None,
    timezone: str | None,
    no_cache: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Deploy APP at a set time (--at) or on a cron (--cron)."""
    if (at is None) == (cron is None):
        raise CliError("give either --at TIME or --cron EXPR")
    body = _body(at=at, schedule=cron, timezone=timezone)
    body["no_cache"] = no_cache
    with conn.client() as client:
        found = client.resolve_app(app)
        row = client.post(f"/api/apps/{found['id']}/scheduled-deployments", body)
    if as_json:
        print_json(row)
        return
    click.echo(f"scheduled deployment {row['id']} of {found['name']}; next: {short_time(row['next_run_at'])}")


@click.command("deployments")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def schedule_deployments(app: str, conn: Connection, as_json: bool) -> None:
    """APP's scheduled deployments with their next run."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.get(f"/api/apps/{found['id']}/scheduled-deployments")["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no scheduled deployments")
        return
    table(
        [
            (
                r["id"],
                short_time(r["at"]) if r["at"] else f"{r['schedule']} ({r['timezone']})",
                "yes" if r["no_cache"] else "no",
                r["status"],
                short_time(r["next_run_at"]) if r["next_run_at"] else "-",
                r["last_deployment_id"] or r["last_error"] or "-",
            )
            for r in rows
        ],
        ["id", "when", "no cache", "status", "next run", "last"],
    )


@click.command("cancel")
@click.argument("app", shell_complete=complete_app)
@click.argument("scheduled_id")
@connection_options
def schedule_cancel(app: str, scheduled_id: str, conn: Connection) -> None:
    """Cancel APP's scheduled deployment SCHEDULED_ID."""
    with conn.client() as client:
        found = client.resolve_app(app)
        client.delete(f"/api/apps/{found['id']}/scheduled-deployments/{scheduled_id}")
    click.echo(f"cancelled scheduled deployment {scheduled_id} of {found['name']}")


SCHEDULE_COMMANDS = (schedule_deploy, schedule_deployments, schedule_cancel)
