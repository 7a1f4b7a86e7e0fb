"""The host protection an app's containers get: the app's own limits where it sets them, else ``[runtime]``'s.

One place decides, so what the API, CLI and dashboard show as "effective" is exactly what the pipeline puts on
the container. An app field ``None`` means "the server default"; ``0`` for memory or pids means "unlimited".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.config import RuntimeConfig
    from rivetr_core.models.apps import App


@dataclass(frozen=True)
class HostLimits:
    """Limits for one app container; ``None`` means unlimited (or the engine's own log settings)."""

    cpu: float | None
    memory: int | None  # bytes
    pids: int | None
    log_max_size: int | None  # bytes per file
    log_max_files: int | None
    oom_score_adj: int | None

    def as_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every value, a measurable cost on app lists.
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pids": self.pids,
            "log_max_size": self.log_max_size,
            "log_max_files": self.log_max_files,
            "oom_score_adj": self.oom_score_adj,
        }


def _pick(own: int | None, default: int | None) -> int | None:
    value = default if own is None else own
    return value or None  # 0: unlimited


def effective_limits(app: App, runtime: RuntimeConfig) -> HostLimits:
    log_size = _pick(app.log_max_size, runtime.log_max_size)
    return HostLimits(
        cpu=app.cpu_limit or runtime.default_cpu_limit,
        memory=_pick(app.memory_limit, runtime.default_memory_limit),
        pids=_pick(app.pids_limit, runtime.pids_limit),
        log_max_size=log_size,
        log_max_files=(app.log_max_files or runtime.log_max_files) if log_size else None,
        oom_score_adj=runtime.oom_score_adj or None,
    )
