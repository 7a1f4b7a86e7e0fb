"""``rivetr users list|show|set-role|disable|enable|delete|reset-password|reset-2fa|revoke-sessions|invite`` and
``rivetr invitations list|revoke``: user administration and one-time links. A USER is named by username or id, a
TEAM by name or id. Links (an invitation, a password reset) are printed once: hand them over yourself (no mail is
sent)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from rivetr_core.authz.permissions import TEAM_ROLES

from .client import Connection, connection_options, json_option
from .output import fields, print_json, short_time, table
from .teams_cmd import resolve_team

SERVER_ROLES = ("owner", "admin", "member")


def _user_path(user: str, suffix: str = "") -> str:
    return f"/api/users/{quote(user, safe='')}{suffix}"


def _teams_cell(user: dict[str, Any]) -> str:
    return ", ".join(f"{t['name']} ({t['role']})" for t in user["teams"]) or "-"


def _print_link(link: dict[str, Any], what: str) -> None:
    click.echo(f"{what} (expires {short_time(link['expires_at'])} UTC); shown once, hand it over:")
    click.echo(link["url"])


@click.group("users")
def users() -> None:
    """Users of the server: list, server roles, disable, delete, password-reset links, invitations
    (docs/users.md)."""


@users.command("list")
@connection_options
@json_option
def users_list(conn: Connection, as_json: bool) -> None:
    """Every user with their server role, state and teams."""
    with conn.client() as client:
        rows = client.list_all("/api/users")
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                u["username"],
                u["server_role"] or "-",
                "disabled" if u["disabled"] else "active",
                _teams_cell(u),
                u["two_factor_enabled"],
                short_time(u["last_login_at"]),
            )
            for u in rows
        ],
        ["user", "server role", "state", "teams", "2fa", "last login"],
    )


@users.command("show")
@click.argument("user")
@connection_options
@json_option
def users_show(user: str, conn: Connection, as_json: bool) -> None:
    """One user (USER: username or id)."""
    with conn.client() as client:
        row = client.get(_user_path(user))
    if as_json:
        print_json(row)
        return
    fields(
        [
            ("id", row["id"]),
            ("username", row["username"]),
            ("server role", row["server_role"] or "-"),
            ("disabled", row["disabled"]),
            ("2fa", row["two_factor_enabled"]),
            ("teams", _teams_cell(row)),
            ("created", short_time(row["created_at"])),
            ("last login", short_time(row["last_login_at"])),
        ]
    )


@users.command("set-role")
@click.argument("user")
@click.argument("role", type=click.Choice(SERVER_ROLES))
@connection_options
def users_set_role(user: str, role: str, conn: Connection) -> None:
    """Set USER's server role: owner (only an owner may make or demote one), admin, or member (no server
    role)."""
    with conn.client() as client:
        row = client.put(_user_path(user), {"role": role})
    click.echo(f"{row['username']} is now {row['server_role'] or 'a member without server role'}")


def _set_disabled(user: str, disabled: bool, conn: Connection) -> None:
    with conn.client() as client:
        row = client.put(_user_path(user), {"disabled": disabled})
    click.echo(f"{'disabled' if row['disabled'] else 'enabled'} {row['username']}")


@users.command("disable")
@click.argument("user")
@connection_options
def users_disable(user: str, conn: Connection) -> None:
    """Disable USER: login refused, sessions ended, tokens stop working."""
    _set_disabled(user, True, conn)


@users.command("enable")
@click.argument("user")
@connection_options
def users_enable(user: str, conn: Connection) -> None:
    """Enable a disabled USER again."""
    _set_disabled(user, False, conn)


@users.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def users_delete(user: str, yes: bool, conn: Connection) -> None:
    """Delete USER; their sessions, API tokens and team memberships go with them."""
    if not yes:
        click.confirm(f"delete user {user} with their sessions and tokens?", abort=True)
    with conn.client() as client:
        client.delete(_user_path(user))
    click.echo(f"deleted user {user}")


@users.command("reset-password")
@click.argument("user")
@connection_options
@json_option
def users_reset_password(user: str, conn: Connection, as_json: bool) -> None:
    """Make a one-time password-reset link for USER (valid 24 hours; replaces their earlier one)."""
    with conn.client() as client:
        link = client.post(_user_path(user, "/password-reset"))
    if as_json:
        print_json(link)
        return
    _print_link(link, f"password-reset link for {link['username']}")


@users.command("reset-2fa")
@click.argument("user")
@connection_options
def users_reset_two_factor(user: str, conn: Connection) -> None:
    """Turn off USER's two-factor login (a lost phone and no recovery code): they log in with the password alone
    and can enrol again (docs/two-factor.md)."""
    with conn.client() as client:
        client.delete(_user_path(user, "/2fa"))
    click.echo(f"two-factor login of {user} is off")


@users.command("revoke-sessions")
@click.argument("user")
@connection_options
def users_revoke_sessions(user: str, conn: Connection) -> None:
    """End every dashboard session of USER (their API tokens stay)."""
    with conn.client() as client:
        ended = client.post(_user_path(user, "/sessions/revoke"))
    click.echo(f"ended {ended['ended']} session(s) of {user}")


@users.command("invite")
@click.option("--team", required=True, help="The team the new user joins (name or id).")
@click.option("--role", required=True, type=click.Choice(list(TEAM_ROLES)), help="Their role in the team.")
@click.option("--email", help="Whom it is for (recorded only: no mail is sent).")
@click.option("--username", help="Suggested user name (the invitee may choose another).")
@click.option("--expires-in-hours", type=click.IntRange(1, 720), help="Lifetime of the link (default 168).")
@connection_options
@json_option
def users_invite(
    team: str,
    role: str,
    email: str | None,
    username: str | None,
    expires_in_hours: int | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Make a one-time invitation link into TEAM with ROLE and print it."""
    if not email and not username:
        raise click.UsageError("give --email or --username (whom the link is for)")
    body: dict[str, Any] = {"role": role}
    for key, value in (("email", email), ("username", username), ("expires_in_hours", expires_in_hours)):
        if value is not None:
            body[key] = value
    with conn.client() as client:
        row = resolve_team(client, team)
        link = client.post("/api/invitations", {**body, "team_id": row["id"]})
    if as_json:
        print_json(link)
        return
    _print_link(link, f"invitation to team {link['team_name']} as {link['role']}")


@click.group("invitations")
def invitations() -> None:
    """Pending one-time links: invitations and password resets."""


@invitations.command("list")
@connection_options
@json_option
def invitations_list(conn: Connection, as_json: bool) -> None:
    """Pending links (not used, not expired); their tokens are never shown again."""
    with conn.client() as client:
        rows = client.list_all("/api/invitations")
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                i["id"],
                i["kind"],
                i["username"] or i["email"] or "-",
                f"{i['team_name']} ({i['role']})" if i["team_id"] else "-",
                i["created_by"],
                short_time(i["expires_at"]),
            )
            for i in rows
        ],
        ["id", "kind", "for", "team", "by", "expires"],
    )


@invitations.command("revoke")
@click.argument("invitation_id")
@connection_options
def invitations_revoke(invitation_id: str, conn: Connection) -> None:
    """Revoke a pending link by its id (see `rivetr invitations list`)."""
    with conn.client() as client:
        client.delete(f"/api/invitations/{quote(invitation_id, safe='')}")
    click.echo(f"revoked {invitation_id}")
