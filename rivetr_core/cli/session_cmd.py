"""``rivetr login`` and ``rivetr status``."""

from __future__ import annotations

import os
from typing import Any

import click

from .client import (
    CliError,
    Connection,
    RivetrClient,
    connection_options,
    json_option,
    login_file,
    read_secret_file,
    refused_token_option,
    token_file_option,
    write_login,
)
from .output import fields, print_json, table
from .tokens_cmd import SCOPES


@click.command()
@click.option(
    "--url",
    envvar="RIVETR_URL",
    metavar="URL",
    prompt="Server URL",
    default="http://127.0.0.1:8080",
    help="Server URL ($RIVETR_URL).",
)
@token_file_option
@refused_token_option
@click.option(
    "-u",
    "--username",
    metavar="NAME",
    help="Log in as a dashboard user instead: the password is prompted (or $RIVETR_PASSWORD), a two-factor "
    "code too when the account has one, and an API token named rivetr-cli@<this host> is created for the CLI.",
)
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    help="With --username: the scope of the CLI's token (asked when omitted on a terminal; default write). "
    "Managing tokens and sessions from the CLI needs admin.",
)
@click.option(
    "--otp",
    metavar="CODE",
    envvar="RIVETR_OTP",
    help="With --username: the two-factor code if the account asks for one; a recovery code only through "
    "$RIVETR_OTP or the prompt (it is a lasting secret).",
)
def login(url: str, token_file: str | None, username: str | None, scope: str | None, otp: str | None) -> None:
    """Check a server URL and credential, then save URL and token to the login file (mode 0600).

    The admin token or an API token comes from --token-file, $RIVETR_TOKEN or a hidden prompt: never from the
    command line, where other local users and the shell history would see it."""
    url = url.rstrip("/")
    token = read_secret_file(token_file) if token_file else os.environ.get("RIVETR_TOKEN") or None
    if otp and not _one_time_code(otp) and _from_command_line("otp"):
        raise CliError(
            "a recovery code is a lasting secret: type it at the prompt or set $RIVETR_OTP, never on the command line"
        )
    if username:
        password = os.environ.get("RIVETR_PASSWORD") or click.prompt("Password", hide_input=True)
        if scope is None:
            scope = (
                click.prompt("Token scope", type=click.Choice(SCOPES), default="write") if _tty() else "write"
            )
        token = _token_for_user(url, username, password, scope, otp)
    elif not token:
        token = click.prompt("API token", hide_input=True)
    conn = Connection(url, (token or "").strip())
    if not conn.token:
        raise CliError("the token is empty")
    with conn.client(timeout=10) as client:
        # Proves URL and token together, whatever the token's scopes (a read or deploy token has no account rights).
        if not (client.get("/api/auth/status") or {}).get("authenticated"):
            raise CliError(f"the token was refused by {conn.url}: check it, or log in with --username")
        health = client.request("GET", "/health", ok=(503,)) or {}
    path = write_login(conn.url, conn.token)
    who = f" as {username}" if username else ""
    click.echo(f"logged in to {conn.url}{who} (Rivetr {health.get('version', '?')}); saved to {path}")


def _one_time_code(code: str) -> bool:
    """A code from an authenticator app (digits, valid 30 seconds, usable once), not a recovery code."""
    return code.strip().isdigit() and len(code.strip()) <= 8


def _from_command_line(param: str) -> bool:
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(param) == ParameterSource.COMMANDLINE


def _tty() -> bool:
    import sys

    return sys.stdin.isatty()


def _token_for_user(url: str, username: str, password: str, scope: str, otp: str | None) -> str:
    """Password (and second factor) login → a named API token with ``scope`` for this machine (the session is
    closed right after)."""
    import socket

    with RivetrClient(url, None, timeout=10) as client:
        session = client.request(
            "POST", "/api/auth/login", json_body={"username": username, "password": password}, ok=(401,)
        )
        if isinstance(session, dict) and session.get("two_factor_required"):
            session = _second_factor(client, username, session["challenge"], otp)
        if not isinstance(session, dict) or "csrf_token" not in session:
            error = (session or {}).get("error", {}) if isinstance(session, dict) else {}
            if error.get("code") == "account_disabled":
                raise CliError(f"login refused for {username!r}: {error.get('message')}")
            raise CliError(f"login refused for {username!r}: wrong user name or password")
        client.http.headers["X-CSRF-Token"] = session["csrf_token"]
        created = client.post(
            "/api/tokens", {"name": f"rivetr-cli@{socket.gethostname()}"[:100], "scopes": [scope]}
        )
        client.request("POST", "/api/auth/logout", ok=(401, 403))
    return str(created["token"])


def _second_factor(client: RivetrClient, username: str, challenge: str, otp: str | None) -> Any:
    """The login's second step: a 6-digit code from the authenticator app, or a recovery code."""
    code = (otp or click.prompt("Two-factor code (or a recovery code)", hide_input=True)).strip()
    field = "code" if _one_time_code(code) else "recovery_code"
    answer = client.request(
        "POST", "/api/auth/login/2fa", json_body={"challenge": challenge, field: code}, ok=(401,)
    )
    if not isinstance(answer, dict) or "csrf_token" not in answer:
        raise CliError(f"login refused for {username!r}: wrong two-factor code")
    return answer


@click.command()
@connection_options
@json_option
def status(conn: Connection, as_json: bool) -> None:
    """Server health (database, container engine, proxy), host load and the apps at a glance."""
    with conn.client(timeout=10) as client:
        health = client.request("GET", "/health", ok=(503,)) or {}
        apps = client.list_all("/api/apps", ok=(404,))
        system = client.get("/api/system/metrics", params={"range": "15m", "points": 2}, ok=(404,))
        channels = client.list_all("/api/notification-channels", ok=(404,))
    apps = apps if isinstance(apps, list) else []
    channels = channels if isinstance(channels, list) else []
    failing = [c for c in channels if c.get("failures")]
    latest: dict[str, Any] = (system or {}).get("latest") or {} if isinstance(system, dict) else {}
    if as_json:
        print_json(
            {
                "url": conn.url,
                "health": health,
                "apps": [{"id": a["id"], "name": a["name"], "status": a["status"]} for a in apps],
                "notification_channels": [
                    {"name": c["name"], "failures": c["failures"], "last_error": c["last_error"]}
                    for c in channels
                ],
                "host": latest,
            }
        )
        return
    # The CLI sends its token, so /health answers with details (engine name/version, error texts).
    details = health.get("details") or {}
    runtime = details.get("runtime") or {"ok": health.get("runtime") == "ok"}
    proxy = details.get("proxy") or {
        "ok": health.get("proxy") in ("ok", "disabled"),
        "enabled": health.get("proxy") != "disabled",
    }
    plugins = details.get("plugins") or {}
    broken = {name: p for name, p in plugins.items() if p.get("status") == "failed"}
    counts: dict[str, int] = {}
    for app in apps:
        counts[app["status"]] = counts.get(app["status"], 0) + 1
    fields(
        [
            ("server", f"{conn.url} (Rivetr {health.get('version', '?')})"),
            ("status", health.get("status", "?")),
            ("database", health.get("database", "?")),
            (
                "runtime",
                _component(runtime, f"{runtime.get('name', '')} {runtime.get('version', '')}".strip()),
            ),
            ("proxy", "disabled" if proxy.get("enabled") is False else _component(proxy, "ok")),
            ("host", _host(latest)),
            ("apps", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"),
            ("notifications", f"{len(channels)} channels" + (f", {len(failing)} failing" if failing else "")),
            *(
                [("plugins", f"{len(plugins)}" + (f", {len(broken)} failed" if broken else ""))]
                if plugins
                else []
            ),
        ]
    )
    for name, plugin in sorted(broken.items()):  # the server runs without them: say why
        click.echo(f"  plugin {name}: {plugin.get('error', 'failed')}")
    for channel in failing:
        click.echo(
            f"  channel {channel['name']}: {channel['failures']} failed deliveries; {channel['last_error']}"
        )
    troubled = [a for a in apps if a["status"] in ("failed", "crashed")]
    if troubled:
        click.echo()
        table(
            [(a["name"], a["status"], a.get("current_deployment_id")) for a in troubled],
            ["app", "status", "deployment"],
        )


def _component(info: dict[str, Any], ok_text: str) -> str:
    if info.get("ok"):
        return ok_text or "ok"
    return f"unavailable: {info.get('error', 'no answer')}"


def _host(latest: dict[str, Any]) -> str:
    if not latest:
        return "-"
    mem = latest.get("memory_used_bytes", 0) / max(latest.get("memory_total_bytes", 1), 1) * 100
    return f"cpu {latest.get('cpu_percent', 0):.0f}%, memory {mem:.0f}%, disk {latest.get('disk_used_percent', 0):.0f}%"


__all__ = ["login", "login_file", "status"]
