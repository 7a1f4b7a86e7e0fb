"""``rivetr apps list``, ``apps show <name|id>``, ``apps create <name> --git URL`` and ``apps delete <name|id>``."""

from __future__ import annotations

import sys

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import fields, print_json, short_time, table


@click.group()
def apps() -> None:
    """List, inspect, create and delete apps."""


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
        usage = client.get(
            f"/api/apps/{found['id']}/metrics", params={"range": "15m", "points": 2}, ok=(404,)
        )
    latest = usage.get("latest") if isinstance(usage, dict) else None
    if as_json:
        print_json({**found, "deployments": deployments, "resources": latest})
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
            ("resources", _resources(latest)),
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


@apps.command("create")
@click.argument("name")
@click.option(
    "--git", "git_url", required=True, help="Repository URL (https://, ssh://, git@host:path, git://)."
)
@click.option("--branch", default="main", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True, help="Port the app listens on.")
@click.option("--domain", "domains", multiple=True, help="Domain routed to the app (repeatable).")
@click.option("--dockerfile", default="Dockerfile", show_default=True)
@click.option(
    "--git-token-stdin",
    is_flag=True,
    help="Read an HTTPS token for a private repository from stdin (kept out of shell history).",
)
@click.option(
    "--git-token-user", help="User name sent with the token (GitLab: oauth2, Bitbucket: x-token-auth)."
)
@connection_options
@json_option
def apps_create(
    name: str,
    git_url: str,
    branch: str,
    port: int,
    domains: tuple[str, ...],
    dockerfile: str,
    git_token_stdin: bool,
    git_token_user: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Create an app from a git repository (deploy it with `rivetr deploy NAME`)."""
    body: dict[str, object] = {
        "name": name,
        "git_url": git_url,
        "branch": branch,
        "port": port,
        "domains": list(domains),
        "dockerfile": dockerfile,
    }
    if git_token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise click.UsageError("--git-token-stdin: no token on stdin")
        body["git_token"] = token
    if git_token_user:
        body["git_token_user"] = git_token_user
    with conn.client() as client:
        created = client.post("/api/apps", body)
    if as_json:
        print_json(created)
        return
    click.echo(
        f"created app {created['name']} ({created['id']}); deploy it with: rivetr deploy {created['name']}"
    )


@apps.command("delete")
@click.argument("app", shell_complete=complete_app)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def apps_delete(app: str, yes: bool, conn: Connection) -> None:
    """Delete an app: its containers, routes, images, deployments and variables."""
    with conn.client() as client:
        found = client.resolve_app(app)
        if not yes:
            click.confirm(
                f"Delete {found['name']} with its containers, routes, images and deployments?", abort=True
            )
        client.delete(f"/api/apps/{found['id']}")
    click.echo(f"deleted app {found['name']}")


def _resources(latest: dict | None) -> str:  # type: ignore[type-arg]
    """``cpu 1.3%, memory 12.4 MiB / 512.0 MiB (1 container)`` from the sampler's last values."""
    if not latest:
        return "-"
    mib = 1024 * 1024
    limit = f" / {latest['memory_limit'] / mib:.1f} MiB" if latest.get("memory_limit") else ""
    return (
        f"cpu {latest.get('cpu_percent', 0):.1f}%, memory {latest.get('memory_used', 0) / mib:.1f} MiB{limit}"
        f" ({latest.get('containers', 0)} container{'s' if latest.get('containers') != 1 else ''})"
    )
