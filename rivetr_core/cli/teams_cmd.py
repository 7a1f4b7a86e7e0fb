"""``rivetr teams list|create|show|rename|delete|members|add-member|set-role|remove-member``: teams own projects,
members have one role per team (owner, admin, developer, viewer). A TEAM is named by name or id, a USER by
username or id."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from rivetr_core.authz.permissions import TEAM_ROLES

from .client import CliError, Connection, RivetrClient, connection_options, json_option
from .output import fields, print_json, short_time, table

ROLE_OPTION = click.option(
    "--role", required=True, type=click.Choice(list(TEAM_ROLES)), help="The member's role in the team."
)


def resolve_team(client: RivetrClient, ref: str) -> dict[str, Any]:
    """The team named ``ref`` (name or id)."""
    for team in client.list_all("/api/teams"):
        if ref in (team["id"], team["name"]):
            return dict(team)
    raise CliError(f"no team matches {ref!r} (see `rivetr teams list`)")


def _members_path(team: dict[str, Any], user: str | None = None) -> str:
    path = f"/api/teams/{quote(team['id'], safe='')}/members"
    return path if user is None else f"{path}/{quote(user, safe='')}"


@click.group("teams")
def teams() -> None:
    """Teams own projects (and through them apps, services and stacks); users belong to teams with a role,
    which decides what they may do there (docs/teams.md)."""


@teams.command("list")
@connection_options
@json_option
def teams_list(conn: Connection, as_json: bool) -> None:
    """Every team, with its member and project counts."""
    with conn.client() as client:
        rows = client.list_all("/api/teams")
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                t["id"],
                t["name"],
                t["member_count"],
                len(t["project_ids"]),
                t["require_2fa"],
                short_time(t["created_at"]),
            )
            for t in rows
        ],
        ["id", "name", "members", "projects", "2fa", "created"],
    )


@teams.command("create")
@click.argument("name")
@click.option("--require-2fa", is_flag=True, help="Members must use two-factor login to act in the team.")
@connection_options
@json_option
def teams_create(name: str, require_2fa: bool, conn: Connection, as_json: bool) -> None:
    """Create a team (a user's token makes that user its owner)."""
    with conn.client() as client:
        team = client.post("/api/teams", {"name": name, "require_2fa": require_2fa})
    if as_json:
        print_json(team)
        return
    click.echo(f"created team {team['name']} ({team['id']})")


def _member_text(member: dict[str, Any], require_2fa: bool) -> str:
    """``alice (owner)``; a member without two-factor login in a team that requires it has no rights there."""
    lacking = require_2fa and not member.get("two_factor_enabled")
    return f"{member['username']} ({member['role']}{', no 2FA: no access' if lacking else ''})"


@teams.command("show")
@click.argument("team")
@connection_options
@json_option
def teams_show(team: str, conn: Connection, as_json: bool) -> None:
    """One team: settings, members and projects."""
    with conn.client() as client:
        row = resolve_team(client, team)
        members = client.list_all(_members_path(row))
    if as_json:
        print_json({**row, "members": members})
        return
    fields(
        [
            ("id", row["id"]),
            ("name", row["name"]),
            ("default", row["default"]),
            ("require 2fa", row["require_2fa"]),
            ("projects", ", ".join(row["project_ids"])),
            ("members", ", ".join(_member_text(m, row["require_2fa"]) for m in members)),
            ("created", short_time(row["created_at"])),
        ]
    )


@teams.command("rename")
@click.argument("team")
@click.argument("new_name")
@connection_options
def teams_rename(team: str, new_name: str, conn: Connection) -> None:
    """Rename a team."""
    with conn.client() as client:
        row = resolve_team(client, team)
        client.put(f"/api/teams/{quote(row['id'], safe='')}", {"name": new_name})
    click.echo(f"renamed team {row['name']} to {new_name}")


@teams.command("delete")
@click.argument("team")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def teams_delete(team: str, yes: bool, conn: Connection) -> None:
    """Delete a team (refused while it owns projects, and for the default team)."""
    with conn.client() as client:
        row = resolve_team(client, team)
        if not yes:
            click.confirm(f"delete team {row['name']}?", abort=True)
        client.delete(f"/api/teams/{quote(row['id'], safe='')}")
    click.echo(f"deleted team {row['name']}")


@teams.command("members")
@click.argument("team")
@connection_options
@json_option
def teams_members(team: str, conn: Connection, as_json: bool) -> None:
    """A team's members and their roles."""
    with conn.client() as client:
        rows = client.list_all(_members_path(resolve_team(client, team)))
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                m["username"],
                m["role"],
                "on" if m["two_factor_enabled"] else "off",
                m["user_id"],
                short_time(m["created_at"]),
            )
            for m in rows
        ],
        ["user", "role", "2fa", "user id", "since"],
    )


@teams.command("add-member")
@click.argument("team")
@click.argument("user")
@ROLE_OPTION
@connection_options
def teams_add_member(team: str, user: str, role: str, conn: Connection) -> None:
    """Add USER (username or id) to TEAM with a role."""
    with conn.client() as client:
        row = resolve_team(client, team)
        member = client.post(_members_path(row), _user_body(user, role))
    click.echo(f"added {member['username']} to team {row['name']} as {member['role']}")


@teams.command("set-role")
@click.argument("team")
@click.argument("user")
@ROLE_OPTION
@connection_options
def teams_set_role(team: str, user: str, role: str, conn: Connection) -> None:
    """Change USER's role in TEAM (the last owner cannot be demoted)."""
    with conn.client() as client:
        row = resolve_team(client, team)
        member = client.put(_members_path(row, user), {"role": role})
    click.echo(f"{member['username']} is now {member['role']} of team {row['name']}")


@teams.command("remove-member")
@click.argument("team")
@click.argument("user")
@connection_options
def teams_remove_member(team: str, user: str, conn: Connection) -> None:
    """Remove USER from TEAM (the last owner cannot be removed)."""
    with conn.client() as client:
        row = resolve_team(client, team)
        client.delete(_members_path(row, user))
    click.echo(f"removed {user} from team {row['name']}")


def _user_body(user: str, role: str) -> dict[str, Any]:
    # The server takes a user_id or a username (and finds a user by either); naming the likely one keeps its
    # error messages about the right field.
    is_id = len(user) == 32 and all(c in "0123456789abcdef" for c in user)
    return {"user_id" if is_id else "username": user, "role": role}
