"""``rivetr apps scale APP N``, ``rivetr apps replicas APP`` and the ``--replicas`` option of ``apps create`` /
``apps update`` (issue 23): an app's replicas on one server (docs/scaling.md)."""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import print_json, table

#: A scale up answers once every new replica passed its health check.
SCALE_TIMEOUT = 600.0

replicas_option = click.option(
    "--replicas",
    type=click.IntRange(1, 20),
    help="Containers of the app behind the proxy (1-20, default 1); applies at the next deploy (`apps scale` "
    "applies it now).",
)


def replicas_body(options: dict[str, Any]) -> dict[str, Any]:
    """``{"replicas": N}`` when ``--replicas`` was given (it is popped: other helpers read the rest)."""
    count = options.pop("replicas", None)
    return {"replicas": count} if count is not None else {}


@click.command("scale")
@click.argument("app", shell_complete=complete_app)
@click.argument("replicas", type=click.IntRange(1, 20))
@connection_options
@json_option
def apps_scale(app: str, replicas: int, conn: Connection, as_json: bool) -> None:
    """Run REPLICAS containers of the app now, without a rebuild: new ones start from the running image and
    join the routes once healthy; extra ones leave the routes, drain and stop.

    \b
    rivetr apps scale web 3
    rivetr apps scale web 1"""
    with conn.client(timeout=SCALE_TIMEOUT) as client:
        found = client.resolve_app(app)
        result = client.post(f"/api/apps/{found['id']}/scale", {"replicas": replicas})
    if as_json:
        print_json(result)
        return
    change = ""
    if result["started"]:
        change = f" (started replica {', '.join(map(str, result['started']))})"
    elif result["stopped"]:
        change = f" (stopped replica {', '.join(map(str, result['stopped']))})"
    click.echo(f"{found['name']}: {result['previous']} → {result['replicas']} replicas{change}")


@click.command("replicas")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_replicas(app: str, conn: Connection, as_json: bool) -> None:
    """List the containers of the app's running deployment, one per replica, with their state."""
    with conn.client() as client:
        found = client.resolve_app(app)
        result = client.get(f"/api/apps/{found['id']}/replicas")
    if as_json:
        print_json(result)
        return
    click.echo(f"{found['name']}: {result['replicas']} replica(s)")
    rows = [
        [r["index"], r["container_name"] or "-", r["state"], r["upstream"] or "-", r["restart_count"]]
        for r in result["items"]
    ]
    table(rows, ["REPLICA", "CONTAINER", "STATE", "UPSTREAM", "RESTARTS"])
