"""Compose variable interpolation, expression by expression (pure logic, no YAML)."""

from __future__ import annotations

import pytest

from rivetr_core.compose.interpolate import InterpolationError, interpolate, variables_in

ENV = {"SET": "value", "EMPTY": "", "OTHER": "other", "PORT": "8080"}


def expand(text: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    unset: list[str] = []
    return interpolate(text, ENV if env is None else env, unset.append), unset


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("x${SET}y", "xvaluey"),
        ("$SET/path", "value/path"),
        ("${SET:-d}", "value"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET:-d}", "d"),
        ("${SET-d}", "value"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?msg}", "value"),
        ("${EMPTY?msg}", ""),
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("costs $$5", "costs $5"),
        ("${UNSET:-${OTHER}}", "other"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a-b:c}", "a-b:c"),
        ("${UNSET:-}", ""),
        ("${SET:-${UNSET_NOT_EVALUATED}}", "value"),
        ("127.0.0.1:${PORT}:80", "127.0.0.1:8080:80"),
        ("${UNSET:-$$literal}", "$literal"),
    ],
)
def test_expressions(text: str, expected: str) -> None:
    value, unset = expand(text)
    assert value == expected
    assert unset == []  # defaults are evaluated lazily: nothing above warns


def test_unset_without_default_is_blank_and_reported() -> None:
    assert expand("a${MISSING}b$ALSO") == ("ab", ["MISSING", "ALSO"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${DB_PASSWORD:?set it in the stack env}",
            "required variable DB_PASSWORD is not set: set it in the stack env",
        ),
        ("${DB_PASSWORD?}", "required variable DB_PASSWORD is not set"),
        ("${EMPTY:?must not be empty}", "required variable EMPTY is not set: must not be empty"),
        ("${DB_PASSWORD:?needs ${OTHER}}", "required variable DB_PASSWORD is not set: needs other"),
    ],
)
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        expand(text)
    assert caught.value.message == message
    assert caught.value.variable == message.split()[2]


@pytest.mark.parametrize("text", ["${", "${SET", "${}", "${1X}", "${SET%x}", "price: $", "$ 5", "$-"])
def test_malformed_expressions(text: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        expand(text)
    assert caught.value.variable is None
    assert "invalid interpolation format" in caught.value.message


def test_variables_in_lists_nested_names_and_skips_escapes() -> None:
    assert variables_in("$A ${B:-${C}} $$D ${E:?x} ${F+${G:-h}}") == ["A", "B", "C", "E", "F", "G"]
