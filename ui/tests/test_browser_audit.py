"""The audit-log page in a real browser: changes made through the API show on /audit with the app's name linked
and readable actions; filtering by action and by user swaps the table in place and puts the filters in the URL;
paging forward and back follows the keyset cursors; an entry's details open in its row; at 390 px the table is
stacked rows without horizontal overflow."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser


def _changes(server: Any) -> dict[str, str]:
    """An app and a project changed through the API (admin token): 2 app updates (one refused) and 55 project
    updates, so the log holds more than a page."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        project = client.post("/api/projects", json={"name": "audit-web-proj"}).json()
        app = client.post(
            "/api/apps",
            json={
                "name": "audit-web",
                "source": {"kind": "image", "image": "nginx:1"},
                "project_id": project["id"],
            },
        ).json()
        assert client.put(f"/api/apps/{app['id']}", json={"branch": "next"}).status_code == 200
        assert client.put(f"/api/apps/{app['id']}", json={"port": "nope"}).status_code == 422
        for n in range(55):
            response = client.put(f"/api/projects/{project['id']}", json={"description": f"v{n}"})
            assert response.status_code == 200, response.text
    return {"app": app["id"], "project": project["id"]}


def _entry_ids(page: Any) -> list[str]:
    return [
        str(x)
        for x in page.locator("#audit-table tr[data-entry]").evaluate_all(
            "rs => rs.map(r => r.dataset.entry)"
        )
    ]


def test_the_audit_log_page(shared_server: Any, page: Any) -> None:
    server = shared_server
    ids = _changes(server)
    login(page, server.url)
    page.click("#full-audit-log")
    page.wait_for_url(server.url + "/audit")
    expect(page.locator("nav >> text=Audit log")).to_have_attribute("aria-current", "page")
    assert len(_entry_ids(page)) == 50

    # Filter by action: the table is swapped in place, the URL says what is shown.
    page.select_option("#audit-action", "apps_api.update_app")
    page.wait_for_url(re.compile(r".*/audit\?action=apps_api\.update_app$"))
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(2)
    assert set(
        page.locator("#audit-table tr[data-entry]").evaluate_all("rs => rs.map(r => r.dataset.auditAction)")
    ) == {"apps_api.update_app"}
    first = page.locator("#audit-table tr[data-entry]").first
    link = first.locator("a[data-resource=app]")
    expect(link).to_have_text("app audit-web")
    assert link.get_attribute("href") == f"/apps/{ids['app']}"
    expect(page.locator("#audit-table [data-outcome]").first).to_contain_text("failed")
    expect(first.locator("td[data-label=Action]")).to_have_text("Changed app settings")

    # Open an entry's details in its row.
    first.locator("summary").click()
    expect(first.locator("dd[data-request-id]")).to_be_visible()
    expect(first.locator("[data-details]")).to_contain_text(ids["app"])
    screenshot(page, "audit-details")

    # Filter by user as well: the admin token did it, the signed-in user did not.
    page.select_option("#audit-user", "user:admin")
    page.wait_for_url(re.compile(r".*user=user%3Aadmin.*"))
    expect(page.locator("#audit-empty")).to_be_visible()
    page.select_option("#audit-user", "admin")
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(2)

    # Page forward and back over the project updates (55: more than a page).
    page.click("#audit-clear")
    page.wait_for_url(server.url + "/audit")
    page.select_option("#audit-action", "projects_api.update_project")
    page.wait_for_url(re.compile(r".*/audit\?action=projects_api\.update_project$"))
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(50)
    newest = _entry_ids(page)
    page.click("#audit-older")
    page.wait_for_url(re.compile(r".*cursor=.*"))
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(5)
    assert not set(_entry_ids(page)) & set(newest)
    page.click("#audit-newer")
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(50)
    assert _entry_ids(page) == newest
    assert "action=projects_api.update_project" in page.url

    # A phone: stacked rows, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/audit?action=apps_api.update_app")
    expect(page.locator("#audit-table tr[data-entry]")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#audit-table thead").bounding_box()["height"] <= 1  # type: ignore[index]
    screenshot(page, "audit-phone")
