"""``rivetr apps list`` and ``rivetr apps show <name|id>``."""

from __future__ import annotations

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import fields, print_json, short_time, table


@click.group()
def apps() -> None:
    """List and inspect apps."""


@apps.command("list")
@connection_options
@json_option
def apps_list(conn: Connection, as_json: bool) -> None:
    """Every app with its status and domains."""
    with conn.client() as client:
        rows = client.get("/api/apps")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no apps yet")
        return
    table(
        [
            (
                a["name"],
                a["status"],
                a["domains"],
                a.get("environment"),
                a.get("current_deployment_id"),
                short_time(a.get("updated_at")),
            )
            for a in rows
        ],
        ["name", "status", "domains", "environment", "deployment", "updated"],
    )


@apps.command("show")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def apps_show(app: str, conn: Connection, as_json: bool) -> None:
    """One app (by name or id) with its latest deployments."""
    with conn.client() as client:
        found = client.resolve_app(app)
        deployments = client.get(f"/api/apps/{found['id']}/deployments", params={"limit": 5})
    if as_json:
        print_json({**found, "deployments": deployments})
        return
    fields(
        [
            ("name", found["name"]),
            ("id", found["id"]),
            ("status", found["status"]),
            ("domains", found.get("domains")),
            ("git", f"{found.get('git_url')} ({found.get('branch')})"),
            ("dockerfile", f"{found.get('build_context')}/{found.get('dockerfile')}"),
            ("port", found.get("port")),
            ("health check", found.get("healthcheck_path")),
            ("environment", found.get("environment")),
            ("cpu / memory", f"{found.get('cpu_limit') or '-'} / {found.get('memory_limit') or '-'}"),
            ("deployment", found.get("current_deployment_id")),
            ("created", short_time(found.get("created_at"))),
        ]
    )
    if deployments:
        click.echo()
        table(
            [
                (
                    d["id"],
                    d["status"],
                    (d.get("commit_sha") or "")[:10],
                    d.get("trigger"),
                    short_time(d.get("created_at")),
                    d.get("error") or "",
                )
                for d in deployments
            ],
            ["deployment", "status", "commit", "trigger", "created", "error"],
        )
