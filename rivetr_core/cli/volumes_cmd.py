"""``rivetr volumes list|add|remove <app>``: an app's named volumes and bind mounts (see docs/volumes.md).

They apply at the app's next deployment; ``remove`` deletes a named volume's data too (the server refuses
while a container of the app still mounts it).
"""

from __future__ import annotations

from typing import Any

import click

from .client import CliError, Connection, complete_app, connection_options, json_option, show_or_set
from .output import human_size, print_json, table


def _find(rows: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    for row in rows:
        if ref in (row["id"], row["name"], row["mount_path"]):
            return row
    raise CliError(f"no volume {ref!r} (give its name, mount path or id)")


@click.group()
def volumes() -> None:
    """Manage an app's volumes and bind mounts (they apply at its next deployment)."""


@volumes.command("list")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def volumes_list(app: str, conn: Connection, as_json: bool) -> None:
    """The app's mounts with the bytes each named volume uses."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.get(f"/api/apps/{found['id']}/volumes")["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no volumes")
        return
    table(
        [
            (
                r["name"],
                r["mount_path"],
                r["kind"],
                r["host_path"] or r["engine_name"],
                "ro" if r["read_only"] else "rw",
                human_size(r["size_bytes"]),
            )
            for r in rows
        ],
        ["name", "mount path", "kind", "source", "mode", "used"],
    )


@volumes.command("add")
@click.argument("app", shell_complete=complete_app)
@click.argument("name")
@click.argument("mount_path")
@click.option(
    "--bind",
    "host_path",
    metavar="HOST_PATH",
    help="A bind mount of this server directory (under [volumes] allowed_bind_roots) instead of a volume.",
)
@click.option("--read-only", is_flag=True, help="Mount it read-only.")
@connection_options
@json_option
def volumes_add(
    app: str,
    name: str,
    mount_path: str,
    host_path: str | None,
    read_only: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Add a mount: ``rivetr volumes add web data /var/lib/data`` (a named volume kept across deployments) or
    ``rivetr volumes add web media /media --bind /srv/media``."""
    body: dict[str, Any] = {"name": name, "mount_path": mount_path, "read_only": read_only}
    if host_path:
        body.update(kind="bind", host_path=host_path)
    with conn.client() as client:
        found = client.resolve_app(app)
        row = client.post(f"/api/apps/{found['id']}/volumes", body)
    if as_json:
        print_json(row)
        return
    click.echo(
        f"added {row['name']} at {row['mount_path']} to {found['name']} (applies at its next deployment)"
    )


@volumes.command("remove")
@click.argument("app", shell_complete=complete_app)
@click.argument("volume")
@click.option("--yes", "-y", is_flag=True, help="Do not ask (a named volume's data is deleted).")
@connection_options
def volumes_remove(app: str, volume: str, yes: bool, conn: Connection) -> None:
    """Remove a mount (by name, mount path or id); a named volume's data is deleted with it."""
    with conn.client() as client:
        found = client.resolve_app(app)
        row = _find(client.get(f"/api/apps/{found['id']}/volumes")["items"], volume)
        if row["kind"] == "volume" and not yes:
            click.confirm(f"delete volume {row['name']} of {found['name']} and its data?", abort=True)
        client.delete(f"/api/apps/{found['id']}/volumes/{row['id']}")
    click.echo(f"removed {row['name']} from {found['name']}")


@volumes.command("strategy")
@click.argument("app", shell_complete=complete_app)
@click.argument("strategy", required=False, type=click.Choice(["rolling", "recreate"]))
@connection_options
def volumes_strategy(app: str, strategy: str | None, conn: Connection) -> None:
    """Show the app's deploy strategy, or set it. rolling (default): zero downtime, old and new containers
    share the named volumes for a moment; recreate: the old container stops first (a brief 502)."""
    show_or_set(conn, app, "deploy_strategy", strategy, "rolling", "deploy strategy")
