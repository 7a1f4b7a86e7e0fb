"""Tags in the CLI (docs/tags.md): ``--tag`` on ``create`` and ``list`` of apps, services and stacks,
``<kind> tag NAME TAG...`` / ``<kind> untag NAME TAG...`` (added to each kind's group by :func:`add_tag_commands`),
and ``rivetr tags``, the tags in use with their counts. The server normalises and checks tags; this module only
sends what was typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .client import Connection, RivetrClient, connection_options, json_option
from .output import print_json, table

F = TypeVar("F", bound=Callable[..., Any])


def tag_option(help_text: str) -> Callable[[F], F]:
    """``--tag`` (repeatable), passed to the command as ``tags``."""
    return click.option("--tag", "tags", multiple=True, metavar="TAG", help=help_text)


def tag_params(tags: tuple[str, ...]) -> dict[str, Any]:
    """The ``?tag=`` query of a list (every tag given must be held)."""
    return {"tag": list(tags)} if tags else {}


def tags_text(row: dict[str, Any]) -> str:
    """A resource's tags for a table cell."""
    return ", ".join(row.get("tags") or ()) or "-"


def add_tag_commands(
    group: click.Group, kind: str, resolve: Callable[[RivetrClient, str], dict[str, Any]]
) -> None:
    """``tag`` and ``untag`` on ``group`` for resources at ``/api/<kind>/{id}``, found with ``resolve``."""

    def change(ref: str, conn: Connection, as_json: bool, edit: Callable[[set[str]], set[str]]) -> None:
        with conn.client() as client:
            found = resolve(client, ref)
            tags = sorted(edit(set(found.get("tags") or ())))
            if tags != sorted(found.get("tags") or ()):
                found = client.put(f"/api/{kind}/{found['id']}", {"tags": tags})
        if as_json:
            print_json(found)
            return
        click.echo(f"{found['name']}: {', '.join(found.get('tags') or ()) or 'no tags'}")

    @group.command("tag")
    @click.argument("name")
    @click.argument("tags", nargs=-1, required=True)
    @connection_options
    @json_option
    def tag(name: str, tags: tuple[str, ...], conn: Connection, as_json: bool) -> None:
        """Add tags (lower-cased; at most 20, each 1-32 of a-z 0-9 - _ . :)."""
        change(name, conn, as_json, lambda held: held | set(tags))

    @group.command("untag")
    @click.argument("name")
    @click.argument("tags", nargs=-1, required=True)
    @connection_options
    @json_option
    def untag(name: str, tags: tuple[str, ...], conn: Connection, as_json: bool) -> None:
        """Remove tags (a tag it does not hold is ignored)."""
        wanted = {t.strip().lower() for t in tags}
        change(name, conn, as_json, lambda held: held - wanted)


@click.command("tags")
@connection_options
@json_option
def tags(conn: Connection, as_json: bool) -> None:
    """The tags in use on apps, services and stacks you can see, with how many of each hold them."""
    with conn.client() as client:
        rows = client.list_all("/api/tags")
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no tags yet: rivetr apps tag APP TAG")
        return
    table(
        [(r["tag"], r["apps"], r["services"], r["stacks"]) for r in rows],
        ["tag", "apps", "services", "stacks"],
    )
