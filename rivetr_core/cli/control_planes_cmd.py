"""``rivetr system control-planes``: the ``rivetr serve`` processes sharing this install's PostgreSQL database
(``GET /api/system/control-planes``, docs/scaling.md): host, pid, start, last heartbeat, alive, leader."""

from __future__ import annotations

import click

from .client import Connection, connection_options, json_option
from .output import print_json, short_time, table
from .system_cmd import system


@system.command("control-planes")
@connection_options
@json_option
def control_planes(conn: Connection, as_json: bool) -> None:
    """The control planes on this install's database, live ones first (the leader first of all). A plane whose
    lease ran out is shown as dead until the leader forgets it; a live plane takes its deployments over. On
    SQLite there is one, the server answering."""
    with conn.client() as client:
        body = client.get("/api/system/control-planes")
    if as_json:
        print_json(body)
        return
    table(
        [
            (
                p["id"] or "-",
                p["host"],
                p["pid"],
                p["version"],
                short_time(p["started_at"]),
                short_time(p["heartbeat_at"]),
                "alive" if p["alive"] else "dead",
                "leader" if p["leader"] else "",
                "*" if p["this"] else "",
            )
            for p in body["items"]
        ],
        ["id", "host", "pid", "version", "started", "heartbeat", "state", "role", "this"],
    )
    lease = f", lease {body['lease_seconds']:g} s" if body["lease_seconds"] is not None else ""
    click.echo(f"\ndatabase: {body['database']}{lease}")
