"""``rivetr apps maintenance APP on|off [--message]`` and ``rivetr apps error-page APP STATUS --file | --clear``
(issue 22): an app's maintenance mode and its own pages for the proxy's 502/503/504 answers
(docs/proxy-error-pages.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import fields, print_json


def _show(found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(found)
        return
    pages = found.get("error_pages") or {}
    fields(
        [
            ("maintenance", found.get("maintenance")),
            ("message", found.get("message") or "-"),
            ("error pages", ", ".join(sorted(pages)) or "-"),
        ]
    )


@click.command("maintenance")
@click.argument("app", shell_complete=complete_app)
@click.argument("switch", required=False, type=click.Choice(["on", "off"]))
@click.option("--message", help="Shown on the default maintenance page.")
@connection_options
@json_option
def apps_maintenance(
    app: str, switch: str | None, message: str | None, conn: Connection, as_json: bool
) -> None:
    """Show maintenance mode, or turn it on or off. On: the app's domains answer 503 with the maintenance page
    and the app is not reached (it keeps running); off: traffic flows again at once.

    \b
    rivetr apps maintenance web on --message "Back at 18:00"
    rivetr apps maintenance web off"""
    with conn.client() as client:
        app_id = client.resolve_app(app)["id"]
        if switch is None:
            found = client.get(f"/api/apps/{app_id}/error-pages")
        else:
            body: dict[str, Any] = {"enabled": switch == "on"}
            if message is not None:
                body["message"] = message
            found = client.post(f"/api/apps/{app_id}/maintenance", body)
    _show(found, as_json)


@click.command("error-page")
@click.argument("app", shell_complete=complete_app)
@click.argument("status", type=click.Choice(["502", "503", "504", "maintenance"]))
@click.option(
    "--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="HTML page (64 KiB)."
)
@click.option("--clear", is_flag=True, help="Serve the proxy's own page again.")
@connection_options
@json_option
def apps_error_page(
    app: str, status: str, path: Path | None, clear: bool, conn: Connection, as_json: bool
) -> None:
    """Set (--file) or clear (--clear) the app's page for a status the proxy answers itself (502: the app
    refused or failed, 503: no healthy instance, 504: timeout) or for maintenance mode.

    \b
    rivetr apps error-page web 503 --file down.html
    rivetr apps error-page web 503 --clear"""
    if (path is None) == (not clear):
        raise click.UsageError("give --file PAGE.html or --clear")
    with conn.client() as client:
        app_id = client.resolve_app(app)["id"]
        if clear:
            found = client.delete(f"/api/apps/{app_id}/error-pages/{status}")
        else:
            assert path is not None
            html = path.read_text(encoding="utf-8")
            found = client.put(f"/api/apps/{app_id}/error-pages/{status}", {"html": html})
    _show(found, as_json)
