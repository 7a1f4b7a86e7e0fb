"""``rivetr routes list|add|remove|show|set``: proxy routes by domain and path prefix, and what each does besides
forwarding: prefix stripping, the www redirect, redirect rules and basic auth (``/api/routes``).

A route's KEY is its domain, followed by its path prefix unless that is ``/`` (``api.example.com/v1``); an app's
domain entry is such a key too, so ``rivetr routes set`` configures app domains as well as manual routes.
Basic-auth passwords are prompted for (or read from stdin with ``--password-stdin``), never taken as argument
values: argv is readable by every local user and stays in shell history.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

import click

from .client import CliError, Connection, connection_options, json_option
from .output import fields, print_json, table
from .route_health import upstream_label


@click.group("routes")
def routes() -> None:
    """Proxy routes by domain and path prefix, with their redirects and basic auth. Changing them needs the
    server role (owner or admin)."""


def _settings_path(key: str) -> str:
    return "/api/routes/settings/" + quote(key, safe="/")


def _owner(r: dict[str, Any]) -> str:
    if r.get("app_id"):
        return f"app {r['app_id']}"
    if r.get("stack_id"):
        return f"stack {r['stack_id']}"
    return "manual"


def _rules(s: dict[str, Any] | None) -> str:
    if not s:
        return "-"
    parts = []
    if s.get("strip_prefix"):
        parts.append("strip")
    if s.get("redirect_www"):
        parts.append(f"www {s['redirect_www']}")
    if s.get("redirects"):
        parts.append(f"{len(s['redirects'])} redirect(s)")
    if s.get("basic_auth"):
        parts.append(f"auth ({len(s['basic_auth']['users'])} user(s))")
    if s.get("compression") is False:
        parts.append("no compression")
    if s.get("upstream_protocol") == "h2c":
        parts.append("h2c upstream")
    return ", ".join(parts) or "-"


@routes.command("list")
@connection_options
@json_option
def routes_list(conn: Connection, as_json: bool) -> None:
    """Every route: key, upstreams, owner and rules."""
    with conn.client() as client:
        rows = client.list_all("/api/routes")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no routes (`rivetr routes add DOMAIN HOST:PORT`, or give an app a domain)")
        return
    table(
        [
            (
                r.get("key") or r["domain"],
                " ".join(upstream_label(u) for u in r["upstreams"]),
                _owner(r),
                _rules(r.get("settings")),
            )
            for r in rows
        ],
        ["KEY", "UPSTREAMS", "OWNER", "RULES"],
    )


@routes.command("add")
@click.argument("domain")
@click.argument("upstreams", nargs=-1, required=True)
@click.option("--path-prefix", default="/", show_default=True, help="Only requests under this path (/v1).")
@click.option(
    "--strip-prefix/--keep-prefix", default=None, help="Forward /v1/x as /x (default: keep as it is)."
)
@click.option("--https-redirect", is_flag=True, help="Redirect HTTP to HTTPS once a certificate exists.")
@click.option("--hsts", is_flag=True, help="Send Strict-Transport-Security on HTTPS.")
@click.option(
    "--upstream-protocol",
    type=click.Choice(["http1", "h2c"]),
    help="h2c: talk HTTP/2 cleartext to the upstreams (gRPC); default http1.",
)
@connection_options
@json_option
def routes_add(
    conn: Connection,
    domain: str,
    upstreams: tuple[str, ...],
    path_prefix: str,
    strip_prefix: bool | None,
    upstream_protocol: str | None,
    https_redirect: bool,
    hsts: bool,
    as_json: bool,
) -> None:
    """Create or replace the manual route of DOMAIN (and --path-prefix) to UPSTREAMS (host:port, round-robin)."""
    body: dict[str, Any] = {
        "domain": domain,
        "path_prefix": path_prefix,
        "upstreams": list(upstreams),
        "https_redirect": https_redirect,
        "hsts": hsts,
    }
    if strip_prefix is not None:
        body["strip_prefix"] = strip_prefix
    if upstream_protocol is not None:
        body["upstream_protocol"] = upstream_protocol
    with conn.client() as client:
        row = client.post("/api/routes", body)
    if as_json:
        print_json(row)
        return
    click.echo(f"routed {row['key']} to {', '.join(u['address'] for u in row['upstreams'])}")


@routes.command("remove")
@click.argument("key")
@connection_options
def routes_remove(conn: Connection, key: str) -> None:
    """Remove the manual route KEY (example.com or example.com/v1)."""
    with conn.client() as client:
        client.delete("/api/routes/" + quote(key, safe="/"))
    click.echo(f"removed {key}")


def _show(s: dict[str, Any]) -> None:
    auth = s.get("basic_auth")
    fields(
        [
            ("key", s["key"]),
            ("strip prefix", "yes" if s["strip_prefix"] else "no"),
            ("www redirect", s.get("redirect_www") or "-"),
            (
                "redirects",
                "; ".join(f"{r['from']} -> {r['to']} ({r['status']})" for r in s["redirects"]) or "-",
            ),
            ("basic auth", f"realm {auth['realm']!r}, users {', '.join(auth['users'])}" if auth else "off"),
            ("compression", "on" if s.get("compression", True) else "off"),
            ("protocol", s.get("upstream_protocol") or "http1"),  # to the upstreams: http1 or h2c
        ]
    )


@routes.command("show")
@click.argument("key")
@connection_options
@json_option
def routes_show(conn: Connection, key: str, as_json: bool) -> None:
    """The settings of KEY: stripping, www redirect, redirect rules, basic-auth users (never their hashes)."""
    with conn.client() as client:
        s = client.get(_settings_path(key))
    if as_json:
        print_json(s)
    else:
        _show(s)


def _redirect_rule(text: str) -> dict[str, Any]:
    """``/old=/new`` or ``/old=https://x/new:302``: the status after the last colon when it is one of them."""
    source, sep, target = text.partition("=")
    if not sep or not source or not target:
        raise CliError(f"--redirect {text!r}: give FROM=TO[:STATUS], e.g. /old=/new:308")
    status = 301
    head, colon, tail = target.rpartition(":")
    if colon and tail in ("301", "302", "307", "308"):
        target, status = head, int(tail)
    return {"from": source, "to": target, "status": status}


@routes.command("set")
@click.argument("key")
@click.option("--strip-prefix/--keep-prefix", default=None, help="Forward /v1/x as /x, or as it is.")
@click.option(
    "--compression/--no-compression", default=None, help="Let the proxy compress responses (on by default)."
)
@click.option(
    "--upstream-protocol",
    type=click.Choice(["http1", "h2c"]),
    help="h2c: HTTP/2 cleartext to the app, for gRPC (HTTP/2 clients over HTTPS); http1: HTTP/1.1.",
)
@click.option(
    "--redirect-www",
    type=click.Choice(["to-apex", "to-www", "none"]),
    help="to-apex on example.com: www.example.com redirects to it; to-www on www.example.com: the apex does.",
)
@click.option(
    "--redirect",
    "redirects",
    multiple=True,
    metavar="FROM=TO[:STATUS]",
    help="Replaces the rules (in order).",
)
@click.option("--no-redirects", is_flag=True, help="Remove every redirect rule.")
@click.option(
    "--auth-user", "auth_users", multiple=True, metavar="NAME", help="Add or re-password a user (prompted)."
)
@click.option(
    "--auth-hash",
    "auth_hashes",
    multiple=True,
    metavar="NAME=HASH",
    help="A user with a ready bcrypt/argon2 hash.",
)
@click.option("--remove-auth-user", "removed", multiple=True, metavar="NAME")
@click.option("--auth-realm", help="The realm browsers show.")
@click.option("--no-auth", is_flag=True, help="Turn basic auth off.")
@click.option("--password-stdin", is_flag=True, help="Read the --auth-user passwords from stdin, one a line.")
@connection_options
@json_option
def routes_set(
    conn: Connection,
    key: str,
    strip_prefix: bool | None,
    compression: bool | None,
    upstream_protocol: str | None,
    redirect_www: str | None,
    redirects: tuple[str, ...],
    no_redirects: bool,
    auth_users: tuple[str, ...],
    auth_hashes: tuple[str, ...],
    removed: tuple[str, ...],
    auth_realm: str | None,
    no_auth: bool,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Change what KEY (example.com, example.com/v1, an app's domain entry) does besides forwarding."""
    body: dict[str, Any] = {}
    if strip_prefix is not None:
        body["strip_prefix"] = strip_prefix
    if compression is not None:
        body["compression"] = compression
    if upstream_protocol is not None:
        body["upstream_protocol"] = upstream_protocol
    if redirect_www is not None:
        body["redirect_www"] = None if redirect_www == "none" else redirect_www
    if redirects or no_redirects:
        body["redirects"] = [] if no_redirects else [_redirect_rule(r) for r in redirects]
    with conn.client() as client:
        if no_auth:
            body["basic_auth"] = None
        elif auth_users or auth_hashes or removed or auth_realm is not None:
            current = client.get(_settings_path(key)).get("basic_auth") or {}
            users: dict[str, dict[str, Any]] = {n: {"name": n} for n in current.get("users", [])}
            for name in removed:
                users.pop(name, None)
            for item in auth_hashes:
                name, sep, hashed = item.partition("=")
                if not sep:
                    raise CliError(f"--auth-hash {item!r}: give NAME=HASH")
                users[name] = {"name": name, "hash": hashed}
            for name in auth_users:
                if password_stdin:
                    password = sys.stdin.readline().rstrip("\n")
                else:
                    password = click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
                users[name] = {"name": name, "password": password}
            if not users:
                body["basic_auth"] = None
            else:
                body["basic_auth"] = {
                    "realm": auth_realm or current.get("realm") or "Restricted",
                    "users": list(users.values()),
                }
        if not body:
            raise CliError("nothing to change: see `rivetr routes set --help`")
        s = client.put(_settings_path(key), body)
    if as_json:
        print_json(s)
    else:
        _show(s)
