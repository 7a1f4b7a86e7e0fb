"""``rivetr tokens list|create|revoke``: API tokens of the logged-in user (server admins: ``list --all``).

A token carries scopes (read, deploy, write, admin), optionally a team, apps or projects it is limited to, and an
expiry; it never does more than its user's role allows (docs/tokens.md). Managing tokens needs a session or an
``admin``-scoped token: a ``deploy`` token cannot make itself another.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from .client import CliError, Connection, RivetrClient, connection_options, json_option
from .output import print_json, short_time, table

SCOPES = ("read", "deploy", "write", "admin")


@click.group("tokens")
def tokens() -> None:
    """API tokens for scripts and CI: scoped, optionally limited to a team, apps or projects, and expiring."""


@tokens.command("list")
@click.option("--all", "everyone", is_flag=True, help="Every user's tokens (server owners and admins).")
@connection_options
@json_option
def tokens_list(everyone: bool, conn: Connection, as_json: bool) -> None:
    """Your tokens (never their values: the first characters only)."""
    with conn.client() as client:
        rows = client.list_all("/api/tokens", {"all": "true"} if everyone else None)
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                t["id"],
                t["name"],
                ",".join(t["scopes"]),
                _limits(t),
                t["created_by"],
                short_time(t["last_used_at"]) if t["last_used_at"] else "never",
                t["expires_at"][:10] if t["expires_at"] else "never",
            )
            for t in rows
        ],
        ["id", "name", "scopes", "limited to", "created by", "last used", "expires"],
    )


def _limits(token: dict[str, Any]) -> str:
    parts = [f"team {token['team_id']}"] if token["team_id"] else []
    parts += [f"app {a}" for a in token["app_ids"] or []]
    parts += [f"project {p}" for p in token["project_ids"] or []]
    return ", ".join(parts) or "-"


def _project_id(client: RivetrClient, ref: str) -> str:
    for project in client.list_all("/api/projects"):
        if ref in (project["id"], project["name"]):
            return str(project["id"])
    raise CliError(f"no project matches {ref!r} (see `rivetr projects list`)")


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="What it may do (repeatable): read; deploy (+read); write (+deploy, +read); admin (all you may).",
)
@click.option("--team", metavar="TEAM", help="Team (name or id) it acts in; default: yours (or its apps').")
@click.option("--app", "apps", multiple=True, metavar="APP", help="Only this app (name or id); repeatable.")
@click.option(
    "--project", "projects", multiple=True, metavar="PROJECT", help="Only this project; repeatable."
)
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Lifetime in days (default: no expiry).")
@connection_options
@json_option
def tokens_create(
    name: str,
    scopes: tuple[str, ...],
    team: str | None,
    apps: tuple[str, ...],
    projects: tuple[str, ...],
    expires_days: int | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Create a token NAME and print its value, once. For CI: ``--scope deploy --app web``."""
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    with conn.client() as client:
        if team:
            body["team_id"] = team
        if apps:
            body["app_ids"] = [client.resolve_app(a)["id"] for a in apps]
        if projects:
            body["project_ids"] = [_project_id(client, p) for p in projects]
        if expires_days:
            body["expires_in_days"] = expires_days
        created = client.post("/api/tokens", body)
    if as_json:
        print_json(created)
        return
    click.echo(f"created token {created['name']} ({created['id']}), scopes {', '.join(created['scopes'])}")
    limits = _limits(created)
    if limits != "-":
        click.echo(f"limited to {limits}")
    click.echo("the value is shown this once; store it now (send it as Authorization: Bearer <token>):")
    click.echo(created["token"])


@tokens.command("revoke")
@click.argument("ref", metavar="TOKEN")
@connection_options
def tokens_revoke(ref: str, conn: Connection) -> None:
    """Revoke TOKEN (its id or name; server admins: anyone's): requests carrying it fail from now on."""
    with conn.client() as client:
        rows = client.list_all("/api/tokens", {"all": "true"})
        matches = [t for t in rows if ref in (t["id"], t["name"])]
        if len(matches) > 1:
            ids = ", ".join(t["id"] for t in matches)
            raise CliError(f"several tokens are named {ref!r} ({ids}): give the id")
        target = matches[0]["id"] if matches else ref
        client.delete(f"/api/tokens/{quote(target, safe='')}")
    click.echo(f"revoked token {ref}")
