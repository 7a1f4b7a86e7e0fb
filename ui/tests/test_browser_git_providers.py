"""Real-browser flow for git providers: connect a GitHub account through OAuth (a local GitHub-speaking server
that auto-approves), pick one of its repositories on the new-app form, disconnect it in settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.fake_git_host import CLIENT_ID, CLIENT_SECRET
from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_connect_pick_repository_and_disconnect(
    page: Any, rivetr_server: Any, fake_git_host: Any, tmp_path: Path
) -> None:
    config = tmp_path / "rivetr.toml"
    config.write_text(
        f'[oauth.github]\nclient_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
        f'base_url = "{fake_git_host.url}/github"\n'
    )
    server = rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false"}, config_file=config)
    setup_admin(page, server.url, server.token)
    page.goto(server.url + "/settings")
    expect(page.locator("#git-accounts")).to_contain_text("No connected accounts.")
    connect = page.locator("#git-available li[data-provider=github] a:has-text('Connect account')")
    connect.click()  # → /oauth/github/start → the provider's consent (auto) → callback → back to settings
    page.wait_for_url(f"{server.url}/settings?git_connected=*")
    expect(page.locator("#git-accounts")).to_contain_text("octocat")
    expect(page.locator("#toasts")).to_contain_text("Git account connected.")
    assert fake_git_host.pkce_verified == 1
    screenshot(page, "settings-git-connected")

    page.goto(server.url + "/apps/new")
    expect(page.locator("#repo-picker")).to_be_visible()
    page.fill("#repo-search", "site-12")
    row = page.locator("#repo-results li:has-text('octocat/site-12')")
    row.locator("button:has-text('Use')").click()
    assert page.input_value("#git_url").endswith("site-12.git")
    assert page.input_value("#name") == "site-12"

    page.goto(server.url + "/settings")
    page.click("#git-accounts button:has-text('Disconnect')")
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#git-accounts")).to_contain_text("No connected accounts.")
    assert server.client().get("/api/git-providers").json()["items"] == []
