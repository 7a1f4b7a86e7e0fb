"""Validation against the vendored Compose Specification schema (``schema/compose-spec.json``, see
``schema/README.txt``). jsonschema is imported, and the validator compiled, on first use only."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from rivetr_core.compose.errors import problem
from rivetr_core.compose.paths import fmt_path

_validator: Any = None


def _get_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft201909Validator

        text = resources.files("rivetr_core.compose").joinpath("schema/compose-spec.json").read_text("utf-8")
        schema = json.loads(text)
        # The schema's $schema is draft 2019-09 spelled with http://, which jsonschema does not recognise
        # (it would warn and fall back to the newest draft): name the draft explicitly.
        Draft201909Validator.check_schema(schema)
        # No format checker: "ports", "duration"... are parsed (and their errors reported) by the normaliser.
        _validator = Draft201909Validator(schema)
    return _validator


def schema_problems(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every schema violation as a ``details`` entry, sorted by field. The top-level ``name`` is checked by
    the loader (this schema predates it)."""
    document = {k: v for k, v in data.items() if k != "name"}
    out = []
    for error in _get_validator().iter_errors(document):
        error = _closest(error)
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            out.extend(_unexpected_keys(error.instance, error.schema, path))
            continue
        out.append(problem(fmt_path(path) or None, _short(error.message)))
    out.sort(key=lambda p: p["field"] or "")
    return out


def _closest(error: Any) -> Any:
    """oneOf/anyOf only say "is not valid under any of the given schemas": the branch meant for this kind of
    value (not one that failed on the value's type) and that got deepest says why."""
    while error.context:
        fitting = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        error = max(fitting or error.context, key=lambda e: len(e.absolute_path))
    return error


def _unexpected_keys(instance: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...]) -> list[dict]:
    """One entry per offending key, at the key's own path (jsonschema reports them all at the parent)."""
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    extras = sorted(k for k in instance if k not in known and not any(p.search(k) for p in patterns))
    out = []
    for key in extras:
        if known:
            message = "unknown key (not in the Compose Specification)"
        else:  # a map of names (services, volumes...): the key is a name that breaks the naming rule
            rule = " or ".join(p.pattern for p in patterns if p.pattern != "^x-")
            message = f"invalid name {key!r}: must match {rule}"
        out.append(problem(fmt_path((*path, key)), message))
    return out or [problem(fmt_path(path) or None, "unexpected keys")]


def _short(message: str) -> str:
    # jsonschema quotes whole instances; a 20 kB command line is no help in an error message.
    return message if len(message) <= 300 else message[:297] + "..."
