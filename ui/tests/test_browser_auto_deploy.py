"""Real browser: the app's Auto-deploy panel copies the webhook URL built from ``[server] external_url`` (never the
address the dashboard was loaded from), regenerates the secret (the copied secret then signs a real push that the
server accepts and deploys), and turns auto-deploy off; Settings → Git providers stores an OAuth app in the
database (the connect button appears without any config file)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser

EXTERNAL = "https://rivetr.example.com"
ROOT = Path(__file__).resolve().parents[2]
PUSH = json.loads((ROOT / "plugins/git-github/tests/fixtures/github_push.json").read_text())


def signed_push(url: str, secret: str, delivery: str) -> httpx.Response:
    raw = json.dumps({**PUSH, "after": hashlib.sha1(delivery.encode()).hexdigest()}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature}
    return httpx.post(url, content=raw, headers={**headers, "Content-Type": "application/json"})


def clipboard(page: Any) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_auto_deploy_panel_and_oauth_settings(page: Any, rivetr_server: Any) -> None:
    # GIT_ALLOW_PROTOCOL=file: the deployment the push queues fails at its clone, no traffic leaves the machine.
    server = rivetr_server(
        env={
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_SERVER__EXTERNAL_URL": EXTERNAL,
            "GIT_ALLOW_PROTOCOL": "file",
        }
    )
    setup_admin(page, server.url, server.token)
    created = server.client().post(
        "/api/apps",
        json={
            "name": "hooked",
            "git_url": PUSH["repository"]["clone_url"],
            "branch": PUSH["ref"].removeprefix("refs/heads/"),
            "port": 8000,
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)

    page.goto(f"{server.url}/apps/{app_id}/settings")
    panel = page.locator("#auto-deploy-panel")
    expect(panel.locator("#auto-deploy-url-value")).to_have_text(f"{EXTERNAL}/webhooks/github")
    expect(panel.locator("#auto-deploy-provider")).to_have_value("github")
    panel.locator("#auto-deploy-copy-url").click()
    expect(page.locator("#toasts")).to_contain_text("Webhook URL copied")
    copied_url = clipboard(page)
    assert copied_url == f"{EXTERNAL}/webhooks/github" and server.url not in copied_url
    expect(panel.locator("#auto-deploy-secret")).to_contain_text("none")

    # Regenerate: a secret appears (shown once), Copy gives it, a second regenerate changes it.
    panel.locator("#auto-deploy-regenerate").click()
    page.click("#confirm-dialog [data-ok]")
    expect(panel.locator("#auto-deploy-reveal")).to_have_text("Hide")
    first = panel.locator("#auto-deploy-secret").inner_text()
    assert len(first) >= 32
    panel.locator("#auto-deploy-regenerate").click()
    page.click("#confirm-dialog [data-ok]")
    expect(panel.locator("#auto-deploy-secret")).not_to_have_text(first)
    panel.locator("#auto-deploy-reveal").click()  # hide, then copy fetches it (the admin may reveal)
    expect(panel.locator("#auto-deploy-secret")).to_have_text("••••••••")
    panel.locator("#auto-deploy-copy-secret").click()
    expect(page.locator("#toasts")).to_contain_text("Webhook secret copied")
    secret = clipboard(page)
    assert secret and secret != first
    screenshot(page, "app-auto-deploy")

    # A real signed push to the copied URL's path on this server: the old secret is refused, the new one deploys.
    hook = server.url + urlsplit(copied_url).path
    refused = signed_push(hook, first, "old-secret")
    assert refused.status_code == 401, refused.text
    accepted = signed_push(hook, secret, "new-secret")
    assert accepted.status_code == 202 and accepted.json()["status"] == "deployed", accepted.text

    # Auto-deploy off through the form: the next push is recorded and ignored.
    panel.locator("#auto-deploy-on").uncheck()
    panel.locator("#auto-deploy-form button[type=submit]").click()
    expect(page.locator("#toasts")).to_contain_text("Auto-deploy settings saved.")
    ignored = signed_push(hook, secret, "while-off")
    assert ignored.status_code == 200 and ignored.json()["reason"] == "auto-deploy is off for hooked", (
        ignored.text
    )

    # Settings → Git providers: an OAuth app stored in the database makes accounts connectable.
    page.goto(server.url + "/settings#git-providers")
    github = page.locator("#git-oauth-settings form[data-oauth-provider=github]")
    expect(github.locator("[data-callback]")).to_have_text(f"{EXTERNAL}/oauth/github/callback")
    expect(page.locator("#git-available li[data-provider=github]")).to_contain_text("OAuth not configured")
    github.locator("input[name=client_id]").fill("Iv1.browser")
    github.locator("input[name=client_secret]").fill("browser-client-secret")
    github.locator("button[type=submit]").click()
    expect(page.locator("#toasts")).to_contain_text("OAuth settings of github saved.")
    github = page.locator("#git-oauth-settings form[data-oauth-provider=github]")
    expect(github).to_contain_text("overrides the config file")
    expect(github.locator("input[name=client_secret]")).to_have_attribute(
        "placeholder", "set (saved here): leave empty to keep it"
    )
    expect(
        page.locator("#git-available li[data-provider=github] a:has-text('Connect account')")
    ).to_be_visible()
    screenshot(page, "settings-git-oauth-apps")
    stored = server.client().get("/api/git-providers/github/settings").json()
    assert stored["client_id"] == "Iv1.browser" and stored["sources"]["client_secret"] == "database"
    assert "browser-client-secret" not in json.dumps(stored)
