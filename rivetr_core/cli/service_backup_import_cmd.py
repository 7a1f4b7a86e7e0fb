"""``rivetr services import-backup``: record a service archive another server made (a project moved with its
data) so ``rivetr services restore`` can restore it; over ``POST /api/services/{id}/backups/import``."""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import human_size, print_json
from .services_cmd import resolve_service, services


def _archive_options(command: Any) -> Any:
    """Where the other server's archive is: ``--from`` (a destination of this server), ``--key``, ``--sha256``."""
    for option in reversed(
        (
            click.option(
                "--from",
                "destination",
                required=True,
                help="This server's destination holding it (name or id).",
            ),
            click.option(
                "--key",
                required=True,
                help="The archive's key there (the first server's `rivetr backup show ID` shows it).",
            ),
            click.option(
                "--sha256",
                help="The archive's sha256 as the first server recorded it: refused if it differs.",
            ),
        )
    ):
        command = option(command)
    return command


def _import_body(client: Any, destination: str, key: str, sha256: str | None) -> dict[str, Any]:
    """The import request's body: the destination resolved by name or id, the key and the sha256 if given."""
    from .backup_destinations_cmd import resolve_destination

    body: dict[str, Any] = {"destination_id": resolve_destination(client, destination)["id"], "key": key}
    if sha256:
        body["sha256"] = sha256
    return body


@services.command("import-backup")
@click.argument("service")
@_archive_options
@connection_options
@json_option
def services_import_backup(
    service: str, destination: str, key: str, sha256: str | None, conn: Connection, as_json: bool
) -> None:
    """Import a backup of SERVICE's type made elsewhere; then `rivetr services restore ID`."""
    with conn.client() as client:
        found = resolve_service(client, service)
        body = _import_body(client, destination, key, sha256)
        row = client.post(f"/api/services/{found['id']}/backups/import", body)
    if as_json:
        print_json(row)
        return
    click.echo(
        f"imported backup {row['id']} of {found['name']} ({human_size(row.get('size_bytes'))}, sha256 "
        f"{row['sha256'][:12]}…): restore it with rivetr services restore {row['id']}"
    )


@click.command("import")
@click.argument("app")
@_archive_options
@click.option(
    "--volume", "volumes", multiple=True, help="A volume the archive holds (repeatable; default: all)."
)
@connection_options
@json_option
def backup_import(
    app: str,
    destination: str,
    key: str,
    sha256: str | None,
    volumes: tuple[str, ...],
    conn: Connection,
    as_json: bool,
) -> None:
    """Import APP's volume archive made elsewhere; then `rivetr backup restore-volumes ID`."""
    with conn.client() as client:
        found = client.resolve_app(app)
        body = _import_body(client, destination, key, sha256)
        if volumes:
            body["volumes"] = list(volumes)
        row = client.post(f"/api/apps/{found['id']}/backups/import", body)
    if as_json:
        print_json(row)
        return
    click.echo(
        f"imported backup {row['id']} of {found['name']} ({human_size(row.get('size_bytes'))}, sha256 "
        f"{row['sha256'][:12]}…): restore it with rivetr backup restore-volumes {row['id']}"
    )
