"""The Server page's cleanup settings in Chromium against a real ``rivetr serve`` (no container engine needed): an
admin's bad value gets the API's error under its field and stores nothing, a good one a toast, persists across a
reload and is stored alone (the untouched fields keep following the config file), "Use config file" returns to
the file; a team viewer sees the values read-only. Screenshots at desktop width and at 390 px (no horizontal
overflow)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_USER, screenshot, setup_admin

pytestmark = pytest.mark.browser

VIEWER_PASSWORD = "a viewer's long password"


def _stored(server: Any) -> dict[str, Any]:
    with server.client() as client:
        return client.get("/api/system/cleanup/settings").json()  # type: ignore[no-any-return]


def _invite_viewer(server: Any) -> str:
    """A user who joined a new team as its viewer (the admin invites; the invitation is accepted)."""
    suffix = secrets.token_hex(3)
    name = f"viewer-{suffix}"
    with server.client() as admin:
        team = admin.post("/api/teams", json={"name": f"cleanup-{suffix}"}).json()
        owner = admin.post(f"/api/teams/{team['id']}/members", json={"username": ADMIN_USER, "role": "owner"})
        assert owner.status_code == 201, owner.text
        invited = admin.post(
            "/api/invitations", json={"username": name, "team_id": team["id"], "role": "viewer"}
        )
        assert invited.status_code == 201, invited.text
    accepted = httpx.post(
        f"{server.url}/api/invitations/{invited.json()['token']}/accept",
        json={"username": name, "password": VIEWER_PASSWORD},
    )
    assert accepted.status_code == 201, accepted.text
    return name


def test_cleanup_settings_edited_from_the_server_page(page: Any, server: Any) -> None:
    setup_admin(page, server.url, server.token)
    page.goto(server.url + "/server#cleanup")
    form = page.locator("#cleanup-settings")
    keep = form.locator("#cleanup-keep_images")
    expect(keep).to_have_value("3")
    expect(form.locator("#cleanup-keep_images-source")).to_contain_text("from the config file")

    # A value out of range: the API's message under the field, nothing stored.
    keep.fill("0")
    form.locator("button[type=submit]").click()
    error = form.locator("[data-error-for=keep_images]")
    expect(error).to_contain_text("greater than or equal to 1")
    expect(keep).to_have_attribute("aria-invalid", "true")
    assert set(_stored(server)["sources"].values()) == {"config"}

    keep.fill("2")
    form.locator("#cleanup-interval_minutes").fill("30")
    form.locator("button[type=submit]").click()
    expect(page.locator("#toasts")).to_contain_text("Cleanup settings saved.")
    expect(form.locator("#cleanup-keep_images-source")).to_contain_text("saved here; config file: 3")
    expect(page.locator("[data-cleanup-summary]")).to_contain_text("Runs every 30 minutes")
    stored = _stored(server)
    assert stored["settings"]["keep_images"] == 2 and stored["settings"]["interval_minutes"] == 30
    # Only the edited fields were stored: the rest still follow the config file.
    assert sorted(k for k, v in stored["sources"].items() if v == "dashboard") == [
        "interval_minutes",
        "keep_images",
    ]

    page.reload()
    expect(page.locator("#cleanup-keep_images")).to_have_value("2")
    expect(page.locator("#cleanup-interval_minutes")).to_have_value("30")
    expect(page.locator("#cleanup-build_log_retention_days-source")).to_contain_text("from the config file")
    page.locator("#cleanup").scroll_into_view_if_needed()
    screenshot(page, "server-cleanup-settings")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#cleanup-keep_images")).to_have_value("2")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "server-cleanup-settings-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    # "Use config file" on one field: the file's value is back, the other override stays.
    page.locator("[data-setting=keep_images] button:has-text('Use config file')").click()
    expect(page.locator("#toasts")).to_contain_text("back to the config file")
    expect(page.locator("#cleanup-keep_images")).to_have_value("3")
    stored = _stored(server)
    assert [k for k, v in stored["sources"].items() if v == "dashboard"] == ["interval_minutes"]

    # A team viewer reads the values but has nothing to change them with.
    viewer = _invite_viewer(server)
    page.context.clear_cookies()
    page.goto(server.url + "/login")
    page.fill("#username", viewer)
    page.fill("#password", VIEWER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")
    page.goto(server.url + "/server#cleanup")
    expect(page.locator("#cleanup-interval_minutes")).to_have_value("30")
    expect(page.locator("#cleanup-interval_minutes")).to_be_disabled()
    expect(page.locator("#cleanup-settings button")).to_have_count(0)
    expect(page.locator("[data-read-only]")).to_contain_text("Only the server's owners and admins")
