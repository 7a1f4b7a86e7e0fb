"""A deployment's step timings (``Deployment.steps``), shared by the app pipeline and the stack deployer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from rivetr_core.db import isoformat, utcnow


@contextlib.asynccontextmanager
async def timed_step(steps: dict[str, Any], name: str) -> AsyncIterator[None]:
    """Record ``{"started_at", "finished_at", "duration_ms"}`` for ``name`` in ``steps``, also when it fails."""
    started = time.perf_counter()
    steps[name] = {"started_at": isoformat(utcnow())}
    try:
        yield
    finally:
        steps[name]["finished_at"] = isoformat(utcnow())
        steps[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
