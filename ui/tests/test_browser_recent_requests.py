"""The app settings tab's *Recent requests* panel in Chromium against a real ``rivetr serve`` whose built-in proxy
writes an access log ([proxy] access_log): requests sent to the app's domain through the proxy show up newest
first with their path (query string dropped), status and duration, the log's text stays text (a path that looks
like markup is not markup), and the other domain of the app is picked from the select."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.proxy import http_get
from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_recent_requests_of_an_app_domain(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(
        env={
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_PROXY__ACCESS_LOG": "true",
            "RIVETR_PLUGINS__PROXY_BUILTIN__KEEP_RUNNING": "false",
            "RIVETR_PLUGINS__PROXY_BUILTIN__HEALTH_INTERVAL": "60",
        }
    )
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        created = api.post(
            "/api/apps",
            json={
                "name": "shop",
                "git_url": "https://example.com/shop.git",
                "domains": ["shop.web.test", "admin.web.test"],
            },
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
        port = api.get("/api/proxy").json()["port"]
        # Not deployed: the proxy answers 404 itself, and logs it like any request.
        assert http_get(port, "shop.web.test", "/cart?session=s3cret")[0] == 404
        assert http_get(port, "shop.web.test", "/<b>bold</b>")[0] == 404
        assert http_get(port, "admin.web.test", "/login")[0] == 404
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # lines reach the file within a second
            items = api.get("/api/proxy/access-log", params={"domain": "shop.web.test"}).json()["items"]
            if len(items) == 2:
                break
            time.sleep(0.2)
        assert [i["path"] for i in items] == ["/cart", "/<b>bold</b>"], items
    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/apps/{app_id}/settings")
    panel = page.locator("#recent-requests")
    rows = panel.locator("#recent-requests-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("GET /<b>bold</b>")  # newest first
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("GET /cart")
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("404")
    expect(rows.nth(1).locator("td").nth(5)).to_have_text("proxy")  # no upstream answered
    expect(panel.locator("b")).to_have_count(0)
    expect(page.locator("#recent-requests-state")).to_have_text("2 most recent")
    assert "s3cret" not in panel.inner_text()
    screenshot(page, "app-recent-requests")

    page.select_option("#recent-requests-domain", "admin.web.test")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("GET /login")
