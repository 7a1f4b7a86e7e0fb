"""``rivetr logs <app> [-f] [--tail N]``: the app's container output (stdout and stderr)."""

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
    help="Lines of history to print first.",
)
@connection_options
@json_option
def logs(app: str, follow_it: bool, tail: int, conn: Connection, as_json: bool) -> None:
    """Print the app's runtime log; --json prints one {"ts", "stream", "line"} object per line."""
    with conn.client() as client:
        found = client.resolve_app(app)
        if not found.get("current_deployment_id"):
            raise CliError(f"app {found['name']} has no running container (status {found['status']})")
        if not follow_it:
            for entry in client.get(f"/api/apps/{found['id']}/logs", params={"tail": tail}):
                print_entry(entry, as_json)
            return
        follow_stream(client, f"/api/apps/{found['id']}/logs/stream?tail={tail}", as_json)


def print_entry(entry: dict, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        click.echo(json.dumps(entry))
    else:
        click.echo(entry["line"], err=entry.get("stream") == "stderr")


def follow_stream(client, path: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Print a log WebSocket (an app's or a service's) until its ``end`` event, the server closing it or ^C."""
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
                print_entry(entry, as_json)
    except KeyboardInterrupt:
        return
    except ConnectionClosedError as exc:
        reason = exc.rcvd.reason if exc.rcvd else str(exc)
        raise CliError(f"log stream closed: {reason}") from None
    except (InvalidStatus, OSError) as exc:
        raise CliError(f"cannot open the log stream at {url}: {exc}") from None
