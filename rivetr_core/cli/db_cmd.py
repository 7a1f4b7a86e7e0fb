"""``rivetr db copy``: move the control-plane database, e.g. from the embedded SQLite to PostgreSQL
(docs/scaling.md). Runs on the server's machine against the databases themselves, not through the API."""

from __future__ import annotations

import asyncio

import click


@click.group("db")
def db() -> None:
    """The control-plane database itself (SQLite or PostgreSQL)."""


@db.command("copy")
@click.option(
    "--from",
    "source",
    required=True,
    envvar="RIVETR_DB_COPY_FROM",
    help="The database to read: sqlite:///path/to/data/rivetr.db or a postgresql+asyncpg:// URL.",
)
@click.option(
    "--to",
    "target",
    required=True,
    envvar="RIVETR_DB_COPY_TO",
    help="The new database: postgresql+asyncpg://user:password@host/db (or postgresql://...); it must be empty. "
    "A URL with a password may come from $RIVETR_DB_COPY_TO instead of the command line.",
)
@click.option("--replace", is_flag=True, help="Overwrite a target that already holds a Rivetr schema.")
def copy(source: str, target: str, replace: bool) -> None:
    """Copy every table of one Rivetr database into another, parents before children, in one consistent
    read of the source (a running SQLite install can be copied; stop it before switching).

    \b
    rivetr db copy --from sqlite:///var/lib/rivetr/rivetr.db \\
        --to postgresql+asyncpg://rivetr:secret@127.0.0.1/rivetr
    then set [database] url to the target and restart `rivetr serve`.
    """
    from rivetr_core.db import DatabaseCorrupt, DatabaseUnavailable
    from rivetr_core.db.copy import CopyRefused, copy_database, database_for_url

    async def run() -> None:
        src = database_for_url(source)
        dst = database_for_url(target)
        try:
            report = await copy_database(src, dst, replace=replace)
        finally:
            await src.close()
            await dst.close()
        for name, rows in report.tables.items():
            if rows:
                click.echo(f"{name}: {rows}")
        click.echo(f"copied {report.rows} rows in {len(report.tables)} tables")

    try:
        asyncio.run(run())
    except (CopyRefused, DatabaseUnavailable, DatabaseCorrupt) as exc:
        raise click.ClickException(str(exc)) from None
