"""Compose port syntaxes: short (``"8080:80"``, ``"127.0.0.1:8080:80/udp"``, ``"3000"``, ranges
``"8000-8001:8000-8001"``) and long (``{target, published, protocol, mode}``), plus ``expose``."""

from __future__ import annotations

from typing import Any

from rivetr_core.compose.model import PortSpec

PROTOCOLS = ("tcp", "udp")
# A range wider than this is a typo, not a service: each port becomes a publish rule on the engine.
MAX_RANGE = 1000


def _port(text: str, *, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a port number")
    port = int(text)
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return port


def _range(text: str) -> list[int]:
    first, sep, last = text.partition("-")
    if not sep:
        return [_port(text)]
    low, high = _port(first), _port(last)
    if high < low:
        raise ValueError(f"port range {text!r} ends before it starts")
    if high - low >= MAX_RANGE:
        raise ValueError(f"port range {text!r} is wider than {MAX_RANGE} ports")
    return list(range(low, high + 1))


def parse_port(value: Any) -> list[PortSpec]:
    """One ``ports:`` entry as PortSpecs (a range gives several). Raises ValueError."""
    if isinstance(value, dict):
        protocol = str(value.get("protocol") or "tcp").lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} is not supported (tcp or udp)")
        published = value.get("published")
        host = 0 if published is None else _port(str(published))
        return [PortSpec(container_port=_port(str(value["target"])), host_port=host, protocol=protocol)]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a port like 8080:80")
    text = str(value).strip()
    spec, _, protocol = text.partition("/")
    protocol = (protocol or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not supported (tcp or udp)")
    host_ip, host_part = "", ""
    if spec.startswith("["):  # [::1]:8080:80
        close = spec.find("]")
        if close < 0 or spec[close + 1 : close + 2] != ":":
            raise ValueError(f"invalid port {text!r}")
        host_ip, rest = spec[1:close], spec[close + 2 :]
        host_part, _, container_part = rest.rpartition(":")
    else:
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, host_part, container_part = parts
            if not host_ip:
                raise ValueError(f"invalid port {text!r}: empty host address")
        elif len(parts) == 2:
            host_part, container_part = parts
        else:
            container_part = parts[0]
    containers = _range(container_part)
    if not host_part:  # "3000", "127.0.0.1::3000": random host ports
        return [PortSpec(c, 0, host_ip, protocol) for c in containers]
    hosts = _range(host_part)
    if len(hosts) != len(containers):
        raise ValueError(
            f"invalid port {text!r}: the host range and the container range must have the same length"
        )
    return [PortSpec(c, h, host_ip, protocol) for h, c in zip(hosts, containers, strict=True)]


def parse_expose(value: Any) -> list[int]:
    """One ``expose:`` entry (``3000``, ``"3000/tcp"``, ``"3000-3002"``) as container ports."""
    if isinstance(value, bool):
        raise ValueError("expected a port number")
    text = str(value).strip().partition("/")[0]
    return _range(text)
