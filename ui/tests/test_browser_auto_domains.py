"""The app's generated domain in Chromium against a real ``rivetr serve`` with ``[proxy] base_domain`` (issue 22):
the app header links to ``<app>.<project>.<base>``, the Settings tab's "Default domain" switch turns it off for
the app (the header then says it is not routed and why; the API agrees) and on again. The routing itself is
tested in tests/test_auto_domains.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import setup_admin

pytestmark = pytest.mark.browser

BASE = "apps.ui.test"


def test_header_link_and_switch(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(
        env={"RIVETR_RATE_LIMIT__ENABLED": "false", "RIVETR_PROXY__BASE_DOMAIN": BASE},
        timeout=90,  # a wait limit, not a measure: start-up is slow while other suites load the machine
    )
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    project = api.post("/api/projects", json={"name": "shop"}).json()
    created = api.post(
        "/api/apps",
        json={
            "name": "web",
            "project_id": project["id"],
            "source": {"kind": "image", "image": "nginx:alpine"},
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/apps/{app_id}")
    link = page.locator("#app-header #app-default-domain a")
    expect(link).to_have_text(f"web.shop.{BASE}")
    expect(link).to_have_attribute("href", f"http://web.shop.{BASE}/")

    page.goto(f"{server.url}/apps/{app_id}/settings")
    box = page.locator("#set-auto-domain")
    expect(box).to_be_checked()
    box.uncheck()
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-header #app-default-domain")).to_contain_text("is not routed: turned off")
    assert api.get(f"/api/apps/{app_id}").json()["auto_domain"] is False

    page.reload()
    expect(box).not_to_be_checked()
    box.check()
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-header #app-default-domain a")).to_have_text(f"web.shop.{BASE}")
    assert api.get(f"/api/apps/{app_id}").json()["default_domain"]["active"] is True
    api.close()
