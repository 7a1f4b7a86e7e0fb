"""Real-browser check of the replicas' rollout settings and stats on an app's page (issue 23) with the real engine
(Docker): the replicas table loads each replica's CPU and memory just after the page; the Settings tab saves
max_surge / max_unavailable and shows the API's field error for a combination no rollout can follow."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin
from ui.tests.test_browser_deploy import engine, engine_server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DEPLOY_TIMEOUT = 120.0  # s: clone + build + start + health of the busybox app


def test_replica_stats_and_rollout_settings(page: Any, engine_server: Any, git_server: Any) -> None:  # noqa: F811
    server = engine_server
    repo = git_server.create_repo("rollout", message="v1")
    setup_admin(page, server.url, server.token)
    client = server.client(timeout=120)
    created = client.post(
        "/api/apps", json={"name": "rollout", "git_url": repo.url, "port": 8000, "replicas": 2}
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
    expect(panel.locator("#replica-table-wrap")).to_have_attribute("data-stats", "loaded", timeout=30_000)
    expect(panel.locator("tr[data-state=running]")).to_have_count(2)
    for cell in panel.locator("td[data-cpu]").all():
        expect(cell).to_contain_text("%")
    for cell in panel.locator("td[data-memory]").all():
        expect(cell).to_contain_text("iB")  # e.g. "300.0 KiB": the engine's figure, in binary units
    screenshot(page, "app-replica-stats")

    page.goto(f"{server.url}/apps/{app_id}/settings")
    expect(page.locator("#set-max-surge")).to_have_value("1")
    expect(page.locator("#set-max-unavailable")).to_have_value("0")
    page.fill("#set-max-surge", "0")
    page.click("#app-settings button[type=submit]")  # both 0: the API's field error, nothing saved
    expect(page.locator("#app-settings [data-error-for=max_surge]")).to_contain_text("cannot both be 0")
    page.fill("#set-max-surge", "2")
    page.fill("#set-max-unavailable", "1")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=max_surge]")).to_have_text("")
    for _ in range(50):  # the form saves asynchronously
        app = client.get(f"/api/apps/{app_id}").json()
        if app["max_surge"] == 2:
            break
        page.wait_for_timeout(100)
    assert (app["max_surge"], app["max_unavailable"]) == (2, 1)
    page.reload()
    expect(page.locator("#set-max-surge")).to_have_value("2")
    expect(page.locator("#set-max-unavailable")).to_have_value("1")
    page.goto("about:blank")
