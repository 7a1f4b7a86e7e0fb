"""The route of ``[server] dashboard_domain`` in the route service: derived from the configuration at each start,
never stored, so removing the setting takes the dashboard off the public domain (end to end with the real proxy
and Pebble: tests/e2e/test_dashboard_domain.py)."""

from __future__ import annotations

from typing import Any

import pytest

from rivetr_core.contract import Route
from rivetr_core.contract.errors import Conflict
from rivetr_core.routing import RouteService, api_upstream, dashboard_route
from tests.support.server import ApiClient


class RecordingProxy:
    """Only what RouteService calls: the pushed table."""

    def __init__(self) -> None:
        self.table: dict[str, Route] = {}

    async def replace_routes(self, routes: list[Route]) -> None:
        self.table = {r.domain: r for r in routes}

    async def set_route(self, route: Route) -> None:
        self.table[route.domain] = route

    async def remove_route(self, domain: str) -> None:
        self.table.pop(domain, None)


def test_api_upstream_dials_loopback_for_a_wildcard_bind() -> None:
    assert api_upstream("0.0.0.0", 8080) == "127.0.0.1:8080"
    assert api_upstream("::", 8080) == "[::1]:8080"
    assert api_upstream("10.0.0.5", 8080) == "10.0.0.5:8080"


async def test_dashboard_route_is_pushed_protected_and_gone_once_unset(api: ApiClient) -> None:
    db, proxy = api.ctx.db, RecordingProxy()
    service = RouteService(db, proxy, dashboard=dashboard_route("dash.example.com", "127.0.0.1:8080"))  # type: ignore[arg-type]
    await service.set("app.example.com", ["127.0.0.1:9000"])
    await service.restore()
    assert proxy.table["dash.example.com"].upstreams == ["127.0.0.1:8080"]
    assert proxy.table["dash.example.com"].https_redirect is True
    assert [r.domain for r in await service.list()] == ["app.example.com", "dash.example.com"]
    with pytest.raises(Conflict) as info:
        await service.set("dash.example.com", ["127.0.0.1:1"])
    assert info.value.status == 409 and info.value.code == "dashboard_domain"

    # Next start without [server] dashboard_domain: the route is not in the database, so it is gone.
    restarted = RouteService(db, proxy)  # type: ignore[arg-type]
    await restarted.restore()
    assert set(proxy.table) == {"app.example.com"}


def test_dashboard_domain_is_validated(config_factory: Any) -> None:
    from rivetr_core.config import ConfigError

    assert config_factory(server={"dashboard_domain": "Dash.Example.COM."}).server.dashboard_domain == (
        "dash.example.com"
    )
    for bad in ("https://dash.example.com", "dash", "a b.example.com"):
        with pytest.raises(ConfigError, match="dashboard_domain"):
            config_factory(server={"dashboard_domain": bad})


def test_forwarded_headers_believed_from_loopback_only_while_the_proxy_runs(config_factory: Any) -> None:
    """The proxy connects to the API from loopback and rewrites X-Forwarded-* itself: those peers are believed
    (Secure cookies, client addresses); other peers only when listed in [server] trusted_proxies."""
    import ipaddress

    from rivetr_core.app import create_app

    def trusted(app: Any, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in app.extensions["rivetr_trusted_proxies"])

    with_proxy = create_app(
        config_factory(proxy={"enabled": True}, server={"trusted_proxies": ["10.9.0.0/16"]})
    )
    assert trusted(with_proxy, "127.0.0.1") and trusted(with_proxy, "::1") and trusted(with_proxy, "10.9.1.1")
    assert not trusted(with_proxy, "203.0.113.9") and not trusted(with_proxy, "192.0.2.2")
    without_proxy = create_app(config_factory(proxy={"enabled": False}))
    assert not trusted(without_proxy, "127.0.0.1")
