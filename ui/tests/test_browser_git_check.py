"""The new-app form's repository check in Chromium against a real ``rivetr serve`` and git daemon: "Check" lists
the branches (as suggestions for the branch field) and finds the one typed; creating with a branch the repository
lacks stops once with git's answer, and pressing "Create app" again creates it anyway."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.gitserver import _git
from ui.tests.browser_helpers import login, screenshot
from ui.tests.test_browser_apps import wait_app_page

pytestmark = pytest.mark.browser


def test_check_suggests_branches_and_a_missing_branch_asks_before_creating(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    repo = git_server.create_repo("checked")
    _git("push", "-q", "origin", "HEAD:refs/heads/dev", cwd=repo.work)
    login(page, server.url)
    page.goto(server.url + "/apps/new")
    page.fill("#name", "checked")
    page.fill("#git_url", repo.url)
    page.fill("#branch", "dev")
    page.click("#git-check")
    expect(page.locator("#git-check-result")).to_have_text("Branch dev found (2 branches).")
    options = page.locator("#branch-list option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["dev", "main"]
    screenshot(page, "app-new-git-check")

    page.fill("#branch", "nope")
    page.fill("#port", "8000")
    page.click("#new-app-form button[type=submit]")
    expect(page.locator("#git-check-result")).to_contain_text("the repository has no branch 'nope'")
    expect(page.locator("#git-check-result")).to_contain_text("again to create it anyway")
    assert page.url == server.url + "/apps/new"
    with server.client() as client:
        assert "checked" not in [a["name"] for a in client.get("/api/apps").json()["items"]]
    page.click("#new-app-form button[type=submit]")
    wait_app_page(page)
    with server.client() as client:
        made = [a for a in client.get("/api/apps").json()["items"] if a["name"] == "checked"]
    assert [a["branch"] for a in made] == ["nope"]


def test_the_settings_page_checks_with_the_apps_stored_credentials(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    repo = git_server.create_repo("settled")
    _git("push", "-q", "origin", "HEAD:refs/heads/next", cwd=repo.work)
    with server.client() as client:
        app = client.post("/api/apps", json={"name": "settled", "git_url": repo.url, "port": 8000}).json()
    login(page, server.url)
    page.goto(f"{server.url}/apps/{app['id']}/settings")
    page.fill("#set-branch", "next")
    page.click("#set-git-check")
    expect(page.locator("#set-git-check-result")).to_have_text("Branch next found (2 branches).")
    assert page.locator("#set-branch-list option").count() == 2
