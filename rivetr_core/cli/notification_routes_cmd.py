"""``rivetr notifications routes|route|unroute``: which of a project's events go to which channel, over
``/api/projects/{id}/notification-routes`` (docs/notifications.md, "Routing a project's events")."""

from __future__ import annotations

from urllib.parse import quote

import click

from .client import Connection, connection_options, json_option
from .inputs import project_id_of
from .notifications_cmd import EVENT_HELP, notifications, resolve_channel
from .output import print_json, table


def _base(project_id: str) -> str:
    return f"/api/projects/{quote(project_id, safe='')}/notification-routes"


@notifications.command("routes")
@click.argument("project")
@connection_options
@json_option
def notifications_routes(project: str, conn: Connection, as_json: bool) -> None:
    """The channels PROJECT (name or id) routes its events to."""
    with conn.client() as client:
        project_id = project_id_of(client, project) or ""
        rows = client.get(_base(project_id))["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"project {project} routes no events (add one with `rivetr notifications route`)")
        return
    table(
        [(r["channel"], r["apps"] or "all", r["events"] or "all", r["routed_only"]) for r in rows],
        ["channel", "apps", "events", "routed only"],
    )


@notifications.command("route")
@click.argument("project")
@click.argument("channel", metavar="CHANNEL")
@click.option("--event", "events", multiple=True, metavar="TYPE", help=EVENT_HELP)
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="NAME",
    help="An app, service or stack of the project (repeat for several; none = all of them).",
)
@connection_options
@json_option
def notifications_route(
    project: str,
    channel: str,
    events: tuple[str, ...],
    apps: tuple[str, ...],
    conn: Connection,
    as_json: bool,
) -> None:
    """Route PROJECT's events (of the apps named, or all) to CHANNEL (name or id); replaces its route there."""
    with conn.client() as client:
        project_id = project_id_of(client, project) or ""
        row = resolve_channel(client, channel)
        out = client.put(
            f"{_base(project_id)}/{quote(row['id'], safe='')}", {"apps": list(apps), "events": list(events)}
        )
    if as_json:
        print_json(out)
        return
    click.echo(
        f"routed {project}'s events ({', '.join(out['events']) or 'all'}; apps: {', '.join(out['apps']) or 'all'}) "
        f"to {out['channel']}"
    )


@notifications.command("unroute")
@click.argument("project")
@click.argument("channel", metavar="CHANNEL")
@connection_options
def notifications_unroute(project: str, channel: str, conn: Connection) -> None:
    """Stop routing PROJECT's events to CHANNEL."""
    with conn.client() as client:
        project_id = project_id_of(client, project) or ""
        row = resolve_channel(client, channel)
        client.delete(f"{_base(project_id)}/{quote(row['id'], safe='')}")
    click.echo(f"{project} no longer routes events to {row['name']}")
