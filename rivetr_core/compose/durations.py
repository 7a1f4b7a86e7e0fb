"""Compose durations (Go syntax): ``"1m30s"``, ``"500ms"``, ``"1h"``, ``"1.5s"``; a bare number is seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds. Raises ValueError with a message meant for users."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s or 1m30s")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(f"invalid duration {value!r}: expected e.g. 30s, 1m30s or 500ms") from None
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds
