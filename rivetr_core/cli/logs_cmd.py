"""``rivetr logs <app> [-f] [--tail N] [--since T] [--until T] [--grep TEXT] [--output FILE]``: the app's
container output (stdout and stderr), searched by the server."""

from __future__ import annotations

import json

import click

from .client import CliError, Connection, complete_app, connection_options, json_option


@click.command()
@click.argument("app", shell_complete=complete_app)
@click.option("-f", "--follow", "follow_it", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.option(
    "-n",
    "--tail",
    type=click.IntRange(0, 100_000),
    default=100,
    show_default=True,
    help="The last N lines (that match --since/--until/--grep) to print.",
)
@click.option(
    "--since", metavar="TIME", help="Lines from this time: 2026-01-31T12:00:00Z, or ago: 30s, 10m, 2h, 7d."
)
@click.option("--until", metavar="TIME", help="Lines up to this time (same forms as --since).")
@click.option("--grep", "grep", metavar="TEXT", help="Only lines containing TEXT (case-insensitive).")
@click.option(
    "--replica",
    type=click.IntRange(0, 19),
    help="Which replica's container (0: the deployment's own, the default; `rivetr apps replicas APP`).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=False),
    help="Write the lines to this file ('<time> <stream> <line>' each, as the dashboard's download) instead.",
)
@connection_options
@json_option
def logs(
    app: str,
    follow_it: bool,
    tail: int,
    since: str | None,
    until: str | None,
    grep: str | None,
    output: str | None,
    replica: int | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Print the app's runtime log; --json prints one {"ts", "stream", "line"} object per line.

    The server does the search (``GET /api/apps/{id}/logs?since=&until=&q=&tail=``), so it reads the log once.
    With -f, --grep filters the followed lines too; --since, --until and --output need a finished read."""
    if follow_it and (since or until or output):
        raise click.UsageError("--since, --until and --output read the log up to now: leave out -f")
    with conn.client() as client:
        found = client.resolve_app(app)
        if not found.get("current_deployment_id"):
            raise CliError(f"app {found['name']} has no running container (status {found['status']})")
        if follow_it:
            which = f"&replica={replica}" if replica else ""
            follow_stream(
                client, f"/api/apps/{found['id']}/logs/stream?tail={tail}{which}", as_json, grep=grep
            )
            return
        params: dict[str, object] = {"tail": tail}
        for name, value in (("since", since), ("until", until), ("q", grep), ("replica", replica)):
            if value:
                params[name] = value
        entries = client.get(f"/api/apps/{found['id']}/logs", params=params)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(f"{entry.get('ts') or '-'} {entry.get('stream', 'stdout')} {entry['line']}\n")
        click.echo(f"wrote {len(entries)} lines to {output}", err=True)
        return
    for entry in entries:
        print_entry(entry, as_json)


def print_entry(entry: dict, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        click.echo(json.dumps(entry))
    else:
        click.echo(entry["line"], err=entry.get("stream") == "stderr")


def follow_stream(client, path: str, as_json: bool, grep: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Print a log WebSocket (an app's or a service's) until its ``end`` event, the server closing it or ^C;
    with ``grep``, only the lines containing it (case-insensitive)."""
    needle = grep.casefold() if grep else None
    from websockets.exceptions import ConnectionClosedError, InvalidStatus
    from websockets.sync.client import connect

    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    url = client.ws_url(path)
    try:
        with connect(url, additional_headers=headers, open_timeout=10, proxy=None) as ws:
            for message in ws:
                entry = json.loads(message)
                if entry.get("event") == "end":
                    break
                if needle is None or needle in entry.get("line", "").casefold():
                    print_entry(entry, as_json)
    except KeyboardInterrupt:
        return
    except ConnectionClosedError as exc:
        reason = exc.rcvd.reason if exc.rcvd else str(exc)
        raise CliError(f"log stream closed: {reason}") from None
    except (InvalidStatus, OSError) as exc:
        raise CliError(f"cannot open the log stream at {url}: {exc}") from None
