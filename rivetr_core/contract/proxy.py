"""Proxy backends (``rivetr_proxy_backends``): the data plane that routes host names to containers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .plugin import PluginContext


@dataclass
class Route:
    """A host name (exact, or ``*.example.com``) served by one or more upstreams ``host:port``."""

    domain: str
    upstreams: list[str]
    https_redirect: bool = False
    hsts: bool = False
    app_id: str | None = None


@dataclass
class UpstreamStatus:
    address: str
    healthy: bool
    active_requests: int = 0
    detail: str = ""


@dataclass
class RouteStatus:
    domain: str
    upstreams: list[UpstreamStatus]
    https_redirect: bool = False
    hsts: bool = False
    has_certificate: bool = False


@runtime_checkable
class ProxyBackend(Protocol):
    """The data plane as seen from core. Route changes are atomic; removing an upstream from a route starts
    draining it, and :meth:`wait_drained` tells the pipeline when it may stop the old container."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def status(self) -> dict[str, Any]:
        """At least ``{"ok": bool}``."""
        ...

    async def set_route(self, route: Route) -> None: ...
    async def replace_routes(self, routes: list[Route]) -> None:
        """Atomically make ``routes`` the whole table (those not listed are removed). Core calls it at start-up
        with its database's routes: the control plane is the source of truth."""
        ...

    async def remove_route(self, domain: str) -> None: ...
    async def routes(self) -> list[RouteStatus]: ...
    async def wait_drained(self, upstream: str, timeout: float) -> bool:
        """True once no request or WebSocket uses ``upstream`` any more (False on timeout)."""
        ...

    async def set_certificate(self, domain: str, cert_pem: str, key_pem: str) -> None: ...
    async def remove_certificate(self, domain: str) -> None: ...
    async def set_acme_challenge(self, token: str, key_authorization: str) -> None: ...
    async def remove_acme_challenge(self, token: str) -> None: ...


@dataclass(frozen=True)
class ProxyBackendRegistration:
    """A data plane ``[proxy] backend`` can select."""

    #: What ``[proxy] backend`` names (``builtin``).
    name: str
    #: Builds the backend from this plugin's context; called once at start when config selects it.
    factory: Callable[[PluginContext], ProxyBackend]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
