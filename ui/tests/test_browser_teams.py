"""The Teams pages in a real browser: a server owner creates a team with the "New team" form (becoming its owner),
adds an existing user as developer, changes the role to viewer, toggles the two-factor requirement, sees both after
a reload, gets the API's refusals next to the control (demoting the last owner, deleting a team that owns a
project) and removes the member through the confirmation dialog; a viewer of the team sees it without controls."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-password-for-teams"


def _user(server: Any, name: str, team_id: str, role: str) -> None:
    """A real user made the only way there is: an invitation link, accepted."""
    with server.client() as client:
        made = client.post("/api/invitations", json={"team_id": team_id, "role": role, "username": name})
        assert made.status_code == 201, made.text
    accepted = httpx.post(
        f"{server.url}/api/invitations/{made.json()['token']}/accept",
        json={"username": name, "password": PASSWORD},
    )
    assert accepted.status_code == 201, accepted.text


def test_an_owner_manages_members_and_settings(shared_server: Any, page: Any, browser: Any) -> None:
    server = shared_server
    _user(server, "tina", "default", "viewer")
    login(page, server.url)
    page.click("nav >> text=Teams")
    page.wait_for_url(server.url + "/teams")
    assert page.locator("tr[data-team-row=default]").count() == 1
    page.fill("#team-new-name", "tui-crew")
    page.click("#team-new-form button[type=submit]")
    page.wait_for_url(server.url + "/teams/*")
    team_url = page.url
    team_id = team_url.rsplit("/", 1)[1]
    assert page.locator("tr[data-member=admin] select").input_value() == "owner"

    # Add an existing user as developer; an unknown name is refused next to its field.
    page.fill("#member-username", "nobody-here")
    page.click("#member-add-form button[type=submit]")
    page.wait_for_selector("#member-add-form [data-error-for=username]:not(:empty)")
    page.fill("#member-username", "tina")
    page.select_option("#member-role", "developer")
    page.click("#member-add-form button[type=submit]")
    row = page.locator("tr[data-member=tina]")
    row.wait_for()
    assert row.locator("select").input_value() == "developer"

    # Change the role to viewer: saved in place.
    row.locator("select").select_option("viewer")
    page.wait_for_selector("tr[data-member=tina] [data-inline-status]:has-text('Saved')")
    # The last owner cannot be demoted: the API's message shows in the row, the select keeps the real role.
    page.locator("tr[data-member=admin] select").select_option("viewer")
    error = page.locator("tr[data-member=admin] [data-inline-error]")
    error.wait_for()
    page.wait_for_function(
        "document.querySelector('tr[data-member=admin] [data-inline-error]').textContent.length > 0"
    )
    assert "owner" in error.inner_text()
    assert page.locator("tr[data-member=admin] select").input_value() == "owner"

    # Require two-factor login.
    page.check("#team-require-2fa")
    page.wait_for_selector("#team-settings [data-inline-status]:has-text('required')")
    screenshot(page, "team-settings")

    page.reload()
    assert page.locator("tr[data-member=tina] select").input_value() == "viewer"
    assert page.locator("#team-require-2fa").is_checked()
    assert page.locator("#team-name [data-require-2fa]").count() == 1
    with server.client() as client:
        team = client.get(f"/api/teams/{team_id}").json()
        assert team["require_2fa"] is True
        members = client.get(f"/api/teams/{team_id}/members").json()["items"]
        assert {m["username"]: m["role"] for m in members} == {"admin": "owner", "tina": "viewer"}
        # A team owning a project cannot be deleted: the 409 is shown readably next to the button.
        project = client.post("/api/projects", json={"name": "tui-crew-web", "team_id": team_id})
        assert project.status_code == 201, project.text

    page.click("#team-delete")
    page.click("#confirm-dialog [data-ok]")
    refusal = page.locator("#team-delete-section [data-inline-error]")
    refusal.wait_for()
    assert "tui-crew-web" in refusal.inner_text()

    # Remove the member through the confirmation dialog.
    page.locator("tr[data-member=tina] button:has-text('Remove')").click()
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("tr[data-member=tina]", state="detached")
    page.uncheck("#team-require-2fa")
    page.wait_for_selector("#team-settings [data-inline-status]:has-text('optional')")
    with server.client() as client:
        assert client.get(f"/api/teams/{team_id}/members/tina").status_code == 404
        assert client.get(f"/api/teams/{team_id}").json()["require_2fa"] is False


def test_a_viewer_sees_the_team_without_controls(shared_server: Any, browser: Any) -> None:
    server = shared_server
    with server.client() as client:
        made = client.post("/api/teams", json={"name": "tui-readers"})
        assert made.status_code == 201, made.text
        team_id = made.json()["id"]
    _user(server, "vera", team_id, "viewer")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.goto(server.url + "/login")
        page.fill("#username", "vera")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/")
        page.click("nav >> text=Teams")
        page.wait_for_url(server.url + "/teams")
        assert page.locator("tr[data-team-row]").count() == 1
        assert page.locator("tr[data-team-row=tui-readers] [data-my-role]").inner_text() == "viewer"
        assert page.locator("#team-new-form").count() == 0
        page.click("tr[data-team-row=tui-readers] a")
        page.wait_for_url(server.url + f"/teams/{team_id}")
        assert page.locator("tr[data-member=vera] [data-role]").inner_text() == "viewer"
        assert page.locator("#team-read-only").is_visible()
        main = page.locator("main")
        assert main.locator("select").count() == 0
        assert main.locator("button").count() == 0
        assert main.locator("form").count() == 0
        assert main.locator("input").count() == 0
        screenshot(page, "team-viewer")
        forced = page.goto(server.url + "/teams/default")
        assert forced is not None and forced.status == 404
    finally:
        context.close()
