"""``rivetr templates list [QUERY] [--category]`` and ``rivetr templates show NAME``: the catalogue a service is
created from (``rivetr services create NAME --type <template>``; see docs/templates.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from .client import Connection, connection_options, json_option
from .output import print_json, table


@click.group("templates")
def templates() -> None:
    """The service template catalogue: databases and one-click apps."""


@templates.command("list")
@click.argument("query", required=False)
@click.option(
    "--category", type=click.Choice(["database", "app"]), help="Only databases or only one-click apps."
)
@connection_options
@json_option
def templates_list(query: str | None, category: str | None, conn: Connection, as_json: bool) -> None:
    """Templates matching QUERY (in the name, title, description or image), databases first. Templates that
    failed to load are listed on stderr with the reason."""
    params = {k: v for k, v in (("q", query), ("category", category)) if v}
    with conn.client() as client:
        page = client.get("/api/templates", params=params)
    if as_json:
        print_json(page)
        return
    rows = page["items"]
    if rows:
        table(
            [
                (
                    t["name"],
                    t["title"],
                    t["category"],
                    ", ".join(t["versions"]),
                    t["port"],
                    t["link_prefix"] or "-",
                    t["backup_method"],
                    t["source"],
                )
                for t in rows
            ],
            ["name", "title", "category", "versions", "port", "link", "backup", "source"],
        )
    else:
        click.echo("no template matches" if params else "the catalogue is empty")
    for problem in page.get("errors") or []:
        click.echo(f"broken template ({problem['source']}): {problem['message']}", err=True)


@templates.command("show")
@click.argument("name")
@connection_options
@json_option
def templates_show(name: str, conn: Connection, as_json: bool) -> None:
    """What a service of template NAME gets: image and versions, port, volumes, credentials, link variables."""
    with conn.client() as client:
        t: dict[str, Any] = client.get(f"/api/templates/{quote(name, safe='')}")
    if as_json:
        print_json(t)
        return
    creds = t["credentials"]
    link = t["link_prefix"]
    lines = [
        ("name", t["name"]),
        ("title", t["title"]),
        ("category", t["category"]),
        ("description", t["description"]),
        ("image", t["image"]),
        ("versions", ", ".join(t["versions"]) + f" (default {t['default_version']})"),
        ("port", t["port"]),
        ("volumes", ", ".join(f"{v['name']} at {v['path']}" for v in t["volumes"]) or "none"),
        ("user", creds["user"] or "-"),
        ("database", creds["database"] or "-"),
        ("password", "generated (32 letters and digits)"),
        ("secrets", ", ".join(t["secret_env_keys"]) or "-"),
        ("env", ", ".join(t["env_keys"]) or "-"),
        (
            "link",
            ", ".join([f"{link}_URL", *(f"{link}_{p}" for p in t["link_parts"])])
            if link
            else "host and port",
        ),
        ("backup", t["backup_method"]),
        ("rotatable", "yes" if t["rotatable"] else "no"),
        ("docs", t["docs_url"]),
        ("source", t["source"]),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key + ':':<{width + 1}} {value}")
