"""``rivetr account``: the logged-in user's own account — ``2fa status|enable|disable|recovery-codes``,
``passkeys list|add|rename ID NAME|remove ID``, ``password``, ``sessions list|revoke ID|revoke-all``.

These act as the user the CLI's token belongs to (``rivetr login -u NAME`` makes one); the admin token has no
user, so the server refuses them (403). Passwords and codes are prompted, never taken as arguments visible to other
local users (``$RIVETR_PASSWORD`` is read for scripts).
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import quote

import click

from .client import Connection, RivetrClient, connection_options, json_option
from .output import fields, print_json, short_time, table


@click.group("account")
def account() -> None:
    """Your own account: two-factor login, passkeys, password and sessions (docs/two-factor.md)."""


def _password(prompt: str = "Password") -> str:
    return os.environ.get("RIVETR_PASSWORD") or click.prompt(prompt, hide_input=True)


def _code(given: str | None, prompt: str = "Code from your authenticator app") -> str:
    return given or click.prompt(prompt)


def _print_recovery_codes(codes: list[str]) -> None:
    click.echo(
        "Recovery codes (each works once instead of a code; store them now, they are not shown again):"
    )
    for code in codes:
        click.echo(f"  {code}")


# --------------------------------------------------------------------------------------------- 2fa
@account.group("2fa")
def two_factor() -> None:
    """Two-factor login with an authenticator app (TOTP): after the password, a 6-digit code."""


@two_factor.command("status")
@connection_options
@json_option
def two_factor_status(conn: Connection, as_json: bool) -> None:
    """Whether your logins ask for a code (the authenticator app), how many passkeys you have, and how many
    recovery codes are left."""
    with conn.client() as client:
        status = client.get("/api/auth/2fa")
    if as_json:
        print_json(status)
        return
    fields(
        [
            ("two-factor", "enabled" if status["enabled"] else "pending" if status["pending"] else "off"),
            ("passkeys", status.get("passkeys", 0)),
            (
                "recovery codes left",
                status["recovery_codes_left"] if status["enabled"] or status.get("passkeys") else "-",
            ),
        ]
    )


def _show_secret(enrolment: dict[str, Any]) -> None:
    click.echo("Add this account to your authenticator app:")
    if sys.stdout.isatty():  # a scannable QR code in the terminal; pipes and logs get the URI only
        import segno

        segno.make(enrolment["otpauth_uri"], error="m").terminal(compact=True)
    click.echo(f"  URI:    {enrolment['otpauth_uri']}")
    click.echo(f"  secret: {enrolment['secret']}  (to type it in by hand)")


@two_factor.command("enable")
@click.option("--code", metavar="CODE", help="The first code from the app (prompted when not given).")
@connection_options
def two_factor_enable(code: str | None, conn: Connection) -> None:
    """Enrol: prints the otpauth URI (and a QR code in a terminal), asks for the first code, then prints the
    recovery codes once."""
    with conn.client() as client:
        _show_secret(client.post("/api/auth/2fa/setup"))
        confirmed = client.post("/api/auth/2fa/confirm", {"code": _code(code)})
    click.echo("two-factor login is on: logins ask for a code after the password")
    _print_recovery_codes(confirmed["recovery_codes"])


@two_factor.command("disable")
@click.option("--code", metavar="CODE", help="A current code or a recovery code (prompted when not given).")
@connection_options
def two_factor_disable(code: str | None, conn: Connection) -> None:
    """Turn two-factor login off (asks for your password and a code). A team that requires it stops letting
    you act in it."""
    body = {"password": _password(), "code": _code(code, "Code (or a recovery code)")}
    with conn.client() as client:
        client.request("DELETE", "/api/auth/2fa", json_body=body)
    click.echo("two-factor login is off")


@two_factor.command("recovery-codes")
@click.option("--code", metavar="CODE", help="A current code from the app (prompted when not given).")
@connection_options
def two_factor_recovery_codes(code: str | None, conn: Connection) -> None:
    """Replace your recovery codes (the old ones stop working); asks for a current code (your password when your
    second factors are passkeys only)."""
    with conn.client() as client:
        status = client.get("/api/auth/2fa")
        passkeys_only = not status["enabled"] and status["passkeys"] and code is None
        body = {"password": _password()} if passkeys_only else {"code": _code(code)}
        fresh = client.post("/api/auth/2fa/recovery-codes", body)
    _print_recovery_codes(fresh["recovery_codes"])


# --------------------------------------------------------------------------------------------- passkeys
@account.group("passkeys")
def passkeys() -> None:
    """Passkeys (security keys, phones, this computer's fingerprint or PIN) as the second step of a login."""


@passkeys.command("list")
@connection_options
@json_option
def passkeys_list(conn: Connection, as_json: bool) -> None:
    """Your passkeys, oldest first."""
    with conn.client() as client:
        rows = client.list_all("/api/auth/passkeys")
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                p["id"],
                p["name"],
                short_time(p["created_at"]),
                short_time(p["last_used_at"]) if p["last_used_at"] else "never",
            )
            for p in rows
        ],
        ["id", "name", "added", "last used"],
    )


@passkeys.command("add")
@connection_options
def passkeys_add(conn: Connection) -> None:
    """Adding a passkey needs a browser (WebAuthn talks to the authenticator through it): prints where."""
    click.echo("A passkey is added in the browser, where the key or phone is asked to sign:")
    click.echo(f"  {conn.url}/profile#passkeys")


@passkeys.command("rename")
@click.argument("passkey_id")
@click.argument("name")
@connection_options
def passkeys_rename(passkey_id: str, name: str, conn: Connection) -> None:
    """Rename one of your passkeys (an id from `rivetr account passkeys list`)."""
    with conn.client() as client:
        row = client.put(f"/api/auth/passkeys/{quote(passkey_id, safe='')}", {"name": name})
    click.echo(f"renamed passkey {row['id']} to {row['name']}")


@passkeys.command("remove")
@click.argument("passkey_id")
@connection_options
def passkeys_remove(passkey_id: str, conn: Connection) -> None:
    """Remove one of your passkeys (asks for your password). Removing the last second factor turns two-factor
    login off."""
    body = {"password": _password()}
    with conn.client() as client:
        client.request("DELETE", f"/api/auth/passkeys/{quote(passkey_id, safe='')}", json_body=body)
    click.echo(f"removed passkey {passkey_id}")


# --------------------------------------------------------------------------------------------- password
@account.command("password")
@connection_options
def password(conn: Connection) -> None:
    """Change your password (prompted: current, then the new one twice). Every dashboard session of yours ends;
    API tokens keep working."""
    current = _password("Current password")
    new = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with conn.client() as client:
        client.post("/api/auth/password", {"current_password": current, "new_password": new})
    click.echo("password changed; log in to the dashboard again")


# --------------------------------------------------------------------------------------------- sessions
@account.group("sessions")
def sessions() -> None:
    """Your dashboard logins (browsers), with the device and last use; end one or all."""


def _sessions(client: RivetrClient, everyone: bool) -> Any:
    return client.list_all("/api/auth/sessions", params={"all": "true"} if everyone else None)


@sessions.command("list")
@click.option("--all", "everyone", is_flag=True, help="Every user's sessions (server owners and admins).")
@connection_options
@json_option
def sessions_list(everyone: bool, conn: Connection, as_json: bool) -> None:
    """Live sessions, newest first."""
    with conn.client() as client:
        rows = _sessions(client, everyone)
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                s["id"],
                s["username"],
                s["device"],
                s["ip"],
                short_time(s["created_at"]),
                short_time(s["last_seen_at"]),
            )
            for s in rows
        ],
        ["id", "user", "device", "ip", "created", "last used"],
    )


@sessions.command("revoke")
@click.argument("session_id")
@connection_options
def sessions_revoke(session_id: str, conn: Connection) -> None:
    """End one session (an id from `rivetr account sessions list`): that browser is logged out at once."""
    with conn.client() as client:
        client.delete(f"/api/auth/sessions/{quote(session_id, safe='')}")
    click.echo(f"ended session {session_id}")


@sessions.command("revoke-all")
@connection_options
def sessions_revoke_all(conn: Connection) -> None:
    """End every session of yours (the CLI uses a token, not a session, so all of them end)."""
    with conn.client() as client:
        ended = client.delete("/api/auth/sessions")
    click.echo(f"ended {ended['ended']} sessions")
