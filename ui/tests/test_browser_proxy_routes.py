"""The Server page's Proxy routes panel in Chromium against a real ``rivetr serve`` with the real built-in proxy:
a route with an upstream that refuses connections and one that answers; after a few requests (each retried on
the answering one, so every client got a 200) the refusing upstream shows as *ejected* with the time it returns
and its ejection count, the other *in rotation* (passive health, docs/proxy-health.md). At 390 px nothing is
wider than the screen."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.proxy import free_port, http_get
from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_proxy_routes_panel_shows_an_ejected_upstream(
    page: Any, rivetr_server: Any, backend_factory: Any
) -> None:
    server = rivetr_server(
        env={
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_PLUGINS__PROXY_BUILTIN__KEEP_RUNNING": "false",
            "RIVETR_PLUGINS__PROXY_BUILTIN__HEALTH_INTERVAL": "60",
            "RIVETR_PLUGINS__PROXY_BUILTIN__OUTLIER_CONSECUTIVE_FAILURES": "2",
            "RIVETR_PLUGINS__PROXY_BUILTIN__OUTLIER_BASE_EJECTION": "300",
        }
    )
    good, dead = backend_factory("good"), f"127.0.0.1:{free_port()}"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        created = api.post(
            "/api/routes", json={"domain": "eject.web.test", "upstreams": [dead, good.address]}
        )
        assert created.status_code == 201, created.text
        port = api.get("/api/proxy").json()["port"]
    setup_admin(page, server.url, server.token)
    page.goto(server.url + "/server")
    route = page.locator("#proxy-routes-list tr[data-route='eject.web.test']")
    expect(route.locator(f"li[data-upstream='{dead}']")).to_have_attribute("data-state", "in rotation")

    assert [http_get(port, "eject.web.test")[:3:2] for _ in range(6)] == [(200, b"good")] * 6
    # The panel re-reads itself: the ejection shows without a reload.
    ejected = route.locator(f"li[data-upstream='{dead}']")
    expect(ejected).to_have_attribute("data-state", "ejected", timeout=20_000)
    expect(ejected.locator(".badge")).to_have_text("ejected")
    expect(ejected.locator("time")).to_contain_text("UTC")
    page.click("nav.tabs a[href='#proxy-routes']")
    expect(ejected.locator("[data-ejections]")).to_have_text("· ejected 1 time")
    expect(route.locator(f"li[data-upstream='{good.address}']")).to_have_attribute(
        "data-state", "in rotation"
    )
    screenshot(page, "server-proxy-routes")

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(server.url + "/server#proxy-routes")
    expect(route.locator(f"li[data-upstream='{dead}']")).to_have_attribute("data-state", "ejected")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
