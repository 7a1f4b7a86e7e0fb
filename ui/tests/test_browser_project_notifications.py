"""A project page's Notifications panel in Chromium against a real ``rivetr serve``: no routes yet, then the
project's failed deployments of one app routed to a channel chosen by name (the form aims at that channel), shown
in the table and answered the same by the API; a bad app name refused next to its field with the API's message;
Remove (confirmed) stops the route. The Notifications page's channel editor shows a channel's "Routed only"."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser


def test_route_a_project_s_events_from_its_page(shared_server: Any, page: Any) -> None:
    suffix = uuid.uuid4().hex[:6]
    with shared_server.client() as client:
        project = client.post("/api/projects", json={"name": f"routes-{suffix}"}).json()
        for name, routed_only in ((f"all-{suffix}", False), (f"team-{suffix}", True)):
            body = {"name": name, "url": "json://127.0.0.1:9/hook", "routed_only": routed_only}
            assert client.post("/api/notification-channels", json=body).status_code == 201
        team = next(
            c
            for c in client.get("/api/notification-channels").json()["items"]
            if c["name"] == f"team-{suffix}"
        )

    login(page, shared_server.url)
    page.goto(f"{shared_server.url}/projects/{project['id']}")
    expect(page.locator("#project-routes-none")).to_be_visible()
    form = page.locator("#project-route-form")
    page.select_option("#project-route-channel", team["id"])
    page.fill("#project-route-apps", "Not A Name")
    form.locator('input[name="events"][value="deployment_failed"]').check()
    form.locator("button[type=submit]").click()
    expect(form.locator('[data-error-for="apps"]')).to_contain_text("lower-case")

    page.fill("#project-route-apps", "web")
    form.locator("button[type=submit]").click()
    row = page.locator(f'#project-routes-table [data-route-channel="team-{suffix}"]')
    expect(row.locator("[data-route-apps]")).to_have_text("web")
    expect(row.locator("[data-route-events]")).to_have_text("deployment_failed")
    expect(row).to_contain_text("routed only")
    screenshot(page, "project-notifications")
    with shared_server.client() as client:
        routes = client.get(f"/api/projects/{project['id']}/notification-routes").json()["items"]
    assert [(r["channel"], r["apps"], r["events"]) for r in routes] == [
        (f"team-{suffix}", ["web"], ["deployment_failed"])
    ]

    row.locator("button", has_text="Remove").click()
    page.locator("#confirm-dialog [data-ok]").click()
    expect(page.locator("#project-routes-none")).to_be_visible()
    with shared_server.client() as client:
        assert client.get(f"/api/projects/{project['id']}/notification-routes").json()["items"] == []

    page.goto(f"{shared_server.url}/notifications")
    page.click(f'[data-channel-edit="{team["id"]}"]')
    expect(page.locator("#ch-routed-only")).to_be_checked()
    with shared_server.client() as client:
        for channel in client.get("/api/notification-channels").json()["items"]:
            if channel["name"].endswith(suffix):
                client.delete(f"/api/notification-channels/{channel['id']}")
