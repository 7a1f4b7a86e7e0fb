"""Placement constraints of an app (``"placement": ["node.labels.tier == web"]``): swarm's own syntax, checked
before it reaches the engine so a typo is a 422 naming the entry rather than a service swarm refuses (or, worse,
one it accepts and never places).

Syntax (docs.docker.com, ``docker service create --constraint``): ``<attribute> == <value>`` or
``<attribute> != <value>``, all of them must hold (AND). Attributes: ``node.id``, ``node.hostname``,
``node.role`` (``manager`` or ``worker``), ``node.platform.os``, ``node.platform.arch``,
``node.labels.<key>`` and ``engine.labels.<key>``. Only runtimes with the cluster capability (swarm) apply them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: Most constraints an app may have (swarm has no limit; a long list is a mistake).
MAX_CONSTRAINTS = 20
MAX_LENGTH = 300
FIXED_ATTRIBUTES = ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch")
LABEL_PREFIXES = ("node.labels.", "engine.labels.")
ROLES = ("manager", "worker")

_CONSTRAINT = re.compile(r"^\s*(?P<attr>[^\s=!]+)\s*(?P<op>==|!=)\s*(?P<value>\S.*?)\s*$")
# Swarm's label keys: no spaces, no operators; dots, dashes and slashes are common (com.example.zone).
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")

PLACEMENT_HELP = (
    "Swarm placement constraints (docs/scaling.md, Nodes and placement), all of which must hold: "
    '"<attribute> == <value>" or "!=", attribute node.id, node.hostname, node.role (manager|worker), '
    "node.platform.os, node.platform.arch, node.labels.<key> or engine.labels.<key>; at most 20. Applied by "
    "the swarm runtime at the next deployment; the docker and podman runtimes run on one host and ignore them."
)
PLACEMENT_SCHEMA: dict[str, Any] = {
    "items": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_LENGTH,
        "examples": ["node.labels.tier == web"],
    },
    "maxItems": MAX_CONSTRAINTS,
}


def check_constraint(entry: str) -> str:
    """One constraint, normalised to ``<attr> <op> <value>``; ``ValueError`` saying what is wrong."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError("an empty constraint")
    if len(entry) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    if "\n" in entry or "\x00" in entry:
        raise ValueError("a constraint is one line")
    match = _CONSTRAINT.match(entry)
    if match is None:
        raise ValueError('not "<attribute> == <value>" or "<attribute> != <value>"')
    attr, op, value = match["attr"], match["op"], match["value"]
    if "==" in value or "!=" in value:
        raise ValueError("one operator per constraint (give several constraints for several conditions)")
    if attr.startswith(LABEL_PREFIXES):
        key = attr.split(".labels.", 1)[1]
        if not _LABEL_KEY.match(key):
            raise ValueError(f"label key {key!r} is not a label name (letters, digits, . _ / -)")
    elif attr not in FIXED_ATTRIBUTES:
        raise ValueError(
            f"unknown attribute {attr!r}: one of {', '.join(FIXED_ATTRIBUTES)}, node.labels.<key>, "
            "engine.labels.<key>"
        )
    if attr == "node.role" and value not in ROLES:
        raise ValueError(f"node.role is manager or worker, not {value!r}")
    return f"{attr} {op} {value}"


def check_placement(entries: Iterable[str]) -> list[str]:
    """Every constraint checked and normalised (duplicates dropped, order kept); ``ValueError`` naming the first
    bad entry by its index and text."""
    items = list(entries)
    if len(items) > MAX_CONSTRAINTS:
        raise ValueError(f"at most {MAX_CONSTRAINTS} constraints, got {len(items)}")
    out: list[str] = []
    for index, entry in enumerate(items):
        try:
            constraint = check_constraint(entry)
        except ValueError as exc:
            raise ValueError(f"entry {index} {entry!r}: {exc}") from None
        if constraint not in out:
            out.append(constraint)
    return out


def compose_constraints(service: dict[str, object]) -> list[str]:
    """A compose service's ``deploy.placement.constraints`` (swarm stack files), checked; [] when absent."""
    deploy = service.get("deploy")
    placement = deploy.get("placement") if isinstance(deploy, dict) else None
    raw = placement.get("constraints") if isinstance(placement, dict) else None
    if not raw:
        return []
    if not isinstance(raw, list):
        raise ValueError("deploy.placement.constraints is a list of strings")
    return check_placement(raw)
