"""Settings → SSH known hosts in Chromium against a real server: the preloaded keys are listed with their
fingerprints, and forgetting one removes it through the API (the next clone from that host pins again)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

GITHUB_ED25519 = (
    "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"  # docs.github.com's published fingerprint
)


def _pinned(server: Any) -> list[dict[str, Any]]:
    response = httpx.get(
        server.url + "/api/ssh-known-hosts", headers={"Authorization": f"Bearer {server.token}"}
    )
    assert response.status_code == 200
    return response.json()["items"]  # type: ignore[no-any-return]


def test_known_hosts_are_listed_and_can_be_forgotten(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.goto(server.url + "/settings#ssh-known-hosts")
    table = page.locator("#known-hosts-list")
    assert GITHUB_ED25519 in table.inner_text()
    assert page.locator("#known-hosts-list tr[data-known-host='bitbucket.org']").count() == 3
    screenshot(page, "settings-known-hosts")
    page.locator(
        "#known-hosts-list tr[data-known-host='bitbucket.org'] button:has-text('Forget')"
    ).first.click()
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#known-hosts-list tr[data-known-host='bitbucket.org']")).to_have_count(2)
    assert sum(1 for row in _pinned(server) if row["host"] == "bitbucket.org") == 2
