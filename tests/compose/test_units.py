"""Compose durations, sizes, ports and expose entries."""

from __future__ import annotations

import pytest

from rivetr_core.compose.durations import parse_duration
from rivetr_core.compose.model import PortSpec
from rivetr_core.compose.ports import parse_expose, parse_port


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1m30s", 90),
        ("500ms", 0.5),
        ("1h", 3600),
        ("1h2m3s", 3723),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("10", 10),
        (5, 5),
        ("0s", 0),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "1m 30s", "m30", "-5s", "abc", "30s10"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8080:80", [PortSpec(80, 8080)]),
        ("3000", [PortSpec(3000, 0)]),
        (3000, [PortSpec(3000, 0)]),
        ("127.0.0.1:8080:80/udp", [PortSpec(80, 8080, "127.0.0.1", "udp")]),
        ("127.0.0.1::80", [PortSpec(80, 0, "127.0.0.1")]),
        ("[::1]:8080:80", [PortSpec(80, 8080, "::1")]),
        ("::1:8080:80", [PortSpec(80, 8080, "::1")]),
        ("8000-8001:8000-8001", [PortSpec(8000, 8000), PortSpec(8001, 8001)]),
        ("9000-9001:8000-8001/tcp", [PortSpec(8000, 9000), PortSpec(8001, 9001)]),
        ("3000-3001", [PortSpec(3000, 0), PortSpec(3001, 0)]),
        (
            {"target": 80, "published": 8080, "protocol": "udp", "mode": "host"},
            [PortSpec(80, 8080, "", "udp")],
        ),
        ({"target": 80}, [PortSpec(80, 0)]),
    ],
)
def test_port_syntaxes(value: object, expected: list[PortSpec]) -> None:
    assert parse_port(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("8080:80/sctp", "protocol"),
        ("70000:80", "out of range"),
        ("8080:0", "out of range"),
        ("8000-8002:8000-8001", "same length"),
        ("9001-9000:80", "ends before"),
        ("1-5000", "wider than"),
        ("web:80", "not a port number"),
        (":8080:80", "empty host address"),
        ({"target": 80, "published": 0}, "out of range"),
        (True, "expected a port"),
    ],
)
def test_bad_ports(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_port(value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3000, [3000]), ("3000", [3000]), ("3000/udp", [3000]), ("3000-3002", [3000, 3001, 3002])],
)
def test_expose(value: object, expected: list[int]) -> None:
    assert parse_expose(value) == expected
