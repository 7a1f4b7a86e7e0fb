"""Parsing of human sizes and CPU amounts used in config and app limits ("512m", "1g", "0.5")."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str | int | float | None) -> int | None:
    """``"512m"`` → 536870912; ``"1g"``, ``"1GiB"``, ``"1.5G"``, ``2048`` (bytes). ``None``/``""`` → None.

    Raises ValueError with a message meant for users.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a size like 512m or 1g")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("size must be positive")
        return int(value)
    match = _SIZE_RE.match(value)
    if not match:
        raise ValueError(
            f"invalid size {value!r}: expected a number with an optional k/m/g/t suffix, e.g. 512m"
        )
    number, unit, _ = match.groups()
    size = int(float(number) * _FACTORS[unit.lower()])
    if size <= 0:
        raise ValueError("size must be positive")
    return size


def parse_cpus(value: str | int | float | None) -> float | None:
    """``"0.5"`` / ``0.5`` / ``"500m"`` (millicores) → 0.5 CPUs. ``None``/``""`` → None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a CPU amount like 0.5")
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            cpus = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        except ValueError:
            raise ValueError(f"invalid CPU amount {value!r}: expected e.g. 0.5 or 500m") from None
    else:
        cpus = float(value)
    if not 0 < cpus <= 1024:
        raise ValueError("CPU amount must be greater than 0")
    return cpus
