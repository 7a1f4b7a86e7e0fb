"""``rivetr backup create|restore`` (Rivetr's own state, run on the server's machine against its data dir) and
``rivetr schedules list`` (the scheduler's jobs, through the API)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

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
    """Back up and restore Rivetr's own state: database, certificates, config (and, with a passphrase, the
    secret key). See docs/backups.md."""


@backup.command("create")
@click.option(
    "--to",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory the archive goes to (default: [backup] directory, else <data_dir>/backups).",
)
@click.option("--keep-last", type=click.IntRange(min=1), help="Then keep only the newest N archives there.")
@_PASSPHRASE
@_DATA_DIR
@_CONFIG
def backup_create(
    dest: Path | None,
    keep_last: int | None,
    passphrase_file: str | None,
    data_dir: Path | None,
    config_path: str | None,
) -> None:
    """Archive the state now. Safe while the server runs: the database is copied with SQLite's online backup
    API (one consistent snapshot). Prints the archive's path and sha256."""
    from rivetr_core.backup.state import BackupError, create_backup, default_backup_dir, read_passphrase

    cfg = _config(config_path)
    data = data_dir or cfg.server.data_dir
    try:
        result = create_backup(
            data,
            dest or cfg.backup.directory or default_backup_dir(data),
            config_file=Path(config_path) if config_path else None,
            passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
            keep_last=keep_last,
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

    data = data_dir or _config(config_path).server.data_dir
    try:
        result = restore_backup(
            archive, data, passphrase=read_passphrase(passphrase_file) if passphrase_file else None
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
