"""Real-browser flow of a fork's pull request: listed on the app page as awaiting approval, approved with the
Approve button (after a confirmation), then building; no container engine needed (the clone fails)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot

pytestmark = pytest.mark.browser

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "plugins/git-github/tests/fixtures/github_pull_request_fork_opened.json"
)
SECRET = "browser-preview-secret"


@pytest.fixture
def preview_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path / "data",
        {
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_WEBHOOKS__GITHUB_SECRET": SECRET,
            "RIVETR_PROXY__PREVIEW_DOMAIN": "preview.test",
        },
    )
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    yield server
    server.stop()


def test_fork_preview_is_approved_from_the_app_page(preview_server: Any, page: Any) -> None:
    server = preview_server
    with server.client() as client:
        app = client.post(
            "/api/apps", json={"name": "site", "git_url": "https://github.com/acme/site.git", "port": 8000}
        ).json()
    raw = FIXTURE.read_bytes()
    response = httpx.post(
        f"{server.url}/webhooks/github",
        content=raw,
        headers={
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "browser-1",
            "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert response.json()["status"] == "awaiting_approval", response.text

    login(page, server.url)
    page.goto(f"{server.url}/apps/{app['id']}/previews")
    row = page.locator("#previews tr[data-pr='8']")
    expect(row).to_have_attribute("data-status", "awaiting_approval")
    expect(row).to_contain_text("fork")
    expect(row).to_contain_text("ec26c3e57ca3")
    screenshot(page, "app-preview-awaiting-approval")
    row.locator("button:has-text('Approve')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(row).not_to_have_attribute("data-status", "awaiting_approval")
    expect(row.locator("button:has-text('Approve')")).to_have_count(0)
    with server.client() as client:
        [preview] = client.get(f"/api/apps/{app['id']}/previews").json()["items"]
    assert preview["approved_sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821" and preview["preview_app_id"]
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits a phone
