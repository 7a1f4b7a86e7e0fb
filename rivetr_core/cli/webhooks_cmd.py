"""``rivetr webhooks events``: received git webhooks, newest first, with what came of each.

Rejected attempts (bad or missing signature) show only what Rivetr keeps of them: provider, the clipped event
name and delivery id, the sender's address and the reason. Verified deliveries show the first 12 hex digits of
the SHA-256 of their body, the key that makes a replayed body a ``duplicate``.
"""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import print_json, short_time, table

OUTCOMES = ["deployed", "ignored", "skipped", "duplicate", "rejected", "error", "pong", "removed"]


@click.group()
def webhooks() -> None:
    """Git webhook deliveries (the URLs to configure are in GET /api/git-providers/available)."""


@webhooks.command("events")
@click.option("--provider", help="Only this provider's deliveries (github, gitlab, gitea, bitbucket, ...).")
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only deliveries with this outcome.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="Rows to show.")
@connection_options
@json_option
def webhooks_events(
    provider: str | None, outcome: str | None, limit: int, conn: Connection, as_json: bool
) -> None:
    """Received webhooks, rejected attempts included."""
    params: dict[str, Any] = {"limit": limit}
    if provider:
        params["provider"] = provider
    if outcome:
        params["outcome"] = outcome
    with conn.client() as client:
        body = client.get("/api/webhook-events", params=params)
    rows = body["items"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no webhook deliveries yet")
        return
    table(
        [
            (
                short_time(r.get("received_at")),
                r["provider"],
                r.get("event"),
                r["outcome"],
                r.get("status_code"),
                _short(r.get("delivery_id"), 36),
                (r.get("body_sha256") or "")[:12],
                r.get("remote_addr"),
                _short(r.get("reason"), 80),
            )
            for r in rows
        ],
        ["received", "provider", "event", "outcome", "status", "delivery", "sha256", "from", "reason"],
    )
    if body.get("total", 0) > len(rows):
        click.echo(f"({len(rows)} of {body['total']}; --limit shows more)")


def _short(value: str | None, width: int) -> str | None:
    if not value or len(value) <= width:
        return value
    return value[: width - 1] + "…"
