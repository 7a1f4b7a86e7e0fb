"""Proxy backends (``rivetr_proxy_backends``): the data plane that routes host names to containers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .plugin import PluginContext


@dataclass
class Route:
    """A host name (exact, or ``*.example.com``) and path prefix served by one or more upstreams ``host:port``.

    A route is identified by (``domain``, ``path_prefix``): requests go to the host's longest prefix on a segment
    boundary. ``redirect_www``, ``redirects`` and ``auth`` are the route's own rules (docs/proxy-routing.md)."""

    domain: str
    upstreams: list[str]
    https_redirect: bool = False
    hsts: bool = False
    app_id: str | None = None
    #: Compress responses for clients that accept it (with ``[proxy] compression`` on); False passes them as sent.
    compression: bool = True
    #: Choice among several upstreams: ``"round_robin"`` (in turn) or ``"least_conn"`` (fewest requests in
    #: flight, ties in turn). A backend that knows only one way may ignore it.
    load_balancer: str = "round_robin"
    #: ``/`` (the whole host) or ``/v1``-style: no trailing slash.
    path_prefix: str = "/"
    #: Forward ``/v1/x`` as ``/x`` (with ``X-Forwarded-Prefix: /v1``).
    strip_prefix: bool = False
    #: ``"to-apex"``: www.<domain> redirects to <domain>; ``"to-www"``: the apex redirects to this www name.
    redirect_www: str | None = None
    #: ``[{"from": "/old", "to": "/new" or "https://…", "status": 301|302|307|308}]``, first match wins.
    redirects: list[dict[str, Any]] = field(default_factory=list)
    #: Basic auth: ``{"realm": str, "users": {name: bcrypt or argon2 hash}}``; None: open.
    auth: dict[str, Any] | None = None
    #: The app's own pages for the proxy's 502/503/504 answers: ``{"503": "<html>"}`` (HTML, 64 KiB each).
    error_pages: dict[str, str] = field(default_factory=dict)
    #: Maintenance mode: the HTML page answered with 503 + Retry-After instead of forwarding; None: off.
    maintenance: str | None = None
    #: How the proxy talks to the upstreams: ``"http1"`` (HTTP/1.1) or ``"h2c"`` (HTTP/2 cleartext with prior
    #: knowledge: HTTP/2 clients' streams are forwarded as streams, trailers included; for gRPC).
    upstream_protocol: str = "http1"


@dataclass
class UpstreamStatus:
    address: str
    healthy: bool
    active_requests: int = 0
    detail: str = ""
    #: Passive health: times the proxy took it out of rotation after consecutive failures, and (epoch seconds)
    #: until when it is out now; None when it is in rotation.
    ejections: int = 0
    ejected_until: float | None = None


@dataclass
class RouteStatus:
    domain: str
    upstreams: list[UpstreamStatus]
    https_redirect: bool = False
    hsts: bool = False
    has_certificate: bool = False
    path_prefix: str = "/"


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

    async def remove_route(self, domain: str) -> None:
        """Remove the ``/`` route of ``domain``. Backends with path routes also take ``path_prefix="/v1"``
        (core passes it only for such routes, so a backend without path routing keeps this signature)."""
        ...

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
