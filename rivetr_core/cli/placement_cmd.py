"""``--placement`` of ``rivetr apps create|update`` and the placement line of ``apps show``: an app's swarm
placement constraints (``node.labels.tier == web``; docs/scaling.md "Nodes and placement")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def placement_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--placement CONSTRAINT`` (repeatable; on update it replaces them all) and ``--no-placement``."""
    command = click.option(
        "--no-placement",
        is_flag=True,
        help="Remove every placement constraint (update only).",
    )(command)
    return click.option(
        "--placement",
        "placement",
        multiple=True,
        metavar="CONSTRAINT",
        help="Swarm placement constraint, '<attribute> == <value>' or '!=' (node.labels.<key>, node.role, "
        "node.hostname...; repeatable, all must hold; on update the list replaces the app's). The docker and "
        "podman runtimes ignore it.",
    )(command)


def placement_body(options: dict[str, Any]) -> dict[str, Any]:
    """``{"placement": [...]}`` when --placement or --no-placement was given (popped from ``options``)."""
    given = list(options.pop("placement", None) or ())
    clear = bool(options.pop("no_placement", False))
    if given and clear:
        raise click.UsageError("give --placement or --no-placement, not both")
    if clear:
        return {"placement": []}
    return {"placement": given} if given else {}


def placement_text(app: dict[str, Any]) -> str:
    """``node.labels.tier == web; node.role == manager`` for ``apps show`` ("-" for none)."""
    return "; ".join(app.get("placement") or ()) or "-"
