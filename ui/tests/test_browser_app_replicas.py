"""Real-browser check of an app's replicas on its page (issue 23) with the real engine (Docker): a deployment with
2 replicas shows the count and both containers running; the Scale form takes it to 3 without a rebuild (the same
deployment) and the table then lists three running replicas."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin
from ui.tests.test_browser_deploy import engine, engine_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app


def test_the_app_page_shows_and_scales_the_replicas(page: Any, engine_server: Any, git_server: Any) -> None:  # noqa: F811
    server = engine_server
    repo = git_server.create_repo("replicas", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client(timeout=120)
    created = client.post(
        "/api/apps", json={"name": "replicas", "git_url": repo.url, "port": 8000, "replicas": 2}
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    dep = client.post(f"/api/apps/{app_id}/deploy").json()
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    while (dep := client.get(f"/api/deployments/{dep['id']}").json())["status"] != "running":
        assert dep["status"] not in ("failed", "cancelled") and time.monotonic() < deadline, dep
        time.sleep(0.2)

    page.goto(f"{server.url}/apps/{app_id}")
    panel = page.locator("#app-replicas")
    expect(panel.locator("#replica-count")).to_have_attribute("data-replicas", "2")
    expect(panel.locator("tr[data-replica]")).to_have_count(2)
    expect(panel.locator("tr[data-state=running]")).to_have_count(2)

    panel.locator("#scale-replicas").fill("3")
    panel.locator("#scale-form button[type=submit]").click()
    expect(panel.locator("#replica-count")).to_have_attribute("data-replicas", "3", timeout=60_000)
    expect(page.locator("#app-replicas tr[data-state=running]")).to_have_count(3)
    screenshot(page, "app-replicas")
    app = client.get(f"/api/apps/{app_id}").json()
    assert app["replicas"] == 3 and app["current_deployment_id"] == dep["id"]  # no rebuild, no new deployment
    page.goto("about:blank")
