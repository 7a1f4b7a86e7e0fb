"""``rivetr export PROJECT > project.toml`` and ``rivetr apply -f project.toml [--dry-run] [--prune]``:
configuration as code over ``GET /api/projects/{id}/export`` and ``POST /api/projects/apply``
(docs/config-as-code.md). The plan prints as a diff: ``+`` create, ``~`` update, ``-`` delete, ``?`` on the
server but not in the file (left alone), ``!`` a secret the file names that the server lacks."""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import quote

import click

from .client import EXIT_ERROR, Connection, connection_options, json_option
from .output import print_json

_MARKS = {"create": "+", "update": "~", "delete": "-", "not_in_file": "?", "unchanged": "="}


@click.command("export")
@click.argument("project")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="File format.",
)
@connection_options
def export(project: str, fmt: str, conn: Connection) -> None:
    """Write PROJECT (name or id) as a file on stdout: secrets as names only, never values."""
    with conn.client() as client:
        body = client.get(f"/api/projects/{quote(project, safe='')}/export", params={"format": fmt})
    if fmt == "json":
        print_json(body)
    else:
        click.echo(body, nl=False)


def _value(value: Any) -> str:
    return "(secret)" if value == "(secret)" else json.dumps(value)


def print_plan(plan: dict[str, Any], *, verbose: bool) -> None:
    """The plan as a diff, one resource a line, its fields indented under it."""
    for change in plan["changes"]:
        action = change["action"]
        if action == "unchanged" and not verbose:
            continue
        note = " (not in the file: left alone; --prune deletes it)" if action == "not_in_file" else ""
        click.echo(f"{_MARKS[action]} {change['resource']}{note}")
        for name, diff in change["fields"].items():
            if action == "create":
                click.echo(f"    {name} = {_value(diff['new'])}")
            elif action == "update":
                click.echo(f"    {name}: {_value(diff['old'])} -> {_value(diff['new'])}")
    for secret in plan["missing_secrets"]:
        if secret.get("kind") == "basic_auth":
            click.echo(
                f"! basic auth user {secret['name']} of {secret['route']} (app {secret['app']}) has no password on "
                "the server: set it in the route's settings (left out until then)"
            )
            continue
        click.echo(
            f"! secret {secret['name']} of app {secret['app']} is not set on the server: "
            f"rivetr env set {secret['app']} {secret['name']} --secret (a deployment fails without it)"
        )
    click.echo(plan["message"])


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="project.toml (or its JSON form, *.json); - reads stdin.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--prune", is_flag=True, help="Delete what the project has but the file does not name.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the unchanged resources.")
@click.option("--yes", is_flag=True, help="With --prune: delete without asking.")
@connection_options
@json_option
def apply(
    path: Any, dry_run: bool, prune: bool, verbose: bool, yes: bool, conn: Connection, as_json: bool
) -> None:
    """Create or update a project from a file, idempotently, and print the plan as a diff."""
    text = path.read()
    body: dict[str, Any] = {"dry_run": dry_run, "prune": prune}
    if str(getattr(path, "name", "")).endswith(".json"):
        try:
            body["document"] = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{path.name} is not JSON: {exc}") from None
    else:
        body["toml"] = text
    with conn.client() as client:
        if prune and not dry_run and not yes:
            # Deleting is the one thing a file cannot take back: show what would go and ask first.
            preview = client.post("/api/projects/apply", {**body, "dry_run": True}, ok=(422,))
            deletions = [c["resource"] for c in preview.get("changes", []) if c["action"] == "delete"]
            if deletions and not as_json:
                print_plan(preview, verbose=verbose)
                click.confirm(f"Delete {len(deletions)} resource(s) the file does not name?", abort=True)
            elif deletions:
                raise click.ClickException("--prune would delete: " + ", ".join(deletions) + " (add --yes)")
        plan = client.post("/api/projects/apply", body, ok=(422,))
    if isinstance(plan, dict) and "error" in plan:
        name = getattr(path, "name", "the file")
        for detail in plan["error"].get("details") or []:
            where = f":{detail['line']}:{detail['column']}" if "line" in detail else ""
            field = f" {detail['field']}:" if detail.get("field") else ""
            click.echo(f"error: {name}{where}:{field} {detail['message']}", err=True)
        if not plan["error"].get("details"):
            click.echo(f"error: {plan['error']['message']}", err=True)
        sys.exit(EXIT_ERROR)
    if as_json:
        print_json(plan)
        return
    print_plan(plan, verbose=verbose)
