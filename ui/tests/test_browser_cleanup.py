"""Settings → Cleanup in Chromium against a real server: before any run the panel says so; "Run cleanup now"
runs it through the API and the panel then shows that run's report, the same one ``GET /api/system/cleanup``
answers."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from rivetr_core.cli.output import human_size
from ui.tests.browser_helpers import login, screenshot


def test_run_cleanup_now_shows_the_report(shared_server: Any, page: Any) -> None:
    server = shared_server
    headers = {"Authorization": f"Bearer {server.token}"}
    assert httpx.get(server.url + "/api/system/cleanup", headers=headers).json() == {"report": None}
    login(page, server.url)
    page.goto(server.url + "/settings#cleanup")
    panel = page.locator("#cleanup-report")
    expect(panel).to_contain_text("No cleanup has run since the server started")

    page.locator("#cleanup button:has-text('Run cleanup now')").click()
    expect(panel.locator("table[data-cleanup-report]")).to_have_count(1)
    report = httpx.get(server.url + "/api/system/cleanup", headers=headers).json()["report"]
    assert report is not None, "the button did not run a cleanup"
    expect(panel.locator("[data-images-removed]")).to_contain_text(str(len(report["images_removed"])))
    reclaimed = panel.locator("[data-space-reclaimed]").inner_text().replace("\u2014", "-")
    assert reclaimed == human_size(report["space_reclaimed"]), reclaimed
    expect(panel.locator("[data-cleanup-error]")).to_have_count(len(report["errors"]))
    screenshot(page, "settings-cleanup")
    # The page rendered afresh shows the stored report too (not only the partial the button refreshed).
    page.reload()
    expect(page.locator("#cleanup-report table[data-cleanup-report]")).to_have_count(1)
