"""``rivetr deploy <app> [--follow]`` and ``rivetr rollback <deployment> [--follow]``.

With ``--follow`` the command waits for the deployment to finish and exits 0 when it is ``running``, 1 when
it failed, was cancelled or superseded (printing the reason and the log tail), 2 when the request itself
could not be made.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .client import EXIT_FAILED, Connection, RivetrClient, complete_app, connection_options, json_option
from .follow import follow
from .output import print_json


def finish_deployment(
    client: RivetrClient, dep: dict[str, Any], *, follow_it: bool, as_json: bool, what: str
) -> None:
    if not follow_it:
        if as_json:
            print_json(dep)
        else:
            click.echo(f"{what} {dep['id']} {dep['status']}; follow it with --follow")
        return
    final = follow(client, dep, as_json=as_json)
    if final["status"] != "running":
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("app", shell_complete=complete_app)
@click.option("--commit", metavar="SHA", help="Deploy this commit instead of the branch head.")
@click.option(
    "--image",
    metavar="REF",
    help="Image apps: deploy this image (another tag) and keep it as the app's image.",
)
@click.option("--no-cache", is_flag=True, help="Rebuild without the engine's layer cache (git apps).")
@click.option(
    "-f",
    "--follow",
    "follow_it",
    is_flag=True,
    help="Show the steps and build log live; exit 0 once running, 1 if it fails.",
)
@connection_options
@json_option
def deploy(
    app: str,
    commit: str | None,
    image: str | None,
    no_cache: bool,
    follow_it: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Deploy an app (by name or id) from its git branch, or an image app's image (or --image)."""
    body: dict[str, object] = {key: value for key, value in (("commit", commit), ("image", image)) if value}
    if no_cache:
        body["no_cache"] = True
    with conn.client() as client:
        found = client.resolve_app(app)
        dep = client.post(f"/api/apps/{found['id']}/deploy", body)
        if not as_json and follow_it:
            click.echo(f"deploying {found['name']} (deployment {dep['id']})")
        finish_deployment(client, dep, follow_it=follow_it, as_json=as_json, what="deployment")


@click.command()
@click.argument("deployment")
@click.option(
    "-f",
    "--follow",
    "follow_it",
    is_flag=True,
    help="Show the steps live; exit 0 once running, 1 if it fails.",
)
@connection_options
@json_option
def rollback(deployment: str, follow_it: bool, conn: Connection, as_json: bool) -> None:
    """Roll back to a previous deployment's image (no rebuild): a new deployment through health check and
    switch. DEPLOYMENT is the id shown by ``rivetr apps show``."""
    with conn.client() as client:
        dep = client.post(f"/api/deployments/{deployment}/rollback")
        if not as_json and follow_it:
            click.echo(f"rolling back to {deployment} (deployment {dep['id']})")
        finish_deployment(client, dep, follow_it=follow_it, as_json=as_json, what="rollback deployment")
