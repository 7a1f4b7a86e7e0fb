"""``rivetr system ...``: the server itself, as its dashboard page (Server) shows it.

* ``cleanup [--last]``: reclaim disk now (old images, dangling build leftovers, old build logs) and print what
  went, or show the last run's report. The server also runs it on its own every ``[cleanup] interval_minutes``;
  this is for "the disk is full, now".
* ``cleanup settings``: the cleanup settings in effect and where each comes from (the config file, or stored
  from the dashboard/CLI); ``cleanup settings set --keep-images 2 ...`` stores overrides, ``--unset NAME`` drops
  one, ``--reset`` all (back to the config file).
* ``status``: the container engine, the proxy, the database (with its size) and the plugins.
* ``metrics [--window 24h]``: the host's CPU, memory, disk and network over a window, from the recorded history.
* ``disk-usage``: disk used per app, managed service and stack (images, volumes, build logs), biggest first.
"""

from __future__ import annotations

from typing import Any

import click

from .client import Connection, connection_options, json_option
from .output import fields, human_size, print_json, short_time, table


@click.group("system")
def system() -> None:
    """The server itself: status, host metrics, disk usage, cleanup."""


@system.group("cleanup", invoke_without_command=True)
@click.option("--last", is_flag=True, help="Show the last run's report instead of running one.")
@connection_options
@json_option
@click.pass_context
def system_cleanup(ctx: click.Context, last: bool, conn: Connection, as_json: bool) -> None:
    """Run the cleanup now: each app keeps its newest ``keep_images`` images (never one a container or a
    deployment in flight uses); dangling images this server built and old build logs go. The image prune is
    skipped while a deployment runs (the report says so). ``rivetr system cleanup settings`` shows and changes
    what it runs with."""
    if ctx.invoked_subcommand is not None:
        return
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


SETTINGS_PATH = "/api/system/cleanup/settings"
#: The order the dashboard's form shows them in (JSON objects come back sorted by name); others follow.
SETTINGS_ORDER = (
    "keep_images",
    "interval_minutes",
    "build_log_retention_days",
    "audit_retention_days",
    "disk_warning_percent",
    "disk_critical_percent",
    "prune_build_cache",
)


@system_cleanup.group("settings", invoke_without_command=True)
@connection_options
@json_option
@click.pass_context
def cleanup_settings(ctx: click.Context, conn: Connection, as_json: bool) -> None:
    """The cleanup settings in effect, where each comes from (``config``: the config file's ``[cleanup]``;
    ``dashboard``: stored from the dashboard, the API or this CLI) and the next scheduled run."""
    if ctx.invoked_subcommand is not None:
        return
    with conn.client() as client:
        view = client.get(SETTINGS_PATH)
    _print_settings(view, as_json)


def _print_settings(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    settings, sources, config = view["settings"], view["sources"], view["config"]
    table(
        [
            (
                name,
                _value(settings[name]),
                sources[name],
                "" if sources[name] == "config" else _value(config[name]),
            )
            for name in sorted(settings, key=lambda n: (*SETTINGS_ORDER, n).index(n))
        ],
        ["setting", "value", "source", "config file"],
    )
    if view.get("next_run_at"):
        click.echo(f"\nnext run: {short_time(view['next_run_at'])}")


def _value(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


@cleanup_settings.command("set")
@click.option("--keep-images", type=int, help="Images kept per app for rollback (at least 1).")
@click.option("--interval-minutes", type=int, help="Minutes between scheduled runs; applies at once.")
@click.option("--build-log-retention-days", type=int, help="Days build logs are kept.")
@click.option("--audit-retention-days", type=int, help="Days audit log entries are kept.")
@click.option("--disk-warning-percent", type=int, help="Disk use that raises a disk_warning event (1-100).")
@click.option("--disk-critical-percent", type=int, help="Disk use that prunes at once (1-100).")
@click.option(
    "--prune-build-cache/--no-prune-build-cache",
    default=None,
    help="Also empty the engine's whole build cache (shared with every program using the engine).",
)
@click.option(
    "--unset",
    "unset",
    multiple=True,
    metavar="NAME",
    help="Drop one stored value (keep_images, ...): the config file's applies again. Repeatable.",
)
@click.option("--reset", is_flag=True, help="Drop every stored value first: back to the config file.")
@connection_options
@json_option
def cleanup_settings_set(
    unset: tuple[str, ...], reset: bool, conn: Connection, as_json: bool, **values: Any
) -> None:
    """Store cleanup settings over the config file's ``[cleanup]``: only the options given change. The server
    checks the ranges (those of ``[cleanup]``) and refuses the whole change naming the bad field."""
    body: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
    for name in unset:
        body[name.replace("-", "_")] = None
    if not body and not reset:
        raise click.UsageError("give a setting to change (--keep-images N ...), --unset NAME or --reset")
    with conn.client() as client:
        view = client.delete(SETTINGS_PATH) if reset else None
        if body:
            view = client.put(SETTINGS_PATH, body)
    _print_settings(view or {}, as_json)


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


@system.command("status")
@connection_options
@json_option
def system_status(conn: Connection, as_json: bool) -> None:
    """The container engine (version, reachable), the proxy (address, ports, routes), the database (size) and
    each plugin's state. Exits 1 when a component is not usable."""
    with conn.client() as client:
        status = client.get("/api/system/status")
    if as_json:
        print_json(status)
    else:
        runtime, proxy, database = status["runtime"], status["proxy"], status["database"]
        failed = [p for p in status["plugins"] if p["status"] == "failed"]
        fields(
            [
                ("status", status["status"]),
                ("version", status["version"]),
                (
                    "engine",
                    f"{runtime['name']} {runtime['version'] or ''}".strip() + f" ({runtime['state']})",
                ),
                ("proxy", _proxy_line(proxy)),
                (
                    "database",
                    f"{database['backend']}, {human_size(database['size_bytes'])} ({database['state']})",
                ),
                ("plugins", f"{len(status['plugins'])}" + (f", {len(failed)} failed" if failed else "")),
            ]
        )
        for component in (runtime, proxy):
            if component.get("error"):
                click.echo(f"error: {component['error']}", err=True)
        for plugin in failed:
            click.echo(f"plugin {plugin['name']}: {plugin.get('error') or 'failed'}", err=True)
    if status["status"] != "ok":
        raise SystemExit(1)


def _proxy_line(proxy: dict[str, Any]) -> str:
    if proxy["state"] == "disabled":
        return "disabled"
    ports = ", ".join(str(p) for p in proxy["ports"]) or "-"
    where = f"{proxy['host'] or '*'} port {ports}"
    routes = f", {proxy['routes']} routes" if proxy.get("routes") is not None else ""
    return f"{where}{routes} ({proxy['state']})"


@system.command("metrics")
@click.option(
    "--window",
    default="1h",
    show_default=True,
    help="How far back: 15m, 1h, 6h, 24h, 7d, 30d (any <n>m|h|d up to 366d).",
)
@click.option(
    "--points", default=12, show_default=True, type=click.IntRange(2, 2000), help="Rows of the table."
)
@connection_options
@json_option
def system_metrics(window: str, points: int, conn: Connection, as_json: bool) -> None:
    """The host over a window: the last sample, then CPU, memory, disk and network (rates between points)
    averaged into at most --points rows. Recorded every ``[metrics] sample_interval`` by the server."""
    with conn.client() as client:
        data = client.get("/api/system/metrics", params={"range": window, "points": points})
    if as_json:
        print_json({key: data[key] for key in ("range", "points", "latest")})
        return
    latest = data.get("latest")
    if latest:
        mem = f"{human_size(latest['memory_used_bytes'])} of {human_size(latest['memory_total_bytes'])}"
        fields(
            [
                ("cpu", f"{latest['cpu_percent']:.1f}%"),
                ("memory", mem),
                ("disk", f"{latest['disk_used_percent']:.1f}% of the data dir's disk"),
                ("load", latest.get("load1")),
            ]
        )
    else:
        click.echo("no sample yet: the server records one every [metrics] sample_interval")
    rows = data["points"]
    if not rows:
        click.echo(f"no history over the last {window}")
        return
    click.echo()
    table(
        [
            (
                short_time(point["ts"]),
                f"{point['cpu_percent']:.1f}%",
                human_size(point["memory_used"]),
                "-" if point.get("disk_percent") is None else f"{point['disk_percent']:.1f}%",
                *_rates(rows[index - 1] if index else None, point),
            )
            for index, point in enumerate(rows)
        ],
        ["time", "cpu", "memory", "disk", "net in/s", "net out/s"],
    )


def _rates(before: dict[str, Any] | None, point: dict[str, Any]) -> tuple[str, str]:
    """Bytes per second between two points of counters; ``-`` for the first and across a counter reset."""
    if before is None:
        return "-", "-"
    from datetime import datetime

    seconds = (datetime.fromisoformat(point["ts"]) - datetime.fromisoformat(before["ts"])).total_seconds()
    out = []
    for key in ("net_rx", "net_tx"):
        delta = point[key] - before[key]
        out.append(human_size(int(delta / seconds)) if seconds > 0 and delta >= 0 else "-")
    return out[0], out[1]


@system.command("disk-usage")
@connection_options
@json_option
def system_disk_usage(conn: Connection, as_json: bool) -> None:
    """Disk used per app (images, volumes, build logs), managed service (volumes) and compose stack (built
    images, volumes), biggest first. Image sizes count the layers images share (as ``docker images`` does)."""
    # Volumes are sized by walking their files: a big one takes a while.
    with conn.client(timeout=120.0) as client:
        usage = client.get("/api/system/disk-usage")
    if as_json:
        print_json(usage)
        return
    rows = [(kind, row) for kind in ("apps", "services", "stacks") for row in usage[kind]]
    if not rows:
        click.echo("no apps, services or stacks")
    else:
        table(
            [
                (
                    row["name"],
                    kind[:-1],
                    _part(row["images"]),
                    _part(row["volumes"]),
                    _part(row["build_logs"], "lines"),
                    human_size(row["total_bytes"]),
                )
                for kind, row in sorted(rows, key=lambda r: -r[1]["total_bytes"])
            ],
            ["name", "kind", "images", "volumes", "build logs", "total"],
        )
        click.echo(
            f"\ntotal: {human_size(usage['total_bytes'])} (engine: {usage['engine'] or 'unavailable'})"
        )
    if not usage["image_sizes"] and usage["engine"]:
        click.echo(f"the {usage['engine']} runtime does not report image sizes: images are counted only")
    for error in usage["errors"]:
        click.echo(f"error: {error}", err=True)


def _part(part: dict[str, Any] | None, unit: str = "") -> str:
    if part is None:
        return "-"
    count = f"{part['count']} {unit}".strip()
    return f"{human_size(part['bytes'])} ({count})" if part["bytes"] is not None else f"? ({count})"


from . import control_planes_cmd  # noqa: E402, F401  (registers control-planes on the group)
