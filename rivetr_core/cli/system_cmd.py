"""``rivetr system cleanup [--last]``: reclaim disk now (old images, dangling build leftovers, old build logs)
and print what went, or show the last run's report. The server also runs it on its own every
``[cleanup] interval_minutes``; this is for "the disk is full, now"."""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import human_size, print_json


@click.group("system")
def system() -> None:
    """The server itself: disk cleanup."""


@system.command("cleanup")
@click.option("--last", is_flag=True, help="Show the last run's report instead of running one.")
@connection_options
@json_option
def system_cleanup(last: bool, conn: Connection, as_json: bool) -> None:
    """Run the cleanup now: each app keeps its newest ``[cleanup] keep_images`` images (never one a container
    or a deployment in flight uses); dangling images this server built and old build logs go. The image prune
    is skipped while a deployment runs (the report says so)."""
    with conn.client() as client:
        if last:
            report = client.get("/api/system/cleanup")["report"]
        else:
            report = client.post("/api/system/cleanup")
    if as_json:
        print_json(report)
        return
    if report is None:
        click.echo("no cleanup has run since the server started")
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    removed = report.get("images_removed") or []
    click.echo(f"images removed:      {len(removed)}")
    for image in removed:
        click.echo(f"  {image}")
    click.echo(f"dangling pruned:     {report.get('pruned_images', 0)}")
    click.echo(f"space reclaimed:     {human_size(report.get('space_reclaimed'))}")
    click.echo(f"build logs removed:  {report.get('build_logs_removed', 0)}")
    if report.get("prune_skipped"):
        click.echo(f"prune skipped:       {report['prune_skipped']}")
    if report.get("seconds") is not None:
        click.echo(f"took:                {report['seconds']} s")
    for error in report.get("errors") or []:
        click.echo(f"error: {error}", err=True)
