"""``rivetr apps scale APP N``, ``rivetr apps replicas APP`` and the ``--replicas`` option of ``apps create`` /
``apps update`` (issue 23): an app's replicas on one server (docs/scaling.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import human_size, print_json, table

#: A scale up answers once every new replica passed its health check.
SCALE_TIMEOUT = 600.0

ROLLOUT_FIELDS = ("replicas", "max_surge", "max_unavailable")


def replicas_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--replicas`` and the rolling update's ``--max-surge`` / ``--max-unavailable`` (docs/scaling.md)."""
    for option in reversed(
        (
            click.option(
                "--replicas",
                type=click.IntRange(1, 20),
                help="Containers of the app behind the proxy (1-20, default 1); applies at the next deploy "
                "(`apps scale` applies it now).",
            ),
            click.option(
                "--max-surge",
                type=click.IntRange(0, 20),
                help="Rolling update: new replicas a deploy starts at a time beyond --replicas (default 1; "
                "above the replicas counts as the replicas).",
            ),
            click.option(
                "--max-unavailable",
                type=click.IntRange(0, 20),
                help="Rolling update: replicas that may be out of service meanwhile (default 0; above the replicas counts as the replicas).",
            ),
        )
    ):
        command = option(command)
    return command


def replicas_body(options: dict[str, Any]) -> dict[str, Any]:
    """The replica count and rollout settings given (popped: other helpers read the rest)."""
    given = {key: options.pop(key, None) for key in ROLLOUT_FIELDS}
    return {key: value for key, value in given.items() if value is not None}


def rollout_text(app: dict[str, Any]) -> str:
    """``3 (rolling: max surge 1, max unavailable 0)`` for ``apps show``."""
    return (
        f"{app.get('replicas', 1)} (rolling: max surge {app.get('max_surge', 1)}, "
        f"max unavailable {app.get('max_unavailable', 0)})"
    )


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
        [
            r["index"],
            r["container_name"] or "-",
            r["state"],
            r["upstream"] or "-",
            r["restart_count"],
            "-" if r.get("cpu_percent") is None else f"{r['cpu_percent']:.1f}%",
            "-" if r.get("memory_used") is None else human_size(r["memory_used"]),
        ]
        for r in result["items"]
    ]
    table(rows, ["REPLICA", "CONTAINER", "STATE", "UPSTREAM", "RESTARTS", "CPU", "MEMORY"])
    click.echo(f"logs of one replica: rivetr logs {found['name']} --replica N")
