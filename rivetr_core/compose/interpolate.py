"""Compose variable interpolation: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?message}``, ``${VAR?message}``, ``${VAR:+alt}``, ``${VAR+alt}`` and ``$$`` for a literal ``$``.

Defaults, alternatives and messages may themselves hold ``${...}`` (``${A:-${B}}``); they are expanded only when
used, so an unused default never warns nor fails. Pure string logic, no YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rivetr_core.compose.errors import problem
from rivetr_core.compose.paths import Path_, fmt_path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(Exception):
    """``variable`` is set for a ``:?``/``?`` failure, None for a malformed expression."""

    def __init__(self, message: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.variable = variable


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``, nested ``${...}`` skipped."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid interpolation format in {text!r}: unclosed '${{'")


def interpolate(text: str, env: Mapping[str, str], on_unset: Callable[[str], None]) -> str:
    """``text`` with every variable expanded from ``env``. ``on_unset(name)`` is told of each variable used
    without a default while unset (it expands to ""). Raises :class:`InterpolationError`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = text[dollar + 1 : dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            end = _closing_brace(text, dollar + 2)
            out.append(_braced(text[dollar + 2 : end], text, env, on_unset))
            i = end + 1
        else:
            match = _NAME.match(text, dollar + 1)
            if not match:
                raise InterpolationError(
                    f"invalid interpolation format in {text!r}: '$' must start a variable (write '$$' for a literal '$')"
                )
            out.append(_lookup(match.group(), env, on_unset))
            i = match.end()
    return "".join(out)


def _lookup(name: str, env: Mapping[str, str], on_unset: Callable[[str], None]) -> str:
    value = env.get(name)
    if value is None:
        on_unset(name)
        return ""
    return value


def _braced(body: str, whole: str, env: Mapping[str, str], on_unset: Callable[[str], None]) -> str:
    match = _NAME.match(body)
    if not match:
        raise InterpolationError(
            f"invalid interpolation format in {whole!r}: '${{{body}}}' names no variable"
        )
    name, rest = match.group(), body[match.end() :]
    if not rest:
        return _lookup(name, env, on_unset)
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    if operator is None:
        raise InterpolationError(
            f"invalid interpolation format in {whole!r}: unexpected {rest[0]!r} after {name}"
        )
    word = rest[len(operator) :]
    value = env.get(name)
    present = value is not None and (value != "" or not operator.startswith(":"))
    if operator in (":-", "-"):
        return value if present and value is not None else interpolate(word, env, on_unset)
    if operator in (":+", "+"):
        return interpolate(word, env, on_unset) if present else ""
    if present and value is not None:  # ":?" / "?"
        return value
    detail = interpolate(word, env, on_unset).strip()
    raise InterpolationError(f"required variable {name} is not set" + (f": {detail}" if detail else ""), name)


def variables_in(text: str) -> list[str]:
    """Every variable name ``text`` refers to, nested defaults included, in order of appearance (malformed
    expressions are skipped: this serves forms that list what to fill in)."""
    names: list[str] = []
    i = 0
    while True:
        dollar = text.find("$", i)
        if dollar < 0:
            return names
        nxt = text[dollar + 1 : dollar + 2]
        if nxt == "$":
            i = dollar + 2
        elif nxt == "{":
            try:
                end = _closing_brace(text, dollar + 2)
            except InterpolationError:
                return names
            body = text[dollar + 2 : end]
            match = _NAME.match(body)
            if match:
                names.append(match.group())
                names.extend(variables_in(body[match.end() :]))
            i = end + 1
        else:
            match = _NAME.match(text, dollar + 1)
            if match:
                names.append(match.group())
            i = match.end() if match else dollar + 1


def interpolate_tree(
    data: Any, env: Mapping[str, str], path: Path_, problems: list[dict[str, Any]], warnings: list[str]
) -> Any:
    """A copy of ``data`` with every string value interpolated (keys are left as written). Failures go to
    ``problems`` (one per value), unset-variable warnings to ``warnings`` (once per variable)."""

    def on_unset(name: str) -> None:
        warning = f"variable {name} is not set; defaulting to a blank string"
        if warning not in warnings:
            warnings.append(warning)

    def walk(value: Any, where: Path_) -> Any:
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                return interpolate(value, env, on_unset)
            except InterpolationError as exc:
                problems.append(problem(fmt_path(where), exc.message, variable=exc.variable))
                return value
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    problems.append(
                        problem(fmt_path(where) or None, f"key {key!r} must be a string (quote it)")
                    )
                    continue
                out[key] = walk(item, (*where, key))
            return out
        if isinstance(value, list):
            return [walk(item, (*where, index)) for index, item in enumerate(value)]
        return value

    return walk(data, path)
