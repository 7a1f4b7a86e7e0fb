"""``rivetr registries list|add|rm``: container registry credentials that image apps pull with."""

from __future__ import annotations

import sys

import click

from .client import CliError, Connection, connection_options, json_option
from .output import print_json, short_time, table


@click.group("registries")
def registries() -> None:
    """Container registry credentials. Image apps (`rivetr apps create NAME --image REF`) pull with the
    credentials stored for their image's registry; the password is encrypted on the server and never shown."""


@registries.command("list")
@connection_options
@json_option
def registries_list(conn: Connection, as_json: bool) -> None:
    """Stored registries (the password always masked)."""
    with conn.client() as client:
        rows = client.list_all("/api/registries")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no registries (add one with `rivetr registries add NAME --server HOST --username USER`)")
        return
    table(
        [(r["id"], r["name"], r["server"], r["username"], short_time(r["created_at"])) for r in rows],
        ["id", "name", "server", "username", "created"],
    )


@registries.command("add")
@click.argument("name")
@click.option(
    "--server", required=True, help="Registry host[:port] as images name it: ghcr.io, 10.0.0.5:5000."
)
@click.option("--username", required=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password (or token) from stdin; without it, it is asked for (never an argument: argv is "
    "visible to every user of this machine).",
)
@connection_options
@json_option
def registries_add(
    name: str, server: str, username: str, password_stdin: bool, conn: Connection, as_json: bool
) -> None:
    """Store credentials after the server logged in to the registry with them (refused when it cannot)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True)
    if not password:
        raise click.UsageError("no password given")
    body = {"name": name, "server": server, "username": username, "password": password}
    with conn.client() as client:
        created = client.post("/api/registries", body)
    if as_json:
        print_json(created)
        return
    click.echo(f"added registry {created['name']} ({created['server']}, user {created['username']})")


@registries.command("rm")
@click.argument("ref", metavar="NAME|ID|SERVER")
@connection_options
def registries_rm(ref: str, conn: Connection) -> None:
    """Forget a registry's credentials (by name, id or server)."""
    with conn.client() as client:
        rows = client.list_all("/api/registries")
        chosen = [r for r in rows if ref in (r["id"], r["name"], r["server"])]
        if not chosen:
            raise CliError(f"no registry matches {ref!r} (see `rivetr registries list`)")
        client.delete(f"/api/registries/{chosen[0]['id']}")
    click.echo(f"removed registry {chosen[0]['name']} ({chosen[0]['server']})")
