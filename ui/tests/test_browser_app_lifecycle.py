"""Real-browser flow on the app page with the real engine (Docker): Stop asks first (Cancel changes nothing), then
stops the app (status badge, the 503 note, Start offered instead of Stop/Restart), Start brings it back, Restart
restarts it in place (same deployment), all without a reload."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin
from ui.tests.test_browser_deploy import engine, engine_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app


def test_stop_start_and_restart_from_the_app_page(page: Any, engine_server: Any, git_server: Any) -> None:  # noqa: F811
    server = engine_server
    repo = git_server.create_repo("lifecycle", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client(timeout=60)
    created = client.post("/api/apps", json={"name": "lifecycle", "git_url": repo.url, "port": 8000})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    dep = client.post(f"/api/apps/{app_id}/deploy").json()
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while (dep := client.get(f"/api/deployments/{dep['id']}").json())["status"] != "running":
        assert dep["status"] not in ("failed", "cancelled") and time.monotonic() < deadline, dep
        time.sleep(0.2)

    page.goto(f"{server.url}/apps/{app_id}")
    page.evaluate("window.__noReload = true")
    expect(page.locator("#app-status")).to_have_text("running")
    expect(page.locator("#start-btn")).to_have_count(0)

    page.click("#stop-btn")
    expect(page.locator("#confirm-dialog")).to_contain_text("answer 503")
    page.click("#confirm-dialog [data-cancel]")
    assert client.get(f"/api/apps/{app_id}").json()["status"] == "running"

    page.click("#stop-btn")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#app-status")).to_have_text("stopped", timeout=30_000)
    expect(page.locator("#app-stopped-note")).to_contain_text("503")
    expect(page.locator("#stop-btn")).to_have_count(0)
    expect(page.locator("#restart-btn")).to_have_count(0)
    screenshot(page, "app-stopped")

    page.click("#start-btn")
    expect(page.locator("#app-status")).to_have_text("running", timeout=60_000)
    expect(page.locator("#app-stopped-note")).to_have_count(0)

    page.click("#restart-btn")
    page.click("#confirm-dialog [data-ok]")
    deadline = time.monotonic() + 60
    while page.locator("#restart-btn[aria-busy]").count() and time.monotonic() < deadline:
        time.sleep(0.1)
    expect(page.locator("#toasts .alert.error")).to_have_count(0)
    expect(page.locator("#app-status")).to_have_text("running")
    app = client.get(f"/api/apps/{app_id}").json()
    assert app["status"] == "running" and app["current_deployment_id"] == dep["id"]  # in place: no new deploy
    assert page.evaluate("window.__noReload") is True
