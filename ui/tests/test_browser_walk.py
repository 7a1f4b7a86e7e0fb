"""Every dashboard page in Chromium against a real ``rivetr serve``, as a logged-in server owner: the pages the
navigation and the "New" menu link to, an app's, project's and team's page, and a page that does not exist. None
may log a console error or make a request that fails (a 4xx/5xx, the favicon included) — the slips a user sees as
a broken widget or a red console without any test of a feature noticing."""

from __future__ import annotations

from typing import Any

import pytest

from ui.tests.browser_helpers import login

pytestmark = pytest.mark.browser


def test_no_page_logs_a_console_error_or_a_failed_request(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    repo = git_server.create_repo("walked")
    with server.client() as client:
        project = client.post("/api/projects", json={"name": "walk"}).json()
        app = client.post(
            "/api/apps",
            json={"name": "walked", "git_url": repo.url, "port": 8000, "project_id": project["id"]},
        ).json()
    problems: list[str] = []
    current = {"url": ""}

    def on_console(message: Any) -> None:
        # The 404 page's own document is the one failed load expected (its other requests are checked below).
        expected = current["url"] == "/no-such-page" and message.text.startswith("Failed to load resource")
        if message.type == "error" and not expected:
            problems.append(f"{current['url']}: console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: page error: {e}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{current['url']}: {r.status} {r.request.method} {r.url}")
            if r.status >= 400 and not r.url.endswith("/no-such-page")
            else None
        ),
    )
    login(page, server.url)
    links = page.eval_on_selector_all(
        "nav a[href^='/'], #new-menu a[href^='/'], header a[href^='/']",
        "els => els.map(e => e.getAttribute('href'))",
    )
    pages = sorted({href.split("#")[0] for href in links if href and not href.startswith("/logout")})
    pages += [
        f"/apps/{app['id']}",
        # Every tab of the app page (a never-deployed app: the logs tab asks the API for nothing).
        *(
            f"/apps/{app['id']}/{tab}"
            for tab in ("deployments", "logs", "env", "volumes", "links", "backups", "previews", "settings")
        ),
        f"/projects/{project['id']}",
        "/teams/default",
        "/profile",
        "/no-such-page",
    ]
    assert {"/apps", "/services", "/stacks", "/settings"} <= set(pages), pages
    for path in pages:
        current["url"] = path
        response = page.goto(server.url + path)
        assert response is not None
        if path == "/no-such-page":
            assert (
                response.status == 404 and page.locator("h1").count() == 1
            )  # the styled page, not a bare one
        page.wait_for_load_state("networkidle")
    assert not problems, "\n".join(problems)
