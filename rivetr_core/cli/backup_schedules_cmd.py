"""``rivetr backup schedules list|add|rm``: backups on a cron schedule (an app's volumes, a service's data, a
stack's named volumes, or Rivetr's own state)
to a destination, with retention: keep the newest N (``--keep-last``) and one a day / a week for the last N days
/ weeks (``--keep-daily``, ``--keep-weekly``). See docs/backups.md."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from .backup_destinations_cmd import resolve_destination
from .client import CliError, Connection, complete_app, connection_options, json_option
from .output import print_json, short_time, table

SCHEDULES = "/api/backup-schedules"


@click.group("schedules")
def backup_schedules() -> None:
    """Scheduled backups with retention (their jobs also show in `rivetr schedules list`)."""


@backup_schedules.command("list")
@connection_options
@json_option
def backup_schedules_list(conn: Connection, as_json: bool) -> None:
    """Every backup schedule: what, where, when, retention, next and last run."""
    with conn.client() as client:
        rows = client.list_all(SCHEDULES)
        dests = {d["id"]: d["name"] for d in client.list_all("/api/backup-destinations")} if rows else {}
        apps = {a["id"]: a["name"] for a in client.list_all("/api/apps")} if rows else {}
        services = {s["id"]: s["name"] for s in client.list_all("/api/services")} if rows else {}
        if any(r.get("stack_id") for r in rows):
            services.update({s["id"]: s["name"] for s in client.list_all("/api/stacks")})
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no backup schedules")
        return
    table(
        [
            (
                r["id"],
                _what(r, apps, services),
                dests.get(r["destination_id"], r["destination_id"]),
                f"{r['cron']} ({r['timezone']})",
                r["retention"],
                r.get("enabled", True),
                short_time(r.get("next_run_at")),
                short_time(r.get("last_run_at")),
                r.get("last_status"),
            )
            for r in rows
        ],
        ["id", "what", "to", "schedule", "keep", "enabled", "next run", "last run", "last status"],
    )


def _what(row: dict[str, Any], apps: dict[str, str], services: dict[str, str]) -> str:
    if row["what"] == "state":
        return "state"
    if row.get("service_id"):
        return f"service {services.get(row['service_id'], row['service_id'])}"
    if row.get("stack_id"):  # ids do not collide: the stacks' names share the map
        return f"stack {services.get(row['stack_id'], row['stack_id'])}"
    app_id = row.get("app_id") or ""
    return f"app {apps.get(app_id, app_id)}"


@backup_schedules.command("add")
@click.option("--app", "app", shell_complete=complete_app, help="Back up this app's volumes.")
@click.option("--service", help="Back up this managed service's data (a dump for databases).")
@click.option("--stack", help="Back up this compose stack's named volumes.")
@click.option("--state", is_flag=True, help="Back up Rivetr's own state (database, certificates, config).")
@click.option("--to", "dest", required=True, help="Destination name or id (rivetr backup destinations list).")
@click.option("--cron", required=True, help="Five-field cron expression, e.g. '0 3 * * *' (daily at 03:00).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone the cron is read in.")
@click.option("--keep-last", type=click.IntRange(min=0), default=0, help="Keep the newest N archives.")
@click.option("--keep-daily", type=click.IntRange(min=0), default=0, help="Keep the last of each of N days.")
@click.option(
    "--keep-weekly", type=click.IntRange(min=0), default=0, help="Keep the last of each of N weeks."
)
@connection_options
@json_option
def backup_schedules_add(
    app: str | None,
    service: str | None,
    stack: str | None,
    state: bool,
    dest: str,
    cron: str,
    timezone: str,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    conn: Connection,
    as_json: bool,
) -> None:
    """Add a schedule: ``rivetr backup schedules add --app web --to offsite --cron '0 2 * * *' --keep-daily 7
    --keep-weekly 4``. An archive is deleted when no rule keeps it; at least one rule is needed."""
    if sum(map(bool, (app, service, stack, state))) != 1:
        raise click.UsageError(
            "give one of --app APP (its volumes), --service SERVICE (its data), --stack STACK (its named "
            "volumes) or --state (Rivetr's own state)"
        )
    if not (keep_last or keep_daily or keep_weekly):
        raise click.UsageError("give at least one of --keep-last, --keep-daily, --keep-weekly")
    body: dict[str, Any] = {
        "what": "state" if state else "service" if service else "stack" if stack else "volumes",
        "cron": cron,
        "timezone": timezone,
        "keep_last": keep_last,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
    }
    with conn.client() as client:
        body["destination_id"] = resolve_destination(client, dest)["id"]
        if app:
            body["app_id"] = client.resolve_app(app)["id"]
        if service:
            from .services_cmd import resolve_service

            body["service_id"] = resolve_service(client, service)["id"]
        if stack:
            from .stacks_cmd import resolve_stack

            body["stack_id"] = resolve_stack(client, stack)["id"]
        row = client.post(SCHEDULES, body)
    if as_json:
        print_json(row)
        return
    what = (
        "Rivetr's state"
        if state
        else f"the data of service {service}"
        if service
        else f"the named volumes of stack {stack}"
        if stack
        else f"the volumes of {app}"
    )
    nxt = f", next run {short_time(row['next_run_at'])}" if row.get("next_run_at") else ""
    click.echo(f"added schedule {row['id']}: {what} to {dest} at '{cron}' ({timezone}){nxt}")


@backup_schedules.command("rm")
@click.argument("schedule_id")
@connection_options
def backup_schedules_rm(schedule_id: str, conn: Connection) -> None:
    """Remove a schedule (by id). Archives it made stay, and so do their records."""
    with conn.client() as client:
        found = client.request("DELETE", f"{SCHEDULES}/{quote(schedule_id, safe='')}", ok=(404,))
    if isinstance(found, dict) and "error" in found:
        raise CliError(f"no backup schedule {schedule_id!r} (see rivetr backup schedules list)")
    click.echo(f"removed schedule {schedule_id}")


def _set_enabled(schedule_id: str, enabled: bool, conn: Connection) -> None:
    with conn.client() as client:
        row = client.request(
            "PUT", f"{SCHEDULES}/{quote(schedule_id, safe='')}", json_body={"enabled": enabled}, ok=(404,)
        )
    if isinstance(row, dict) and "error" in row:
        raise CliError(f"no backup schedule {schedule_id!r} (see rivetr backup schedules list)")
    if enabled:
        nxt = f", next run {short_time(row['next_run_at'])}" if row.get("next_run_at") else ""
        click.echo(f"resumed schedule {schedule_id}{nxt}")
    else:
        click.echo(f"paused schedule {schedule_id} (its archives and retention stay as they are)")


@backup_schedules.command("pause")
@click.argument("schedule_id")
@connection_options
def backup_schedules_pause(schedule_id: str, conn: Connection) -> None:
    """Stop a schedule's runs without deleting it (resume brings it back from the next slot)."""
    _set_enabled(schedule_id, False, conn)


@backup_schedules.command("resume")
@click.argument("schedule_id")
@connection_options
def backup_schedules_resume(schedule_id: str, conn: Connection) -> None:
    """Run a paused schedule again, from its next slot on (missed slots are not made up)."""
    _set_enabled(schedule_id, True, conn)
