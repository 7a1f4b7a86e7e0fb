"""``rivetr backup run|list|show|rm|restore-volumes|consistency``: backups of apps' volumes through the server,
their runs, and restoring one (in place or into another app). See docs/backups.md.

A run or a restore is started by the server and goes on there; ``--wait`` follows it (``GET /api/backups/{id}``,
``GET /api/restores/{id}``) and exits 1 when it fails, so a script or cron job notices.
"""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import quote

import click

from .backup_destinations_cmd import resolve_destination
from .client import (
    EXIT_FAILED,
    CliError,
    Connection,
    RivetrClient,
    complete_app,
    connection_options,
    json_option,
)
from .output import fields, human_size, print_json, short_time, table

POLL = 0.5


def duration(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def follow(client: RivetrClient, path: str) -> dict[str, Any]:
    """Poll a run or restore until it leaves ``running``; the final record."""
    while True:
        row: dict[str, Any] = client.get(path)
        if row.get("status") != "running":
            return row
        time.sleep(POLL)


def report(row: dict[str, Any], as_json: bool, label: str) -> None:
    """Print a finished run or restore; exit 1 when it failed."""
    if as_json:
        print_json(row)
    elif row["status"] == "succeeded":
        extra = (
            f" ({human_size(row.get('size_bytes'))}, {duration(row.get('duration_ms'))})"
            if "size_bytes" in row
            else ""
        )
        click.echo(f"{label} {row['id']} succeeded{extra}")
    else:
        click.echo(
            f"error: {label} {row['id']} {row['status']}: {row.get('error') or 'no error recorded'}", err=True
        )
    if row["status"] != "succeeded":
        sys.exit(EXIT_FAILED)


def _names(client: RivetrClient) -> dict[str, str]:
    return {d["id"]: d["name"] for d in client.list_all("/api/backup-destinations")}


def _what(row: dict[str, Any]) -> str:
    """What a run backed up, for a table: state, an app, ``service NAME`` or ``stack NAME``."""
    if row["what"] == "state":
        return "state"
    if row["what"] in ("service", "stack"):
        return f"{row['what']} {row.get(row['what'] + '_name')}"
    return str(row.get("app_name"))


def _described(row: dict[str, Any]) -> str:
    if row["what"] == "state":
        return "Rivetr's state"
    return f"data of {_what(row)}" if row["what"] == "service" else f"volumes of {_what(row)}"


def _volumes(row: dict[str, Any]) -> str:
    return ", ".join(v["name"] if isinstance(v, dict) else str(v) for v in row.get("volumes") or []) or "-"


@click.command("run")
@click.argument("app", shell_complete=complete_app)
@click.option("--to", "dest", required=True, help="Destination name or id (rivetr backup destinations list).")
@click.option(
    "--volume", "volumes", multiple=True, help="Only this volume (repeatable; default: all of them)."
)
@click.option("--wait", is_flag=True, help="Follow the run; exit 1 when it fails.")
@connection_options
@json_option
def backup_run(
    app: str, dest: str, volumes: tuple[str, ...], wait: bool, conn: Connection, as_json: bool
) -> None:
    """Back up APP's volumes and bind mounts to a destination now. The app is paused for the copy, runs its
    pre-backup command, or neither (rivetr backup consistency APP)."""
    with conn.client() as client:
        found = client.resolve_app(app)
        body: dict[str, Any] = {"destination_id": resolve_destination(client, dest)["id"]}
        if volumes:
            body["volumes"] = list(volumes)
        row = client.post(f"/api/apps/{found['id']}/backups", body)
        if wait:
            report(follow(client, f"/api/backups/{quote(row['id'], safe='')}"), as_json, "backup")
            return
    if as_json:
        print_json(row)
        return
    click.echo(
        f"started backup {row['id']} of {found['name']} to {dest}; follow it: rivetr backup show {row['id']}"
    )


@click.command("list")
@click.option("--app", "app", shell_complete=complete_app, help="Only this app's backups.")
@click.option(
    "--status", type=click.Choice(["running", "succeeded", "failed"]), help="Only runs in this state."
)
@connection_options
@json_option
def backup_list(app: str | None, status: str | None, conn: Connection, as_json: bool) -> None:
    """Backup runs, newest first: what, destination, status, size, duration, error."""
    params: dict[str, Any] = {"status": status} if status else {}
    with conn.client() as client:
        if app:
            params["app_id"] = client.resolve_app(app)["id"]
        rows = client.list_all("/api/backups", params)
        dests = _names(client) if rows and not as_json else {}
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no backups yet")
        return
    table(
        [
            (
                r["id"],
                _what(r),
                dests.get(r.get("destination_id") or "", r.get("destination_id")),
                r["status"],
                human_size(r.get("size_bytes")),
                duration(r.get("duration_ms")),
                short_time(r.get("started_at")),
                (r.get("error") or "")[:60],
            )
            for r in rows
        ],
        ["id", "what", "to", "status", "size", "took", "started", "error"],
    )


@click.command("show")
@click.argument("backup_id")
@connection_options
@json_option
def backup_show(backup_id: str, conn: Connection, as_json: bool) -> None:
    """One backup run with its archive key, checksum, volumes and restores."""
    with conn.client() as client:
        row = client.get(f"/api/backups/{quote(backup_id, safe='')}")
        dests = _names(client)
    if as_json:
        print_json(row)
        return
    fields(
        [
            ("id", row["id"]),
            ("what", _described(row)),
            ("status", row["status"]),
            ("trigger", row.get("trigger")),
            ("destination", dests.get(row.get("destination_id") or "", row.get("destination_id"))),
            ("key", row.get("key")),
            ("volumes", _volumes(row)),
            ("consistency", row.get("consistency")),
            ("size", human_size(row.get("size_bytes"))),
            ("sha256", row.get("sha256")),
            ("encrypted", row.get("encrypted")),
            ("duration", duration(row.get("duration_ms"))),
            ("started", short_time(row.get("started_at"))),
            ("finished", short_time(row.get("finished_at"))),
            ("error", row.get("error")),
        ]
    )


@click.command("rm")
@click.argument("backup_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@connection_options
def backup_rm(backup_id: str, yes: bool, conn: Connection) -> None:
    """Delete a backup run and its archive at the destination."""
    with conn.client() as client:
        row = client.get(f"/api/backups/{quote(backup_id, safe='')}")
        if not yes:
            click.confirm(f"delete backup {row['id']} and its archive {row.get('key') or ''}?", abort=True)
        client.delete(f"/api/backups/{quote(row['id'], safe='')}")
    click.echo(f"deleted backup {row['id']}")


@click.command("restore-volumes")
@click.argument("backup_id")
@click.option(
    "--into", "into", shell_complete=complete_app, help="Restore into this app (default: the source app)."
)
@click.option(
    "--volume", "volumes", multiple=True, help="Only this volume (repeatable; default: all in the archive)."
)
@click.option("--wait", is_flag=True, help="Follow the restore; exit 1 when it fails.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@connection_options
@json_option
def backup_restore_volumes(
    backup_id: str,
    into: str | None,
    volumes: tuple[str, ...],
    wait: bool,
    yes: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Restore a volume backup: the archive is checked and unpacked next to the live data while the app runs,
    then the app is stopped, the data swapped, the app started and health-checked. A failure before the swap
    leaves the data as it was."""
    body: dict[str, Any] = {"volumes": list(volumes)} if volumes else {}
    with conn.client() as client:
        row = client.get(f"/api/backups/{quote(backup_id, safe='')}")
        if row.get("what") == "state":
            raise CliError("a state backup is restored offline: download it, then rivetr backup restore FILE")
        if row.get("what") in ("service", "stack"):
            kind = row["what"] + "s"
            raise CliError(f"a {row['what']} backup is restored with rivetr {kind} restore {row['id']}")
        target = row.get("app_name")
        if into:
            found = client.resolve_app(into)
            target, body["app_id"] = found["name"], found["id"]
        if not yes:
            click.confirm(
                f"replace the data of {target}'s volumes ({', '.join(volumes) or _volumes(row)}) with backup "
                f"{row['id']}? {target} stops briefly",
                abort=True,
            )
        restore = client.post(f"/api/backups/{quote(row['id'], safe='')}/restore", body)
        if wait:
            report(follow(client, f"/api/restores/{quote(restore['id'], safe='')}"), as_json, "restore")
            return
    if as_json:
        print_json(restore)
        return
    click.echo(f"started restore {restore['id']} into {target}; --wait follows it")


@click.command("consistency")
@click.argument("app", shell_complete=complete_app)
@click.argument("mode", required=False, type=click.Choice(["pause", "command", "none"]))
@click.option("--command", "command", help="command: the shell command run in the container before the copy.")
@connection_options
def backup_consistency(app: str, mode: str | None, command: str | None, conn: Connection) -> None:
    """Show or set how APP's volumes are made consistent for a backup. pause (default): the container is frozen
    for the copy; command: a pre-backup command runs in it first (e.g. a database dump into the volume); none:
    copied as they are (open files may be caught mid-write)."""
    if mode == "command" and not command:
        raise click.UsageError("command needs --command CMD")
    if command and mode not in (None, "command"):
        raise click.UsageError(f"--command applies to the 'command' mode, not {mode!r}")
    with conn.client() as client:
        found = client.resolve_app(app)
        if mode is not None:
            body = {"backup_consistency": mode, "pre_backup_command": command if mode == "command" else None}
            found = client.put(f"/api/apps/{found['id']}", body)
    click.echo(f"backup consistency: {found.get('backup_consistency') or 'pause'}")
    if found.get("pre_backup_command"):
        click.echo(f"pre-backup command: {found['pre_backup_command']}")
    if mode is not None:
        click.echo("saved; applies at the next backup")


COMMANDS = (backup_run, backup_list, backup_show, backup_rm, backup_restore_volumes, backup_consistency)
