"""``rivetr stacks volumes|backup|backups|restore|import-backup``: a compose stack's named volumes and their backups through the
server (see docs/backups.md, "Stacks"). Registered on the ``stacks`` group by :func:`add_backup_commands`.

A backup or restore goes on on the server; these commands wait for it (``--no-wait`` returns at once) and exit 1
when it fails, so a script notices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click

from .client import Connection, RivetrClient, connection_options, json_option
from .output import human_size, print_json, short_time, table

Resolve = Callable[[RivetrClient, str], dict[str, Any]]


def add_backup_commands(group: click.Group, resolve_stack: Resolve) -> None:
    """Add ``volumes``, ``backup``, ``backups``, ``restore`` and ``import-backup`` to the ``stacks`` group."""
    # Imported here, not at the top: that module registers on the services group and imports it.
    from .service_backup_import_cmd import _archive_options, _import_body

    @group.command("volumes")
    @click.argument("stack")
    @connection_options
    @json_option
    def stacks_volumes(stack: str, conn: Connection, as_json: bool) -> None:
        """The stack's named volumes: the services mounting each (where), and the bytes it uses."""
        with conn.client() as client:
            found = resolve_stack(client, stack)
            rows = client.get(f"/api/stacks/{found['id']}/volumes")["items"]
        if as_json:
            print_json(rows)
            return
        if not rows:
            click.echo(f"{found['name']} declares no named volumes")
            return
        table(
            [
                (
                    r["name"],
                    ", ".join(
                        f"{m['service']}:{m['target']}" + (" (ro)" if m["read_only"] else "")
                        for m in r["mounts"]
                    )
                    or "-",
                    human_size(r.get("size_bytes")) if r.get("exists") else "not created yet",
                    r["engine_name"],
                )
                for r in rows
            ],
            ["volume", "mounted by", "size", "engine volume"],
        )

    @group.command("backup")
    @click.argument("stack")
    @click.option("--to", "destination", required=True, help="Backup destination (name or id).")
    @click.option(
        "--volume", "volumes", multiple=True, help="Only this volume (repeatable; default: all of them)."
    )
    @click.option("--codec", type=click.Choice(["zst", "gz"]), default="zst", show_default=True)
    @click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the run to finish.")
    @connection_options
    @json_option
    def stacks_backup(
        stack: str,
        destination: str,
        volumes: tuple[str, ...],
        codec: str,
        no_wait: bool,
        conn: Connection,
        as_json: bool,
    ) -> None:
        """Back up the stack's named volumes to a destination; the services mounting them are paused for the
        copy."""
        from .backup_destinations_cmd import resolve_destination
        from .backup_runs_cmd import follow, report

        with conn.client() as client:
            found = resolve_stack(client, stack)
            body: dict[str, Any] = {
                "destination_id": resolve_destination(client, destination)["id"],
                "codec": codec,
            }
            if volumes:
                body["volumes"] = list(volumes)
            run = client.post(f"/api/stacks/{found['id']}/backups", body)
            if no_wait:
                if as_json:
                    print_json(run)
                else:
                    click.echo(
                        f"backup {run['id']} of {found['name']} started: rivetr backup show {run['id']}"
                    )
                return
            run = follow(client, f"/api/backups/{quote(run['id'], safe='')}")
        report(run, as_json, "backup")

    @group.command("backups")
    @click.argument("stack")
    @connection_options
    @json_option
    def stacks_backups(stack: str, conn: Connection, as_json: bool) -> None:
        """The stack's backups, newest first."""
        with conn.client() as client:
            found = resolve_stack(client, stack)
            rows = client.list_all(f"/api/stacks/{found['id']}/backups")
        if as_json:
            print_json(rows)
            return
        if not rows:
            click.echo(f"{found['name']} has no backups yet: rivetr stacks backup {found['name']} --to DEST")
            return
        table(
            [
                (
                    r["id"],
                    short_time(r["started_at"]),
                    ", ".join(v["name"] for v in r.get("volumes") or []),
                    r["status"],
                    human_size(r.get("size_bytes")),
                    (r.get("error") or "")[:60],
                )
                for r in rows
            ],
            ["id", "started", "volumes", "status", "size", "error"],
        )

    @group.command("restore")
    @click.argument("backup_id")
    @click.option("--into", "target", help="Stack to restore into (default: the one backed up).")
    @click.option(
        "--volume",
        "volumes",
        multiple=True,
        help="Only this volume (repeatable; default: all in the archive).",
    )
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the restore.")
    @connection_options
    @json_option
    def stacks_restore(
        backup_id: str,
        target: str | None,
        volumes: tuple[str, ...],
        yes: bool,
        no_wait: bool,
        conn: Connection,
        as_json: bool,
    ) -> None:
        """Restore a stack backup into the same stack or another declaring the same volumes: the services using
        them stop while the data is swapped, then start again."""
        from .backup_runs_cmd import follow, report

        with conn.client() as client:
            row = client.get(f"/api/backups/{quote(backup_id, safe='')}")
            body: dict[str, Any] = {"volumes": list(volumes)} if volumes else {}
            name = row.get("stack_name") or "the backed-up stack"
            if target:
                found = resolve_stack(client, target)
                name, body["stack_id"] = found["name"], found["id"]
            if not yes:
                shown = ", ".join(volumes) or ", ".join(v["name"] for v in row.get("volumes") or [])
                click.confirm(
                    f"replace the data of {name}'s volumes ({shown}) with backup {row['id']}? the services using "
                    "them stop briefly",
                    abort=True,
                )
            restore = client.post(f"/api/backups/{quote(row['id'], safe='')}/restore-stack", body)
            if no_wait:
                if as_json:
                    print_json(restore)
                else:
                    click.echo(f"restore {restore['id']} into {name} started")
                return
            restore = follow(client, f"/api/restores/{quote(restore['id'], safe='')}")
        report(restore, as_json, "restore")

    @group.command("import-backup")
    @click.argument("stack")
    @_archive_options
    @click.option(
        "--volume",
        "volumes",
        multiple=True,
        help="A volume the archive holds (repeatable; default: every named volume the stack declares).",
    )
    @connection_options
    @json_option
    def stacks_import_backup(
        stack: str,
        destination: str,
        key: str,
        sha256: str | None,
        volumes: tuple[str, ...],
        conn: Connection,
        as_json: bool,
    ) -> None:
        """Import STACK's volume archive made elsewhere; then `rivetr stacks restore ID`."""
        with conn.client() as client:
            found = resolve_stack(client, stack)
            body = _import_body(client, destination, key, sha256)
            if volumes:
                body["volumes"] = list(volumes)
            row = client.post(f"/api/stacks/{quote(found['id'], safe='')}/backups/import", body)
        if as_json:
            print_json(row)
            return
        click.echo(
            f"imported backup {row['id']} of {found['name']} ({human_size(row.get('size_bytes'))}, sha256 "
            f"{row['sha256'][:12]}…): restore it with rivetr stacks restore {row['id']}"
        )
