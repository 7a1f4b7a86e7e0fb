"""``rivetr audit``: the newest audit entries (``GET /api/audit``), filtered like the API. A team's owners and
admins see their team's entries only; the server's owners and admins see every entry and pick one team with
``--team``."""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import print_json, short_time, table


@click.command("audit")
@click.option("--actor", help="Exact principal: admin, user:<name>, token:<owner>/<name>.")
@click.option("--action", help="Action name or prefix, e.g. apps_api or auth.login.")
@click.option("--target", help="An id that appears in the URL (app, deployment, team...).")
@click.option("--team", help="Only this team's entries (name or id).")
@click.option("--since", help="ISO 8601 date-time: entries at or after it.")
@click.option("--until", help="ISO 8601 date-time: entries before it.")
@click.option(
    "--outcome",
    type=click.Choice(["success", "failure"]),
    help="success: status below 400; failure: 400 or more.",
)
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="How many entries.")
@connection_options
@json_option
def audit(
    conn: Connection,
    as_json: bool,
    actor: str | None,
    action: str | None,
    target: str | None,
    team: str | None,
    since: str | None,
    until: str | None,
    outcome: str | None,
    limit: int,
) -> None:
    """Who changed what, newest first: time, actor, action, status, team and the ids in the URL."""
    params: dict[str, Any] = {"limit": limit}
    for key, value in (
        ("actor", actor),
        ("action", action),
        ("target", target),
        ("since", since),
        ("until", until),
        ("outcome", outcome),
    ):
        if value:
            params[key] = value
    with conn.client() as client:
        teams = {t["id"]: t["name"] for t in client.list_all("/api/teams")}
        if team:
            from .teams_cmd import resolve_team

            params["team_id"] = resolve_team(client, team)["id"]
        entries = client.get("/api/audit", params=params)["items"]
    if as_json:
        print_json(entries)
        return
    table(
        [
            (
                short_time(e["ts"]),
                e["actor"],
                e["action"],
                e["status"],
                teams.get(e["team_id"], e["team_id"]) if e["team_id"] else "-",
                " ".join(f"{k}={v}" for k, v in e["target"].items()),
            )
            for e in entries
        ],
        ["TIME", "ACTOR", "ACTION", "STATUS", "TEAM", "TARGET"],
    )
    for e in entries:  # what an entry not written by a request changed (a deployment's rivetr.toml)
        if e.get("changes"):
            click.echo(f"{short_time(e['ts'])} {e['actor']}: {'; '.join(e['changes'])}")
