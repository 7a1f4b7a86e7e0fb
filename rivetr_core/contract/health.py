"""Health checks (``rivetr_health_checks``): decide whether a new container is ready for traffic. Apps select
one by name (``health_check.kind``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .plugin import PluginContext
from .runtime import ContainerRuntime


@dataclass
class HealthTarget:
    """One probe of a new container. ``host:port`` is where this host reaches the app port; ``timeout`` bounds
    one attempt (core also cancels a check that overruns it).

    ``options`` are the app's ``health_check`` options for this check (``{"kind": "command", "command": [...]}``
    gives ``{"command": [...]}``; a plugin check gets whatever JSON the app set). ``runtime`` and
    ``container_id`` let a check look inside the container (``await target.runtime.exec(target.container_id,
    argv)``); both are set by the pipeline.
    """

    host: str
    port: int
    path: str = "/"
    expected_status: int | None = None  # None: any 2xx/3xx
    timeout: float = 5.0
    host_header: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    container_id: str | None = None
    runtime: ContainerRuntime | None = None


@dataclass
class HealthResult:
    ok: bool
    detail: str = ""
    latency_ms: float | None = None
    status_code: int | None = None


@runtime_checkable
class HealthCheck(Protocol):
    """Selected by an app's ``health_check.kind`` (its registration name); the pipeline calls ``check`` until
    it returns ``ok`` or the app's retries run out. Return a failed result rather than raising."""

    name: str

    async def check(self, target: HealthTarget) -> HealthResult: ...


@dataclass(frozen=True)
class HealthCheckRegistration:
    """A health check apps can select: ``"health_check": {"kind": "<name>", ...options}``."""

    #: What an app's ``health_check.kind`` names; core's own are ``http``, ``tcp`` and ``command``.
    name: str
    #: Builds the check from this plugin's context; called on first use, once per server (one object checks every app).
    factory: Callable[[PluginContext], HealthCheck]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
