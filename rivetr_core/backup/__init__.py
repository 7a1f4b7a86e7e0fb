"""Backups. :mod:`.state` archives and restores Rivetr's own state (database, certificates, config, and the
secret key when a passphrase encrypts it); later work adds volume backups and destinations beside it, reusing
its archive helpers, and registers their job kinds like :func:`register` does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


async def run_state_backup(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    """The ``state_backup`` job kind: an archive into ``[backup] directory`` (default ``<data_dir>/backups``)
    keeping the newest ``keep_last``. Runs in a thread: the SQLite copy and gzip are blocking work."""
    import asyncio

    from rivetr_core.contract.events import RivetrEvent

    from .state import create_backup, default_backup_dir

    config = ctx.config
    dest = config.backup.directory or default_backup_dir(config.server.data_dir)
    try:
        result = await asyncio.to_thread(
            create_backup,
            config.server.data_dir,
            dest,
            config_file=config_file(),
            keep_last=int(args.get("keep_last", config.backup.keep_last)),
            database_url=config.database.url.get_secret_value() if config.database.url else None,
        )
    except Exception as exc:
        # Both outcomes are events: silence must never be mistaken for success.
        ctx.emit(
            RivetrEvent(
                type="backup_failed",
                level="failure",
                message=f"backup of Rivetr's state into {dest} failed: {exc}",
                data={"what": "state", "destination": str(dest), "error": str(exc)},
            )
        )
        raise
    ctx.emit(
        RivetrEvent(
            type="backup_succeeded",
            level="success",
            message=f"backup of Rivetr's state: {result.path.name} ({result.size} bytes)",
            data={"what": "state", "path": str(result.path), "sha256": result.sha256, "size": result.size},
        )
    )
    return {"path": str(result.path), "sha256": result.sha256, "size": result.size}


def config_file() -> Any:
    """The config file the server was started with (``RIVETR_CONFIG``, set by ``rivetr serve --config``)."""
    import os
    from pathlib import Path

    source = os.environ.get("RIVETR_CONFIG")
    return Path(source) if source else None


def register() -> None:
    from rivetr_core.scheduler.kinds import register_kind

    register_kind("state_backup", run_state_backup)
