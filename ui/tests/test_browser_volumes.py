"""Real-browser flow of an app's volumes on its page: add a named volume, a bad mount path refused next to its
field, the mount listed with its size column, deleted after a confirmation; the deploy strategy in settings."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot
from ui.tests.test_browser_apps import logged_in_app_page, open_tab

pytestmark = pytest.mark.browser


def test_volumes_add_refuse_delete_and_strategy(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "volapp")
    open_tab(page, "volumes")
    expect(page.locator("#volumes")).to_contain_text("No volumes")
    page.fill("#volume-name", "data")
    page.fill("#volume-path", "var/lib/data")  # not absolute
    page.click("#volume-add button[type=submit]")
    expect(page.locator("#volume-add [data-error-for=mount_path]")).not_to_be_empty()
    page.fill("#volume-path", "/var/lib/data")
    page.click("#volume-add button[type=submit]")
    page.wait_for_selector("[data-volume=data]")
    row = page.locator("[data-volume=data]")
    expect(row).to_contain_text("/var/lib/data")
    expect(row).to_contain_text(f"rivetr-{app_id}-data")
    assert row.locator("[data-size]").count() == 1
    # A bind mount is refused: this server allows none ([volumes] allowed_bind_roots is empty).
    page.fill("#volume-name", "site")
    page.fill("#volume-path", "/site")
    page.select_option("#volume-kind", "bind")
    page.fill("#volume-host", "/srv/site")
    page.click("#volume-add button[type=submit]")
    expect(page.locator("#volume-add [data-error-for=host_path]")).to_contain_text("allowed_bind_roots")
    screenshot(page, "app-volumes")
    stored = server.client().get(f"/api/apps/{app_id}/volumes").json()["items"]
    assert [v["name"] for v in stored] == ["data"]
    row.locator("button:has-text('Delete')").click()
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("[data-volume=data]", state="detached")
    assert server.client().get(f"/api/apps/{app_id}/volumes").json()["items"] == []
    # The deploy strategy is a setting of the app.
    open_tab(page, "settings")
    page.select_option("#set-strategy", "recreate")
    page.click("#app-settings button[type=submit]")
    for _ in range(50):
        if server.client().get(f"/api/apps/{app_id}").json()["deploy_strategy"] == "recreate":
            break
        page.wait_for_timeout(100)
    assert server.client().get(f"/api/apps/{app_id}").json()["deploy_strategy"] == "recreate"
