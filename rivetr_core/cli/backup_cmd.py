"""``rivetr backup create|restore`` (Rivetr's own state, run on the server's machine against its data dir, or
``create --to DEST`` through the server to a backup destination), ``rivetr schedules list`` (the scheduler's
jobs, through the API), and the ``backup`` group's commands for destinations, volume backups and backup
schedules (:mod:`.backup_destinations_cmd`, :mod:`.backup_runs_cmd`, :mod:`.backup_schedules_cmd`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import (
    backup_destinations_cmd,
    backup_runs_cmd,
    backup_schedules_cmd,
    service_backup_import_cmd,
    tasks_cmd,
)
from .client import Connection, connection_options, json_option
from .output import print_json, short_time, table

_CONFIG = click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="The server's TOML config (its data dir and [backup] settings; the file itself is archived too).",
)
_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The server's data dir (default: [server] data_dir of the config).",
)
_PASSPHRASE = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True),
    help="File whose first line is the passphrase that encrypts (create) or decrypts (restore) the secret key "
    "and admin token in the archive. Without it, create leaves them out.",
)


def _config(config_path: str | None):  # type: ignore[no-untyped-def]
    from rivetr_core.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group("backup")
def backup() -> None:
    """Backups: Rivetr's own state (create, restore), apps' volumes (run, restore-volumes), where they go
    (destinations), when (schedules) and what was done (list, show, rm). See docs/backups.md."""


def _is_directory(dest: str) -> bool:
    """``--to`` names a directory when it looks like a path (destination names never hold a slash or start
    with a dot or tilde), so ``--to /mnt/backups`` keeps its meaning."""
    return "/" in dest or dest.startswith((".", "~"))


@backup.command("create")
@click.option(
    "--to",
    "dest",
    metavar="DEST|DIR",
    help="A backup destination's name (the server makes the archive and sends it there), or a directory "
    "(a path: the archive is written there by this command; default: [backup] directory, else "
    "<data_dir>/backups).",
)
@click.option("--keep-last", type=click.IntRange(min=1), help="Then keep only the newest N archives there.")
@click.option("--no-wait", is_flag=True, help="--to DEST: return once the server has started the run.")
@_PASSPHRASE
@_DATA_DIR
@_CONFIG
@connection_options
@json_option
def backup_create(
    dest: str | None,
    keep_last: int | None,
    no_wait: bool,
    passphrase_file: str | None,
    data_dir: Path | None,
    config_path: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Archive the state now. Safe while the server runs: the database is copied with SQLite's online backup
    API (one consistent snapshot). Prints the archive's path (or key) and sha256.

    \b
    rivetr backup create                     # on the server's machine, into <data_dir>/backups
    rivetr backup create --to /mnt/backups   # a directory of this machine
    rivetr backup create --to offsite        # a destination (rivetr backup destinations list), by the server
    """
    if dest and not _is_directory(dest):
        offline = [
            o
            for o, v in (
                ("--keep-last", keep_last),
                ("--passphrase-file", passphrase_file),
                ("--data-dir", data_dir),
            )
            if v
        ]
        if offline:
            raise click.UsageError(
                f"{', '.join(offline)}: not with a destination (its retention is a schedule's, its encryption "
                "the destination's passphrase)"
            )
        _create_remote(conn, dest, wait=not no_wait, as_json=as_json)
        return
    from rivetr_core.backup.state import BackupError, create_backup, default_backup_dir, read_passphrase

    cfg = _config(config_path)
    data = data_dir or cfg.server.data_dir
    try:
        result = create_backup(
            data,
            Path(dest).expanduser() if dest else cfg.backup.directory or default_backup_dir(data),
            config_file=Path(config_path) if config_path else None,
            passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
            keep_last=keep_last,
            database_url=cfg.database.url.get_secret_value() if cfg.database.url else None,
        )
    except (BackupError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"{result.path}\nsha256 {result.sha256}  size {result.size} bytes  files {', '.join(result.files)}"
    )
    if not passphrase_file:
        click.echo(
            "note: the secret key is not in the archive (pass --passphrase-file to include it encrypted)"
        )
    for path in result.removed:
        click.echo(f"removed old backup {path}")


def _create_remote(conn: Connection, dest: str, *, wait: bool, as_json: bool) -> None:
    """A state backup by the server to a destination (``POST /api/backups {"what": "state"}``)."""
    with conn.client() as client:
        target = backup_destinations_cmd.resolve_destination(client, dest)
        row = client.post("/api/backups", {"what": "state", "destination_id": target["id"]})
        if wait:
            row = backup_runs_cmd.follow(client, f"/api/backups/{row['id']}")
    if row["status"] == "running":  # --no-wait
        if as_json:
            print_json(row)
        else:
            click.echo(
                f"started state backup {row['id']} to {target['name']}: rivetr backup show {row['id']}"
            )
        return
    if as_json or row["status"] != "succeeded":
        backup_runs_cmd.report(row, as_json, "state backup")
        return
    click.echo(
        f"{target['name']}: {row.get('key')}\nsha256 {row.get('sha256')}  size {row.get('size_bytes')} bytes"
    )


@backup.command("restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@_PASSPHRASE
@_DATA_DIR
@_CONFIG
def backup_restore(
    archive: Path, passphrase_file: str | None, data_dir: Path | None, config_path: str | None
) -> None:
    """Restore ARCHIVE into a stopped server's data dir. Refuses a data dir whose server answers. Everything is
    unpacked and verified in a temporary directory first; the files it replaces move to
    <data_dir>/.pre-restore-<time>/."""
    from rivetr_core.backup.state import BackupError, read_passphrase, restore_backup

    cfg = _config(config_path)
    data = data_dir or cfg.server.data_dir
    try:
        result = restore_backup(
            archive,
            data,
            passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
            database_url=cfg.database.url.get_secret_value() if cfg.database.url else None,  # PostgreSQL
        )
    except (BackupError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"restored {', '.join(result.restored)} into {result.data_dir}")
    if result.previous:
        click.echo(f"the files they replaced are in {result.previous}")
    if result.config:
        click.echo(f"the archived config is at {result.config} (review it, then point --config at it)")


@click.group("schedules")
def schedules() -> None:
    """The scheduler's jobs (scheduled backups, ...)."""


@schedules.command("list")
@connection_options
@json_option
def schedules_list(conn: Connection, as_json: bool) -> None:
    """Every job with its cron expression, time zone, next and last run."""
    with conn.client() as client:
        rows = client.get("/api/schedules")["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no schedules")
        return
    table(
        [
            (
                r["name"],
                r["kind"],
                f"{r['cron']} ({r['timezone']})",
                "yes" if r["enabled"] else "no",
                short_time(r["next_run_at"]) if r["next_run_at"] else "-",
                short_time(r["last_run_at"]) if r["last_run_at"] else "-",
                r["last_status"] or "-",
            )
            for r in rows
        ],
        ["name", "kind", "schedule", "enabled", "next run", "last run", "last status"],
    )


@schedules.command("run")
@click.argument("schedule")
@connection_options
@json_option
def schedules_run(schedule: str, conn: Connection, as_json: bool) -> None:
    """Run SCHEDULE (its name or id) now, e.g. ``rivetr schedules run rivetr-state-backup`` for a backup of
    Rivetr's state by the server. Its runs: ``GET /api/schedules/{id}/runs``."""
    from urllib.parse import quote

    with conn.client() as client:
        rows = client.get("/api/schedules")["items"]
        match = [r for r in rows if schedule in (r["name"], r["id"])]
        if not match:
            click.echo(f"error: no schedule {schedule!r} (see rivetr schedules list)", err=True)
            sys.exit(1)
        body = client.post(f"/api/schedules/{quote(match[0]['id'])}/run")
    if as_json:
        print_json(body)
        return
    click.echo(f"started {body['name']}; follow it with: rivetr schedules list")


# The server-side commands of the group, each in its own module (they talk to the API, not the data dir).
for _command in backup_runs_cmd.COMMANDS:
    backup.add_command(_command)
backup.add_command(backup_destinations_cmd.destinations)
backup.add_command(service_backup_import_cmd.backup_import)
backup.add_command(backup_schedules_cmd.backup_schedules)
# Scheduled deployments of apps (docs/tasks.md) are jobs of the same scheduler.
for _command in tasks_cmd.SCHEDULE_COMMANDS:
    schedules.add_command(_command)
