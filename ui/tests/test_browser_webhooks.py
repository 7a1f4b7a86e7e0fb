"""Real browser: Settings → Git providers lists recent webhook deliveries as the API keeps them: a verified
delivery with the first 12 hex digits of its body's SHA-256, a rejected attempt with only its sender and reason."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot

pytestmark = pytest.mark.browser

SECRET = "browser-hook-secret"
PING = Path(__file__).resolve().parents[2] / "plugins/git-github/tests/fixtures/github_ping.json"


def test_settings_lists_webhook_deliveries(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(
        env={"RIVETR_RATE_LIMIT__ENABLED": "false", "RIVETR_WEBHOOKS__GITHUB_SECRET": SECRET}
    )
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    raw = json.dumps(json.loads(PING.read_text())).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    hook = server.url + "/webhooks/github"
    ping = httpx.post(
        hook,
        content=raw,
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1", "X-Hub-Signature-256": signature},
    )
    assert ping.status_code == 200 and ping.json()["status"] == "pong", ping.text
    bad = httpx.post(hook, content=raw, headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": "forged-1"})
    assert bad.status_code == 401, bad.text

    login(page, server.url)
    page.goto(server.url + "/settings#git-providers")
    pong = page.locator("#webhook-events tr[data-outcome=pong]")
    expect(pong).to_contain_text("ping-1")
    expect(pong.locator("code")).to_have_text(hashlib.sha256(raw).hexdigest()[:12])
    rejected = page.locator("#webhook-events tr[data-outcome=rejected]")
    expect(rejected).to_contain_text("rejected 401")
    expect(rejected).to_contain_text("invalid or missing webhook signature")
    expect(rejected).to_contain_text("127.0.0.1")
    screenshot(page, "settings-webhook-deliveries")
