"""``rivetr apps links|link|unlink``: an app's links to services (see docs/services.md).

A link hands the service's connection settings to the app as ``<PREFIX>_URL``, ``<PREFIX>_HOST``, ... at its
next deployment and puts the app on the service's private network.
"""

from __future__ import annotations

from typing import Any

import click

from .client import CliError, Connection, complete_app, connection_options, json_option
from .output import print_json, short_time, table


@click.command("links")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_links(app: str, conn: Connection, as_json: bool) -> None:
    """The services linked to an app, with the env var names each one provides."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.list_all(f"/api/apps/{found['id']}/links")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no links: rivetr apps link {found['name']} SERVICE")
        return
    table(
        [
            (
                r["env_prefix"],
                r["service_name"],
                r["service_type"],
                " ".join(r["env_keys"]),
                short_time(r["created_at"]),
            )
            for r in rows
        ],
        ["prefix", "service", "type", "env", "linked"],
    )


@click.command("link")
@click.argument("app", shell_complete=complete_app)
@click.argument("service")
@click.option("--prefix", help="Env var prefix (default: DATABASE for SQL databases, REDIS for Redis, ...).")
@connection_options
@json_option
def apps_link(app: str, service: str, prefix: str | None, conn: Connection, as_json: bool) -> None:
    """Link a service to an app: ``rivetr apps link web db`` gives web DATABASE_URL at its next deploy."""
    from .services_cmd import resolve_service

    with conn.client() as client:
        found = client.resolve_app(app)
        target = resolve_service(client, service)
        body: dict[str, Any] = {"service_id": target["id"]}
        if prefix:
            body["env_prefix"] = prefix
        row = client.post(f"/api/apps/{found['id']}/links", body)
    if as_json:
        print_json(row)
        return
    click.echo(f"linked {target['name']} to {found['name']} as {', '.join(row['env_keys'])}")
    click.echo(f"applies at the next deployment: rivetr deploy {found['name']}")


@click.command("unlink")
@click.argument("app", shell_complete=complete_app)
@click.argument("link", metavar="PREFIX_OR_SERVICE_OR_ID")
@connection_options
def apps_unlink(app: str, link: str, conn: Connection) -> None:
    """Remove a link (by env prefix, service name or link id); applies at the next deployment."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.list_all(f"/api/apps/{found['id']}/links")
        matches = [r for r in rows if link in (r["id"], r["env_prefix"], r["service_name"])]
        if not matches:
            raise CliError(f"{found['name']} has no link {link!r}")
        if len(matches) > 1:
            prefixes = ", ".join(r["env_prefix"] for r in matches)
            raise CliError(f"{link!r} is linked under several prefixes ({prefixes}): give the prefix")
        client.delete(f"/api/apps/{found['id']}/links/{matches[0]['id']}")
    click.echo(f"unlinked {matches[0]['service_name']} ({matches[0]['env_prefix']}) from {found['name']}")
    click.echo(f"applies at the next deployment: rivetr deploy {found['name']}")
