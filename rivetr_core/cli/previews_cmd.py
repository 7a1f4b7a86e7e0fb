"""``rivetr previews list|approve|delete``: an app's pull-request previews.

A fork's PR waits as ``awaiting_approval`` (``[previews] forks = "approve"``) until ``rivetr previews approve
APP PR`` builds its head commit; every new push to it needs a new approval.
"""

from __future__ import annotations

from typing import Any

import click

from .client import CliError, Connection, RivetrClient, complete_app, connection_options, json_option
from .output import print_json, table


@click.group()
def previews() -> None:
    """List, approve (pull requests from forks) and delete an app's pull-request previews."""


def _find(client: RivetrClient, app: str, pr: int) -> tuple[dict[str, Any], dict[str, Any]]:
    found = client.resolve_app(app)
    rows = client.list_all(f"/api/apps/{found['id']}/previews")
    for row in rows:
        if row["pr_number"] == pr:
            return found, row
    numbers = ", ".join(f"#{r['pr_number']}" for r in rows) or "none"
    raise CliError(f"{found['name']} has no preview of PR #{pr} (previews: {numbers})")


@previews.command("list")
@click.argument("app", shell_complete=complete_app)
@connection_options
@json_option
def previews_list(app: str, conn: Connection, as_json: bool) -> None:
    """The app's previews, newest PR first, with their status (awaiting_approval: a fork's PR to approve)."""
    with conn.client() as client:
        found = client.resolve_app(app)
        rows = client.list_all(f"/api/apps/{found['id']}/previews")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{found['name']} has no previews")
        return
    table(
        [
            (
                f"#{r['pr_number']}",
                r["status"],
                "fork" if r.get("fork") else "",
                (r.get("head_sha") or "")[:12],
                r["url"],
                r.get("reason") or r.get("error") or "",
            )
            for r in rows
        ],
        ["pr", "status", "from", "head", "url", "reason"],
    )


@previews.command("approve")
@click.argument("app", shell_complete=complete_app)
@click.argument("pr", type=int)
@connection_options
def previews_approve(app: str, pr: int, conn: Connection) -> None:
    """Build the head commit of pull request PR (from a fork) that waits for approval."""
    with conn.client() as client:
        found, row = _find(client, app, pr)
        result = client.post(f"/api/previews/{row['id']}/approve")
    sha = (result["preview"].get("head_sha") or "")[:12]
    click.echo(f"approved {sha} of {found['name']} PR #{pr}: deployment {result['deployment_id']}")
    click.echo(f"its status: rivetr previews list {found['name']}")


@previews.command("delete")
@click.argument("app", shell_complete=complete_app)
@click.argument("pr", type=int)
@connection_options
def previews_delete(app: str, pr: int, conn: Connection) -> None:
    """Remove the preview of PR now (containers, route, images); a later push deploys it again."""
    with conn.client() as client:
        found, row = _find(client, app, pr)
        client.delete(f"/api/previews/{row['id']}")
    click.echo(f"deleted the preview of {found['name']} PR #{pr}")
