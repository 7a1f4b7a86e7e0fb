"""``rivetr notifications list|add|show|update|remove|test|deliveries``: notification channels (where lifecycle events
are sent) over ``/api/notification-channels``.

A channel's URL usually holds a credential (a webhook token, a password), so it is never an argument: it is read
from stdin (``--url-stdin``) or a hidden prompt, and the server shows it back only as its scheme (``slack://***``).
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import quote

import click

from .client import EXIT_FAILED, CliError, Connection, RivetrClient, connection_options, json_option
from .output import fields, print_json, short_time, table

BASE = "/api/notification-channels"

#: What ``--event`` takes: the API's list (GET /openapi.json has it too); the server checks again.
EVENT_HELP = (
    "An event type to deliver (repeat for several; none = every event): deployment_started, deployment_succeeded, "
    "deployment_failed, rollback, post_deploy_failed, container_crashed, container_restarted, container_moved, "
    "app_stopped, app_started, app_restarted, certificate_issued, certificate_failed, disk_warning, "
    "backup_succeeded, backup_failed, restore_succeeded, restore_failed, task_failed."
)
URL_STDIN_HELP = (
    "Read the channel URL from stdin (first line); without it, it is asked for (hidden). Never an argument: argv "
    "is visible to every user of this machine and the URL usually holds a token."
)


def _read_url(from_stdin: bool) -> str:
    url = sys.stdin.readline().strip() if from_stdin else click.prompt("channel URL", hide_input=True).strip()
    if not url:
        raise click.UsageError("no channel URL given" + (" on stdin" if from_stdin else ""))
    return url


def resolve_channel(client: RivetrClient, ref: str) -> dict[str, Any]:
    """A channel by id or name; a clear error naming the channels when neither matches."""
    rows = client.list_all(BASE)
    for row in rows:
        if ref in (row["id"], row["name"]):
            return row  # type: ignore[no-any-return]
    names = ", ".join(r["name"] for r in rows) or "none yet"
    raise CliError(f"unknown notification channel {ref!r} (channels: {names})")


def _state(row: dict[str, Any]) -> str:
    if not row["enabled"]:
        return "disabled"
    return f"failing ({row['failures']})" if row["failures"] else "ok"


@click.group("notifications")
def notifications() -> None:
    """Notification channels: where events (failed deployments, crashes, certificates, disk, backups) are sent.
    A channel is a notifier URL (apprise: slack://, discord://, tgram://, mailtos://, ntfys://, gotifys://,
    jsons://host/path for a webhook, ...) and the events it wants. See docs/notifications.md."""


@notifications.command("list")
@connection_options
@json_option
def notifications_list(conn: Connection, as_json: bool) -> None:
    """Channels with their events and delivery health (URL shown as its scheme only)."""
    with conn.client() as client:
        rows = client.list_all(BASE)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no notification channels (add one with `rivetr notifications add NAME`)")
        return
    table(
        [
            (
                r["name"],
                r["url"],
                r["events"] or "all",
                _state(r),
                short_time(r["last_success_at"]),
                r["last_error"] if r["failures"] else "",
            )
            for r in rows
        ],
        ["name", "url", "events", "state", "last success", "last error"],
    )


@notifications.command("add")
@click.argument("name")
@click.option("--url-stdin", is_flag=True, help=URL_STDIN_HELP)
@click.option("--event", "events", multiple=True, metavar="TYPE", help=EVENT_HELP)
@click.option("--notifier", default="apprise", show_default=True, help="Notifier plugin that delivers.")
@click.option("--disabled", is_flag=True, help="Create it disabled (nothing is sent until enabled).")
@click.option(
    "--routed-only",
    is_flag=True,
    help="Deliver only what projects route to it (`rivetr notifications route`), not every event.",
)
@click.option("--test", "send_test", is_flag=True, help="Send a test notification right after adding it.")
@connection_options
@json_option
def notifications_add(
    name: str,
    url_stdin: bool,
    events: tuple[str, ...],
    notifier: str,
    disabled: bool,
    routed_only: bool,
    send_test: bool,
    conn: Connection,
    as_json: bool,
) -> None:
    """Add a channel. The server checks the URL first (422 for one no notifier understands)."""
    body = {
        "name": name,
        "url": _read_url(url_stdin),
        "events": list(events),
        "notifier": notifier,
        "enabled": not disabled,
        "routed_only": routed_only,
    }
    with conn.client() as client:
        created = client.post(BASE, body)
        if as_json:
            print_json(created)
        else:
            click.echo(
                f"added channel {created['name']} ({created['url']}, "
                f"events: {', '.join(created['events']) or 'all'})"
            )
        if send_test:
            _send_test(client, created)


@notifications.command("show")
@click.argument("ref", metavar="NAME|ID")
@click.option(
    "--deliveries",
    "shown",
    default=5,
    show_default=True,
    type=click.IntRange(0, 200),
    help="Latest deliveries shown.",
)
@connection_options
@json_option
def notifications_show(ref: str, shown: int, conn: Connection, as_json: bool) -> None:
    """One channel: its settings, delivery health and latest deliveries."""
    with conn.client() as client:
        row = resolve_channel(client, ref)
        recent = client.get(f"{BASE}/{quote(row['id'], safe='')}/deliveries", params={"limit": max(1, shown)})
    if as_json:
        print_json({**row, "deliveries": recent["items"]})
        return
    fields(
        [
            ("id", row["id"]),
            ("name", row["name"]),
            ("notifier", row["notifier"]),
            ("url", row["url"]),
            ("events", row["events"] or "all"),
            ("enabled", row["enabled"]),
            ("state", _state(row)),
            ("failures", f"{row['failures']} in a row, {row['total_failures']} in all"),
            ("last error", row["last_error"]),
            ("last success", short_time(row["last_success_at"])),
            ("last failure", short_time(row["last_failure_at"])),
            ("created", short_time(row["created_at"])),
        ]
    )
    if recent["items"][:shown]:
        click.echo("")
        _deliveries_table(recent["items"][:shown])


@notifications.command("update")
@click.argument("ref", metavar="NAME|ID")
@click.option("--name", "new_name", help="Rename the channel.")
@click.option(
    "--new-url", is_flag=True, help="Replace the URL: asked for (hidden), or from stdin with --url-stdin."
)
@click.option("--url-stdin", is_flag=True, help="With --new-url: read the new URL from stdin.")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="TYPE",
    help="Replace the event list with these (repeat for several; the types are in `add --help`).",
)
@click.option("--all-events", is_flag=True, help="Deliver every event (clears the event list).")
@click.option("--enable/--disable", "enabled", default=None, help="Turn delivery on or off.")
@click.option(
    "--routed-only/--all-routes",
    "routed_only",
    default=None,
    help="Deliver only what projects route to it, or also every event its event list allows.",
)
@click.option("--notifier", help="Notifier plugin that delivers.")
@connection_options
@json_option
def notifications_update(
    ref: str,
    new_name: str | None,
    new_url: bool,
    url_stdin: bool,
    events: tuple[str, ...],
    all_events: bool,
    enabled: bool | None,
    routed_only: bool | None,
    notifier: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """Change a channel; what is not given keeps its value (the stored URL too, unless --new-url)."""
    if events and all_events:
        raise click.UsageError("give either --event TYPE... or --all-events")
    if url_stdin and not new_url:
        raise click.UsageError("--url-stdin goes with --new-url")
    body: dict[str, Any] = {}
    if new_name:
        body["name"] = new_name
    if new_url:
        body["url"] = _read_url(url_stdin)
    if events or all_events:
        body["events"] = list(events)
    if enabled is not None:
        body["enabled"] = enabled
    if routed_only is not None:
        body["routed_only"] = routed_only
    if notifier:
        body["notifier"] = notifier
    if not body:
        raise click.UsageError("nothing to change (see --help)")
    with conn.client() as client:
        row = resolve_channel(client, ref)
        updated = client.put(f"{BASE}/{quote(row['id'], safe='')}", body)
    if as_json:
        print_json(updated)
        return
    click.echo(
        f"updated channel {updated['name']} ({updated['url']}, events: {', '.join(updated['events']) or 'all'}, "
        f"{'enabled' if updated['enabled'] else 'disabled'})"
    )


@notifications.command("remove")
@click.argument("ref", metavar="NAME|ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
def notifications_remove(ref: str, yes: bool, conn: Connection) -> None:
    """Delete a channel and its delivery history."""
    with conn.client() as client:
        row = resolve_channel(client, ref)
        if not yes:
            click.confirm(f"delete notification channel {row['name']} and its delivery history?", abort=True)
        client.delete(f"{BASE}/{quote(row['id'], safe='')}")
    click.echo(f"removed channel {row['name']}")


def _send_test(client: RivetrClient, row: dict[str, Any]) -> None:
    answer = client.request("POST", f"{BASE}/{quote(row['id'], safe='')}/test", ok=(502,))
    if isinstance(answer, dict) and answer.get("ok"):
        click.echo(f"test notification sent to {row['name']}: the service accepted it")
        return
    message = (answer or {}).get("error", {}).get("message") if isinstance(answer, dict) else None
    click.echo(f"error: {message or 'test notification failed'}", err=True)
    sys.exit(EXIT_FAILED)


@notifications.command("test")
@click.argument("ref", metavar="NAME|ID")
@connection_options
def notifications_test(ref: str, conn: Connection) -> None:
    """Send a test notification now (one attempt, even to a disabled channel). Exits 1 with the notifier's reason
    when it fails; either way it is recorded as a delivery."""
    with conn.client() as client:
        _send_test(client, resolve_channel(client, ref))


def _deliveries_table(rows: list[dict[str, Any]]) -> None:
    table(
        [
            (
                short_time(d["created_at"]),
                d["event_type"],
                d["status"],
                d["attempts"],
                short_time(d["finished_at"]),
                d["error"],
            )
            for d in rows
        ],
        ["created", "event", "status", "attempts", "finished", "error"],
    )


@notifications.command("deliveries")
@click.argument("ref", metavar="NAME|ID")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 200), help="Newest N deliveries."
)
@click.option("--failed", "failed_only", is_flag=True, help="Only failed deliveries (among the newest N).")
@connection_options
@json_option
def notifications_deliveries(
    ref: str, limit: int, failed_only: bool, conn: Connection, as_json: bool
) -> None:
    """A channel's deliveries, newest first: event, status, attempts, the notifier's error."""
    with conn.client() as client:
        row = resolve_channel(client, ref)
        page = client.get(f"{BASE}/{quote(row['id'], safe='')}/deliveries", params={"limit": limit})
    rows = [d for d in page["items"] if not failed_only or d["status"] == "failed"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"no {'failed ' if failed_only else ''}deliveries for {row['name']}")
        return
    _deliveries_table(rows)


from . import notification_routes_cmd  # noqa: E402, F401  (registers routes/route/unroute on the group)
