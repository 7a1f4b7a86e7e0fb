"""The job kind registry. A kind is an async ``run(ctx, args) -> dict`` (the dict is stored on the run as its
result); later features register theirs (``register_kind("volume_backup", run_volume_backup)``) and create jobs
naming them. A job whose kind is not registered fails its run with a clear error instead of vanishing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

JobFn = Callable[["RivetrContext", dict[str, Any]], Awaitable[dict[str, Any] | None]]

_KINDS: dict[str, JobFn] = {}


def register_kind(name: str, run: JobFn) -> None:
    _KINDS[name] = run


def get_kind(name: str) -> JobFn | None:
    return _KINDS.get(name)


def kind_names() -> list[str]:
    return sorted(_KINDS)
