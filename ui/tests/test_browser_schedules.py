"""Settings → Schedules in Chromium against a real server: the default state-backup schedule is listed with its
cron, time zone and next run, and "Run now" runs it through the API (an archive lands in data/backups)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from rivetr_core.backup.state import list_backups
from ui.tests.browser_helpers import login, screenshot


def test_schedules_are_listed_and_run_now(shared_server: Any, page: Any) -> None:
    server = shared_server
    before = len(list_backups(server.data_dir / "backups"))
    login(page, server.url)
    page.goto(server.url + "/settings#schedules")
    row = page.locator("#schedules-list tr[data-schedule='rivetr-state-backup']")
    expect(row).to_have_count(1)
    text = row.inner_text()
    assert "0 3 * * *" in text and "(UTC)" in text and "state_backup" in text
    assert " 03:00 UTC" in row.locator("[data-next-run]").inner_text()
    screenshot(page, "settings-schedules")
    row.locator("button:has-text('Run now')").click()
    deadline = time.monotonic() + 30
    while len(list_backups(server.data_dir / "backups")) <= before:
        assert time.monotonic() < deadline, "Run now did not produce an archive"
        time.sleep(0.1)
    while True:  # the archive is written just before the run is recorded as finished
        page.reload()  # the same URL with its #fragment: goto would only scroll
        status = row.locator("[data-last-status]").inner_text().strip()
        if status != "running":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status == "succeeded"
