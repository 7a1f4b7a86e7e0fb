"""The app settings page shows and edits the host limits: server defaults as placeholders, the limits the next
container gets, per-app overrides with field errors, and clearing back to the defaults."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.test_browser_apps import logged_in_app_page, open_tab

pytestmark = pytest.mark.browser


def test_host_limits_are_shown_and_edited(shared_server: Any, page: Any, git_server: Any) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "hostlimits")
    open_tab(page, "settings")
    expect(page.locator("#set-mem")).to_have_attribute("placeholder", "default: 1g")
    expect(page.locator("#set-pids")).to_have_attribute("placeholder", "default: 4096")
    expect(page.locator("#set-log-size")).to_have_attribute("placeholder", "default: 10m")
    expect(page.locator("#set-log-files")).to_have_attribute("placeholder", "default: 3")
    limits = page.locator("#effective-limits")
    expect(limits).to_contain_text("memory 1g · 4096 processes")
    expect(limits).to_contain_text("logs 10m × 3 · OOM score +500")
    page.fill("#set-pids", "5")
    page.fill("#set-log-size", "1k")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=pids_limit]")).to_contain_text("at least 16")
    page.fill("#set-pids", "0")
    page.fill("#set-log-size", "2m")
    page.fill("#set-log-files", "2")
    page.fill("#set-mem", "0")
    page.click("#app-settings button[type=submit]")
    expect(limits).to_contain_text("memory unlimited · unlimited processes")
    expect(limits).to_contain_text("logs 2m × 2")
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert (app["pids_limit"], app["log_max_size"], app["log_max_files"], app["memory_limit"]) == (
        0,
        2 * 1024**2,
        2,
        0,
    )
    page.reload()
    expect(page.locator("#set-mem")).to_have_value("0")  # unlimited stays unlimited, not the default
    expect(page.locator("#set-log-size")).to_have_value("2m")
    for field in ("#set-pids", "#set-log-size", "#set-log-files", "#set-mem"):
        page.fill(field, "")
    page.click("#app-settings button[type=submit]")
    expect(limits).to_contain_text("memory 1g · 4096 processes")
    app = server.client().get(f"/api/apps/{app_id}").json()
    assert app["pids_limit"] is None and app["memory_limit"] is None and app["log_max_size"] is None
