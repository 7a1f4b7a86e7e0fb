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

_SP = r"[ \t]*"
_OP = r"(?:==|!=)"
_LABEL_KEY_RE = r"[A-Za-z0-9][A-Za-z0-9._/-]*"
_VALUE = r"[^ \t\n\r\x00=!][^\n\r\x00=!]*"
#: One constraint, exactly what :func:`check_constraint` accepts (also the API schema's ``pattern``, so a fuzzer's
#: schema-valid string is never refused): the attribute, ``==`` or ``!=``, a value without ``=``/``!``.
CONSTRAINT_PATTERN = (
    rf"^{_SP}(?:node\.role{_SP}{_OP}{_SP}(?:manager|worker)"
    rf"|(?:node\.(?:id|hostname|platform\.os|platform\.arch)|(?:node|engine)\.labels\.{_LABEL_KEY_RE})"
    rf"{_SP}{_OP}{_SP}{_VALUE}){_SP}$"
)
_CONSTRAINT_RE = re.compile(CONSTRAINT_PATTERN)
# Only to explain a refusal: the loose shape "<attr> <op> <value>".
_SHAPE = re.compile(r"^\s*(?P<attr>[^\s=!]+)\s*(?P<op>==|!=)\s*(?P<value>\S.*?)\s*$")
_LABEL_KEY = re.compile(rf"^{_LABEL_KEY_RE}$")

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
        "pattern": CONSTRAINT_PATTERN,
        "examples": ["node.labels.tier == web"],
    },
    "maxItems": MAX_CONSTRAINTS,
}


def _why(entry: str) -> str:
    """What is wrong with a constraint :data:`CONSTRAINT_PATTERN` refused, for the 422's message."""
    if not entry.strip():
        return "an empty constraint"
    if "\n" in entry.strip() or "\r" in entry or "\x00" in entry:
        return "a constraint is one line"
    match = _SHAPE.match(entry)
    if match is None:
        return 'not "<attribute> == <value>" or "<attribute> != <value>"'
    attr, value = match["attr"], match["value"]
    if attr.startswith(LABEL_PREFIXES):
        key = attr.split(".labels.", 1)[1]
        if not _LABEL_KEY.match(key):
            return f"label key {key!r} is not a label name (letters, digits, . _ / -)"
    elif attr not in FIXED_ATTRIBUTES:
        return (
            f"unknown attribute {attr!r}: one of {', '.join(FIXED_ATTRIBUTES)}, node.labels.<key>, "
            "engine.labels.<key>"
        )
    if attr == "node.role" and value not in ROLES:
        return f"node.role is manager or worker, not {value!r}"
    if "=" in value or "!" in value:
        return "one operator per constraint, and no = or ! in the value (give several constraints)"
    return 'not "<attribute> == <value>" or "<attribute> != <value>"'


def check_constraint(entry: str) -> str:
    """One constraint, normalised to ``<attr> <op> <value>``; ``ValueError`` saying what is wrong. Accepts
    exactly what :data:`CONSTRAINT_PATTERN` matches (with Python's ``$``, as a JSON Schema validator here does)."""
    if not isinstance(entry, str):
        raise ValueError("a constraint is a string")
    if len(entry) > MAX_LENGTH:
        raise ValueError(f"longer than {MAX_LENGTH} characters")
    if not _CONSTRAINT_RE.match(entry):
        raise ValueError(_why(entry))
    text = entry.rstrip("\n").strip(" \t")  # the pattern's "$" lets one final newline through
    op = "==" if "==" in text else "!="
    attr, _, value = text.partition(op)
    blanks = " \t"
    return f"{attr.strip(blanks)} {op} {value.strip(blanks)}"


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
