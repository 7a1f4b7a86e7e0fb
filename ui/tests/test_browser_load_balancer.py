"""Real-browser: an app's load balancer over its replicas is a select in the app's settings; choosing least
connections and saving stores it (issue 23; docs/scaling.md)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.test_browser_apps import logged_in_app_page, open_tab

pytestmark = pytest.mark.browser


def test_load_balancer_select_saves(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "lbapp")
    open_tab(page, "settings")
    select = page.locator("#set-load-balancer")
    expect(select).to_have_value("round_robin")  # the default
    page.select_option("#set-load-balancer", "least_conn")
    page.click("#app-settings button[type=submit]")
    for _ in range(50):
        if server.client().get(f"/api/apps/{app_id}").json()["load_balancer"] == "least_conn":
            break
        page.wait_for_timeout(100)
    assert server.client().get(f"/api/apps/{app_id}").json()["load_balancer"] == "least_conn"
    page.reload()
    open_tab(page, "settings")
    expect(page.locator("#set-load-balancer")).to_have_value("least_conn")  # shown as stored
