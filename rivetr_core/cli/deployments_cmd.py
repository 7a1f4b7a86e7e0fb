"""``rivetr deployments show <id>``: one deployment, with what its commit's ``rivetr.toml`` applied."""

from __future__ import annotations

import json
from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import fields, print_json, short_time


@click.group()
def deployments() -> None:
    """Inspect deployments (deploy and roll back with ``rivetr deploy`` / ``rivetr rollback``)."""


def config_lines(config: dict[str, Any] | None) -> list[str]:
    """The ``rivetr.toml at <commit>`` section: each key the file set, then the changes it made."""
    if not config:
        return []
    commit = (config.get("commit") or "")[:12] or "(unknown commit)"
    lines = [f"{config.get('path') or 'rivetr.toml'} at {commit}:"]
    for key, value in sorted((config.get("file") or {}).items()):
        lines.append(f"  {key} = {json.dumps(value, sort_keys=True)}")
    changes = config.get("changes") or []
    lines.append("  changes:" if changes else "  changes: none (settings unchanged)")
    lines.extend(f"    {change}" for change in changes)
    return lines


@deployments.command("show")
@click.argument("deployment")
@connection_options
@json_option
def deployments_show(deployment: str, conn: Connection, as_json: bool) -> None:
    """One deployment (by id): status, commit, image, error, and the settings its rivetr.toml applied."""
    with conn.client() as client:
        dep = client.get(f"/api/deployments/{deployment}")
    if as_json:
        print_json(dep)
        return
    fields(
        [
            ("id", dep["id"]),
            ("app", dep.get("app_id") or dep.get("stack_id")),
            ("status", dep["status"]),
            ("trigger", dep.get("trigger")),
            ("by", dep.get("started_by")),
            ("commit", (dep.get("commit_sha") or "")[:12] or None),
            ("message", dep.get("commit_message")),
            ("rollback of", dep.get("rollback_of")),
            ("image", dep.get("image")),
            ("created", short_time(dep.get("created_at"))),
            ("error", dep.get("error")),
            # Several control planes (PostgreSQL): the one that runs it (``rivetr system control-planes``).
            *([("plane", dep["plane_id"])] if dep.get("plane_id") else []),
        ]
    )
    lines = config_lines(dep.get("applied_config"))
    if lines:
        click.echo()
        for line in lines:
            click.echo(line)
