"""``rivetr apps auto-domain APP [on|off]`` and the ``default domain`` line of ``rivetr apps show`` (issue 22).

The server gives every app a generated name under ``[proxy] base_domain`` (or sslip.io); see
docs/proxy-auto-domains.md. The command shows it, or switches it for one app (the route follows at once).
"""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, complete_app, connection_options, json_option
from .output import fields, print_json


def with_default_domain(client: Any, found: dict[str, Any]) -> dict[str, Any]:
    """The app as ``GET /api/apps/{id}`` answers it: a name resolved through the list lacks ``default_domain``."""
    return found if "default_domain" in found else client.get(f"/api/apps/{found['id']}")


def default_domain_text(found: dict[str, Any]) -> str:
    """``http://web.shop.apps.example.com/``, ``web.shop... (not routed: <reason>)`` or ``-``."""
    generated = found.get("default_domain")
    if not generated:
        return "-"
    if generated.get("active"):
        return str(generated.get("url"))
    name = generated.get("domain") or "none"
    return f"{name} (not routed: {generated.get('skipped')})"


@click.command("auto-domain")
@click.argument("app", shell_complete=complete_app)
@click.argument("switch", required=False, type=click.Choice(["on", "off"]))
@connection_options
@json_option
def apps_auto_domain(app: str, switch: str | None, conn: Connection, as_json: bool) -> None:
    """Show the app's generated domain, or turn it on or off for this app (its route follows at once).

    \b
    rivetr apps auto-domain web          # http://web.shop.apps.example.com/
    rivetr apps auto-domain web off      # only the app's own domains are routed"""
    with conn.client() as client:
        found = with_default_domain(client, client.resolve_app(app))
        if switch is not None:
            found = client.put(f"/api/apps/{found['id']}", {"auto_domain": switch == "on"})
    if as_json:
        print_json({"auto_domain": found.get("auto_domain"), "default_domain": found.get("default_domain")})
        return
    fields([("auto domain", found.get("auto_domain")), ("default domain", default_domain_text(found))])
