"""The plugin contract (1.0): everything a Rivetr plugin may import from core.

A plugin imports from ``rivetr_core.contract`` (or one of its modules) and, from the package root, only
``rivetr_core.hookimpl`` and ``rivetr_core.__version__``; tests/test_layering.py enforces it. One module per
capability:

* :mod:`~rivetr_core.contract.runtime` — container runtimes (``ContainerRuntime`` and its value types)
* :mod:`~rivetr_core.contract.nodes` — the optional cluster capability of a runtime (``ClusterRuntime``,
  ``NodeInfo``)
* :mod:`~rivetr_core.contract.builder` — image builders, with helper :mod:`~rivetr_core.contract.cliproc`
  (a builder that runs a CLI: its availability, environment and output)
* :mod:`~rivetr_core.contract.git` — git providers (webhooks, OAuth/REST), with helpers
  :mod:`~rivetr_core.contract.signing` and :mod:`~rivetr_core.contract.hostapi`
* :mod:`~rivetr_core.contract.health` — health checks
* :mod:`~rivetr_core.contract.notifier` — notifiers
* :mod:`~rivetr_core.contract.proxy` — proxy backends
* :mod:`~rivetr_core.contract.events` — lifecycle events (``RivetrEvent``)
* :mod:`~rivetr_core.contract.errors` — domain errors (``RivetrError`` and friends)
* :mod:`~rivetr_core.contract.plugin` — ``PluginContext``, the blueprint/config registrations and ``requires``
  (the permission a plugin route needs)
* :mod:`~rivetr_core.contract.templates` — service templates (``TemplateRegistration``; loaded on first use,
  since only plugins that ship templates need it at start)

**Registrations** are small frozen dataclasses that registration hooks return (``rivetr_container_runtimes``
returns ``[ContainerRuntimeRegistration(name="docker", factory=...)]``); the expensive object is made by
``factory(ctx)`` only when it is used. **Protocols** describe the async behaviour core expects of those objects.
Nothing here imports a plugin or a heavy library. The hooks themselves are documented in
:mod:`rivetr_core.hookspecs`; the author's guide is docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .builder import (
    Builder,
    BuilderRegistration,
    BuildRequest,
    unavailable_reason,
)
from .errors import (
    BuildFailed,
    Conflict,
    ContainerNotFound,
    ExecFailed,
    GitApiError,
    ImageNotFound,
    NotFound,
    PortInUse,
    ProxyError,
    RivetrError,
    RuntimeUnavailable,
    ValidationFailed,
)
from .events import (
    RivetrEvent,
)
from .git import (
    BranchInfo,
    GitAccountInfo,
    GitHostApi,
    GitProvider,
    GitProviderRegistration,
    OAuthEndpoints,
    RepoInfo,
    RepoPage,
    WebhookEvent,
)
from .health import (
    HealthCheck,
    HealthCheckRegistration,
    HealthResult,
    HealthTarget,
)
from .nodes import (
    ClusterRuntime,
    NodeInfo,
)
from .notifier import (
    Notifier,
    NotifierRegistration,
)
from .plugin import (
    BlueprintRegistration,
    ConfigModelRegistration,
    PluginContext,
    requires,
)
from .proxy import (
    ProxyBackend,
    ProxyBackendRegistration,
    Route,
    RouteStatus,
    UpstreamStatus,
)
from .runtime import (
    BuildSpec,
    ContainerInfo,
    ContainerRuntime,
    ContainerRuntimeRegistration,
    ContainerStats,
    DiskUsageRuntime,
    ExecResult,
    ExecSession,
    HealthcheckConfig,
    ImageUsage,
    LogLine,
    Mount,
    PortPublish,
    ProjectNetworkRuntime,
    PruneResult,
    RunSpec,
    RuntimeInfo,
    ServiceRuntime,
    VolumeDataRuntime,
)

if TYPE_CHECKING:
    from .templates import TemplateRegistration

__all__ = [
    "BlueprintRegistration",
    "BranchInfo",
    "BuildFailed",
    "BuildRequest",
    "BuildSpec",
    "Builder",
    "BuilderRegistration",
    "ClusterRuntime",
    "ConfigModelRegistration",
    "Conflict",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerRuntime",
    "ContainerRuntimeRegistration",
    "ContainerStats",
    "DiskUsageRuntime",
    "ExecFailed",
    "ExecResult",
    "ExecSession",
    "GitAccountInfo",
    "GitApiError",
    "GitHostApi",
    "GitProvider",
    "GitProviderRegistration",
    "HealthCheck",
    "HealthCheckRegistration",
    "HealthResult",
    "HealthTarget",
    "HealthcheckConfig",
    "ImageNotFound",
    "ImageUsage",
    "LogLine",
    "Mount",
    "NodeInfo",
    "NotFound",
    "Notifier",
    "NotifierRegistration",
    "OAuthEndpoints",
    "PluginContext",
    "PortInUse",
    "PortPublish",
    "ProjectNetworkRuntime",
    "ProxyBackend",
    "ProxyBackendRegistration",
    "ProxyError",
    "PruneResult",
    "RepoInfo",
    "RepoPage",
    "RivetrError",
    "RivetrEvent",
    "Route",
    "RouteStatus",
    "RunSpec",
    "RuntimeInfo",
    "RuntimeUnavailable",
    "ServiceRuntime",
    "TemplateRegistration",
    "UpstreamStatus",
    "ValidationFailed",
    "VolumeDataRuntime",
    "WebhookEvent",
    "requires",
    "unavailable_reason",
]

#: Contract names whose module loads on first access: the server imports this package at start, and only a
#: plugin that ships templates needs them then (every module the server imports costs idle memory).
_LAZY = {"TemplateRegistration": "templates"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
