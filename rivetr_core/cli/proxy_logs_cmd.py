"""``rivetr proxy logs``: the proxy's access log (``GET /api/proxy/access-log``), the last lines and, with
``--follow``, new ones as they are written (polled once a second with the answer's ``next`` cursor)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from .client import Connection, connection_options, json_option

POLL_SECONDS = 1.0


def format_entry(entry: dict[str, Any]) -> str:
    """One request on one line: time, client, method host+path, status, bytes, duration, upstream."""
    if "line" in entry and "status" not in entry:
        return str(entry["line"])
    took = entry.get("duration_ms")
    return " ".join(
        str(x)
        for x in (
            entry.get("time") or "-",
            entry.get("client") or "-",
            entry.get("method") or "-",
            f"{entry.get('host') or '-'}{entry.get('path') or ''}",
            entry.get("status") or "-",
            f"{entry.get('bytes', 0)}B",
            f"{took:.1f}ms" if isinstance(took, (int, float)) else "-",
            entry.get("upstream") or "(proxy)",
        )
    )


@click.command("logs")
@click.option("--domain", help="Only requests to this route domain (*.example.com for a wildcard route).")
@click.option(
    "--tail", type=click.IntRange(0, 1000), default=50, show_default=True, help="Lines to show first."
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new requests until interrupted.")
@connection_options
@json_option
def logs(conn: Connection, as_json: bool, domain: str | None, tail: int, follow: bool) -> None:
    """The proxy's recent requests from its access log ([proxy] access_log; --json: one JSON object a line)."""
    params: dict[str, Any] = {"tail": tail}
    if domain:
        params["domain"] = domain
    with conn.client() as client:
        answer = client.get("/api/proxy/access-log", params=params)
        if not answer.get("enabled"):
            click.echo("the access log is off ([proxy] access_log = true turns it on)", err=True)
        _print(answer["items"], as_json)
        while follow:
            pause()
            params = {"tail": 1000, "after": answer["next"] or ""}
            if domain:
                params["domain"] = domain
            answer = client.get("/api/proxy/access-log", params=params)
            _print(answer["items"], as_json)


def pause() -> None:
    time.sleep(POLL_SECONDS)


def _print(items: list[dict[str, Any]], as_json: bool) -> None:
    for entry in items:
        click.echo(json.dumps(entry, separators=(",", ":")) if as_json else format_entry(entry))
