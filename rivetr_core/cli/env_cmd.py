"""``rivetr env list|set|unset <app>``: an app's environment variables (applied at the next deployment)."""

from __future__ import annotations

from urllib.parse import quote

import click

from .client import CliError, Connection, complete_app, connection_options, json_option
from .output import print_json, table


@click.group()
def env() -> None:
    """Manage an app's environment variables (they apply at its next deployment)."""


@env.command("list")
@click.argument("app", shell_complete=complete_app)
@click.option("--reveal", is_flag=True, help="Show secret values instead of masking them.")
@connection_options
@json_option
def env_list(app: str, reveal: bool, conn: Connection, as_json: bool) -> None:
    """The app's variables; secret values are masked unless --reveal."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.get(f"/api/apps/{found['id']}/env-vars", params={"reveal": str(reveal).lower()})
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no environment variables")
        return
    table([(r["key"], r["value"], r.get("is_secret")) for r in rows], ["key", "value", "secret"])


@env.command("set")
@click.argument("app", shell_complete=complete_app)
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--secret", is_flag=True, help="Mark the variables secret (masked in listings).")
@connection_options
def env_set(app: str, assignments: tuple[str, ...], secret: bool, conn: Connection) -> None:
    """Set one or more variables: ``rivetr env set web DATABASE_URL=postgres://… DEBUG=0``."""
    pairs = []
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"expected KEY=VALUE, got {item!r}")
        pairs.append((key, value))
    with conn.client() as client:
        found = client.resolve_app(app)
        base = f"/api/apps/{found['id']}/env-vars"
        for key, value in pairs:
            body = {"key": key, "value": value, "is_secret": secret}
            created = client.request("POST", base, json_body=body, ok=(409,))
            if isinstance(created, dict) and "error" in created:  # already set: change it
                client.put(f"{base}/{quote(key, safe='')}", {"value": value, "is_secret": secret})
                click.echo(f"updated {key}")
            else:
                click.echo(f"set {key}")
    click.echo(f"changes apply at the next deployment: rivetr deploy {found['name']}")


@env.command("unset")
@click.argument("app", shell_complete=complete_app)
@click.argument("keys", nargs=-1, required=True)
@connection_options
def env_unset(app: str, keys: tuple[str, ...], conn: Connection) -> None:
    """Remove variables by key."""
    with conn.client() as client:
        found = client.resolve_app(app)
        for key in keys:
            client.delete(f"/api/apps/{found['id']}/env-vars/{quote(key, safe='')}")
            click.echo(f"unset {key}")
