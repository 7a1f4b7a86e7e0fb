"""``rivetr nodes list|show|drain|activate|label``: the nodes the runtime runs containers on (``/api/nodes``,
docs/scaling.md "Nodes and placement"). The swarm runtime's nodes can be drained, activated and labelled; the
docker and podman runtimes show their one engine as a ``standalone`` node that cannot be changed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click

from .client import Connection, connection_options, json_option
from .output import fields, human_size, print_json, table


@click.group()
def nodes() -> None:
    """The cluster's nodes: list, show, drain, activate, label (swarm runtime)."""


#: ``rivetr nodes list``'s columns; ``engine``: whether Rivetr reaches the node's own engine (``engine_status``).
LIST_COLUMNS = [
    "id", "hostname", "role", "availability", "state", "address", "cpus", "memory", "tasks", "labels", "engine",
]  # fmt: skip


def _labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


def _engine_status(node: dict[str, Any]) -> str:
    """Whether Rivetr reaches the node's engine (exec, terminals, stats and pause of its tasks need it)."""
    status = node.get("engine_status") or "-"
    if status == "unreachable" and node.get("engine_error"):
        return f"{status} ({node['engine_error']})"
    if status == "not_configured":
        return f"{status} (set [plugins.runtime-swarm] node_engines for {node['hostname']}: docs/scaling.md)"
    return str(status)


def _role(node: dict[str, Any]) -> str:
    return f"{node['role']} (leader)" if node["leader"] and node["role"] == "manager" else node["role"]


@nodes.command("list")
@connection_options
@json_option
def nodes_list(conn: Connection, as_json: bool) -> None:
    """Every node: role, availability, state, resources, running tasks and labels (managers first)."""
    with conn.client() as client:
        body = client.get("/api/nodes")
    if as_json:
        print_json(body)
        return
    table(
        [
            (
                n["id"][:12],
                n["hostname"],
                _role(n),
                n["availability"],
                n["state"],
                n["address"] or "-",
                f"{n['cpus']:g}" if n["cpus"] else "-",
                human_size(n["memory"]),
                "-" if n["running_tasks"] is None else n["running_tasks"],
                _labels_text(n["labels"]),
                n.get("engine_status") or "-",
            )
            for n in body["items"]
        ],
        LIST_COLUMNS,
    )
    if not body["cluster"]:
        click.echo(
            f"\nthe {body['runtime']} runtime runs on one engine (no cluster: nothing to drain or label)"
        )


def _show(node: dict[str, Any]) -> None:
    fields(
        [
            ("id", node["id"]),
            ("hostname", node["hostname"]),
            ("role", _role(node)),
            ("availability", node["availability"]),
            ("state", node["state"] + (f" ({node['message']})" if node.get("message") else "")),
            ("address", node["address"] or "-"),
            ("engine", node["engine_version"] or "-"),
            ("platform", f"{node.get('os') or '?'}/{node.get('arch') or '?'}"),
            ("cpus", f"{node['cpus']:g}" if node["cpus"] else "-"),
            ("memory", human_size(node["memory"])),
            ("running tasks", "-" if node["running_tasks"] is None else node["running_tasks"]),
            ("labels", _labels_text(node["labels"])),
            ("engine labels", _labels_text(node.get("engine_labels") or {})),
            ("engine endpoint", node.get("engine_endpoint") or "none"),
            ("engine status", _engine_status(node)),
        ]
    )
    if node.get("warning"):
        click.echo(f"warning: {node['warning']}", err=True)


@nodes.command("show")
@click.argument("node")
@connection_options
@json_option
def nodes_show(node: str, conn: Connection, as_json: bool) -> None:
    """One node, by id, id prefix or hostname."""
    with conn.client() as client:
        body = client.get(f"/api/nodes/{quote(node, safe='')}")
    if as_json:
        print_json(body)
        return
    _show(body)


def _update(conn: Connection, node: str, body: dict[str, Any], as_json: bool) -> None:
    # A drain answers once its tasks moved (a new task started elsewhere and healthy, up to a minute or so).
    with conn.client(timeout=150.0) as client:
        answer = client.put(f"/api/nodes/{quote(node, safe='')}", body)
    if as_json:
        print_json(answer)
        return
    _show(answer)


@nodes.command("drain")
@click.argument("node")
@connection_options
@json_option
def nodes_drain(node: str, conn: Connection, as_json: bool) -> None:
    """Drain a node: its apps' tasks start on other nodes first, the routes follow, then swarm stops the node's
    tasks (a move, not a crash); it takes no new ones until `rivetr nodes activate`. (With one node they have
    nowhere to go: they wait.)"""
    _update(conn, node, {"availability": "drain"}, as_json)


@nodes.command("activate")
@click.argument("node")
@connection_options
@json_option
def nodes_activate(node: str, conn: Connection, as_json: bool) -> None:
    """Make a drained or paused node take tasks again."""
    _update(conn, node, {"availability": "active"}, as_json)


@nodes.command("pause")
@click.argument("node")
@connection_options
@json_option
def nodes_pause(node: str, conn: Connection, as_json: bool) -> None:
    """Pause a node: it keeps its tasks but takes no new ones."""
    _update(conn, node, {"availability": "pause"}, as_json)


@nodes.command("label")
@click.argument("node")
@click.argument("labels", nargs=-1, metavar="KEY=VALUE...")
@click.option("--remove", "remove", multiple=True, metavar="KEY", help="Remove this label (repeatable).")
@connection_options
@json_option
def nodes_label(
    node: str, labels: tuple[str, ...], remove: tuple[str, ...], conn: Connection, as_json: bool
) -> None:
    """Add or change labels of a node (what `node.labels.KEY == VALUE` placement constraints match), and
    remove others; the node's other labels stay.

    \b
    rivetr nodes label node-1 tier=web zone=eu-1
    rivetr nodes label node-1 --remove zone"""
    if not labels and not remove:
        raise click.UsageError("give KEY=VALUE labels to set and/or --remove KEY")
    wanted: dict[str, str] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"{item!r} is not KEY=VALUE")
        wanted[key] = value
    with conn.client() as client:
        current = client.get(f"/api/nodes/{quote(node, safe='')}")
        merged = {k: v for k, v in current["labels"].items() if k not in remove}
        missing = [k for k in remove if k not in current["labels"]]
        if missing:
            raise click.UsageError(f"node {current['hostname']} has no label {', '.join(missing)}")
        merged.update(wanted)
        answer = client.put(f"/api/nodes/{quote(current['id'], safe='')}", {"labels": merged})
    if as_json:
        print_json(answer)
        return
    _show(answer)
