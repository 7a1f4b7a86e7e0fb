"""Polling for end-to-end tests: wait until a check returns something truthy, or fail saying what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    check: Callable[[], Any],
    timeout: float = 30,
    what: str | Callable[[], str] = "condition",
    interval: float = 0.1,
) -> Any:
    """``check()``'s first truthy value; AssertionError naming ``what`` (a callable is asked at the end)
    once ``timeout`` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
