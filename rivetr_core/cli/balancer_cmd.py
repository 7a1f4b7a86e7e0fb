"""``rivetr apps load-balancer APP [round_robin|least_conn]``: how the proxy spreads an app's requests over its
replicas (issue 23; docs/scaling.md)."""

from __future__ import annotations

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import print_json

LOAD_BALANCERS = ("round_robin", "least_conn")


@click.command("load-balancer")
@click.argument("app", shell_complete=complete_app)
@click.argument("mode", required=False, type=click.Choice(LOAD_BALANCERS))
@connection_options
@json_option
def apps_load_balancer(app: str, mode: str | None, conn: Connection, as_json: bool) -> None:
    """Show how the proxy spreads the app's requests over its replicas, or set it (at once, no deploy):
    round_robin (default) takes them in turn; least_conn picks the one with the fewest requests in flight.

    \b
    rivetr apps load-balancer web least_conn
    rivetr apps load-balancer web"""
    with conn.client() as client:
        found = client.resolve_app(app)
        if mode is not None:
            found = client.put(f"/api/apps/{found['id']}", {"load_balancer": mode})
    if as_json:
        print_json({"id": found["id"], "name": found["name"], "load_balancer": found.get("load_balancer")})
        return
    click.echo(f"{found['name']}: load balancer {found.get('load_balancer', 'round_robin')}")
