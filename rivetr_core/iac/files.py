"""Reading and writing the files: TOML (or JSON) → a validated model, and a document → TOML.

Errors are :class:`~rivetr_core.contract.errors.ValidationFailed` (422) whose ``details`` name each key as a
path (``apps[0].port``) with its ``line`` and ``column`` in the TOML text: tomllib gives them for syntax
errors; for validation errors :func:`key_positions` scans the text for the tables and keys (a small scanner,
not a second TOML parser: it only needs where each table header and ``key =`` line is).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rivetr_core.contract.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)
Path = tuple[str | int, ...]

_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _dotted(text: str) -> list[str]:
    """``a."b.c".d`` → ``["a", "b.c", "d"]`` (bare and quoted keys, as TOML writes them)."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t.":
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            end = n if end < 0 else end
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            match = _BARE.match(text, i)
            if not match:
                break
            parts.append(match.group())
            i = match.end()
    return parts


def key_positions(text: str) -> dict[Path, tuple[int, int]]:
    """Where each table and key of a TOML text starts (1-based line and column), by its path in the parsed
    document: ``("apps", 0, "port")`` for ``port`` under the first ``[[apps]]``."""
    positions: dict[Path, tuple[int, int]] = {}
    counts: dict[Path, int] = {}  # array-of-tables path → index of its last element
    current: Path = ()

    def resolve(names: list[str]) -> Path:
        path: Path = ()
        for name in names:
            path = (*path, name)
            if path in counts:  # an array of tables: the name means its last element
                path = (*path, counts[path])
        return path

    for lineno, raw in enumerate(text.splitlines(), 1):
        stripped = raw.lstrip()
        column = len(raw) - len(stripped) + 1
        if stripped.startswith("[["):
            names = _dotted(stripped[2 : stripped.find("]]")])
            parent = resolve(names[:-1])
            array = (*parent, names[-1]) if names else parent
            counts[array] = counts.get(array, -1) + 1
            current = (*array, counts[array])
            positions.setdefault(array, (lineno, column))
            positions[current] = (lineno, column)
        elif stripped.startswith("["):
            current = resolve(_dotted(stripped[1 : stripped.find("]")]))
            positions[current] = (lineno, column)
        elif stripped and not stripped.startswith("#") and "=" in stripped:
            key = _dotted(stripped.split("=", 1)[0])
            if key:
                positions.setdefault((*current, *key), (lineno, column))
    return positions


def field_name(loc: Sequence[str | int]) -> str:
    """A pydantic ``loc`` as users write it: ``apps[0].env.LOG_LEVEL``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(positions: dict[Path, tuple[int, int]], loc: Sequence[str | int]) -> tuple[int, int] | None:
    """The position of ``loc``, else of its closest enclosing key or table (a missing key: its table)."""
    path = tuple(loc)
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return None


def parse_toml(text: str) -> dict[str, Any]:
    """The document, or a 422 naming the line and column of the syntax error."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _AT.search(message)
        detail: dict[str, Any] = {"field": None, "message": _AT.sub("", message).strip()}
        if at:
            detail["line"], detail["column"] = int(at.group(1)), int(at.group(2))
        elif "end of document" in message:  # e.g. a value missing after the last '='
            lines = text.split("\n")
            detail["line"], detail["column"] = len(lines), len(lines[-1]) + 1
        raise ValidationFailed(f"not valid TOML: {message}", details=[detail], code="invalid_toml") from None


def validate(model: type[M], document: Any, text: str | None = None) -> M:
    """``document`` checked against ``model``; a 422 naming every refused key (with its line and column when
    ``text`` is the TOML it came from)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        positions = key_positions(text) if text is not None else {}
        details: list[dict[str, Any]] = []
        for error in exc.errors(include_url=False, include_input=False):
            # "[key]": pydantic's marker of a dict key's own error (an env name): the key is the place.
            loc = [p for p in error["loc"] if isinstance(p, str | int) and p != "[key]"]
            message = str(error["msg"]).removeprefix("Value error, ")
            detail: dict[str, Any] = {"field": field_name(loc) or None, "message": message}
            where = _locate(positions, loc)
            if where:
                detail["line"], detail["column"] = where
            details.append(detail)
        first = details[0]
        where_text = f" (line {first['line']}, column {first['column']})" if "line" in first else ""
        summary = f"{first['field'] or 'the file'}{where_text}: {first['message']}"
        if len(details) > 1:
            summary += f" (and {len(details) - 1} more)"
        raise ValidationFailed(summary, details=details) from None


def load(model: type[M], text: str) -> M:
    """A TOML text checked against ``model`` (the pipeline's entry point for a repository's rivetr.toml)."""
    return validate(model, parse_toml(text), text)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def dump_toml(document: dict[str, Any]) -> str:
    """``document`` as TOML (TOML has no null: a None value is left out, which a file reads as not managed)."""
    import tomli_w  # only an export writes TOML

    # Multi-line strings as TOML's """...""" blocks: a compose file stays readable (and diffable) in the file.
    return tomli_w.dumps(_without_nulls(document), multiline_strings=True)
