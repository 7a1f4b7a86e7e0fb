"""Users and invitations in a real browser: an admin makes an invitation link on the Users page, a SECOND browser
context opens it, joins with a user name and password and lands logged in on the dashboard, and the admin's Users
page then lists the new user with its team role; a password-reset link made on the page works in another context;
disabling and deleting go through the confirmation dialog; a used link's page says it is gone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser

NEW_PASSWORD = "the invitee's own password"


def _new_link(page: Any) -> str:
    page.wait_for_selector("#new-link:not([hidden])")
    return str(page.inner_text("#new-link-value")).strip()


def test_an_invitation_is_accepted_in_a_second_browser(shared_server: Any, page: Any, browser: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.click("nav >> text=Users")
    page.wait_for_url(server.url + "/users")
    assert page.locator("tr[data-user=admin] [data-server-role]").inner_text() == "owner"
    page.select_option("#invite-team", label="default")
    page.select_option("#invite-role", "developer")
    page.fill("#invite-email", "newbie@example.com")
    page.click("#invite-form button[type=submit]")
    url = _new_link(page)
    assert url.startswith(server.url + "/invite/rvt_inv_")
    page.wait_for_selector("#invitation-list tr[data-invitation]")
    assert url.rsplit("/", 1)[1] not in page.inner_text("#invitation-list")  # the token is shown once only
    screenshot(page, "users-invitation")

    other = browser.new_context()
    try:
        guest = other.new_page()
        guest.goto(url)
        assert "default" in guest.inner_text("#invite-offer") and "developer" in guest.inner_text(
            "#invite-offer"
        )
        screenshot(guest, "invite-accept")
        guest.fill("#username", "newbie")
        guest.fill("#password", NEW_PASSWORD)
        guest.fill("#password_confirm", "something else entirely")
        guest.click("button[type=submit]")
        assert "differ" in guest.inner_text("#password_confirm-error")
        guest.fill("#password", NEW_PASSWORD)
        guest.fill("#password_confirm", NEW_PASSWORD)
        guest.click("button[type=submit]")
        guest.wait_for_url(server.url + "/")
        assert "newbie" in guest.inner_text(".sidebar-foot")
        # A developer manages no members: no Users entry, and the page (forced) offers nothing.
        assert guest.locator("nav >> text=Users").count() == 0
        forced = guest.goto(server.url + "/users")
        assert forced is not None and forced.status == 403
        assert guest.locator("#users-forbidden").count() == 1 and guest.locator("#invite-form").count() == 0
        # The link worked once: opening it again says so.
        guest.goto(url)
        assert "already used" in guest.inner_text("#link-gone")
    finally:
        other.close()

    with server.client() as client:  # the page's POST is audited like a login, its token never stored
        entries = client.get("/api/audit", params={"action": "auth.invite"}).json()["items"]
    assert [(e["actor"], e["status"]) for e in entries][:2] == [("user:newbie", 302), ("user:newbie", 422)]
    assert url.rsplit("/", 1)[1] not in str(entries)

    page.goto(server.url + "/users")
    row = page.locator("tr[data-user=newbie]")
    assert row.locator("[data-teams]").inner_text() == "default (developer)"
    assert row.locator("[data-server-role] select").input_value() == "member"  # no server role
    assert "newbie" not in page.inner_text("#invitation-list")  # no longer pending
    screenshot(page, "users")


def test_reset_disable_and_delete_from_the_users_page(shared_server: Any, page: Any, browser: Any) -> None:
    server = shared_server
    with server.client() as client:
        made = client.post(
            "/api/invitations", json={"team_id": "default", "role": "viewer", "username": "rita"}
        ).json()
        token = made["token"]
    first_password = "rita's first password"
    accepted = httpx.post(
        f"{server.url}/api/invitations/{token}/accept", json={"username": "rita", "password": first_password}
    )
    assert accepted.status_code == 201, accepted.text

    login(page, server.url)
    page.goto(server.url + "/users")
    row = page.locator("tr[data-user=rita]")
    row.locator("button:has-text('Reset password')").click()
    url = _new_link(page)
    assert url.startswith(server.url + "/reset/rvt_rst_")

    other = browser.new_context()
    try:
        rita = other.new_page()
        rita.goto(url)
        rita.fill("#password", "short")
        rita.fill("#password_confirm", "short")
        rita.click("button[type=submit]")
        assert "at least 10 characters" in rita.inner_text("#password-error")
        rita.fill("#password", "rita's second password")
        rita.fill("#password_confirm", "rita's second password")
        rita.click("button[type=submit]")
        assert "rita" in rita.inner_text("#reset-done")
        with server.client() as client:
            entries = client.get("/api/audit", params={"action": "auth.reset"}).json()["items"]
        assert [(e["actor"], e["status"]) for e in entries][:2] == [("user:rita", 200), ("user:rita", 422)]
    finally:
        other.close()
    new_login = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "rita", "password": "rita's second password"}
    )
    assert new_login.status_code == 200

    # The server owner makes rita a server admin from her row, then takes it back.
    select = row.locator("select[data-server-role-url]")
    assert select.input_value() == "member"
    for role, expected in (("admin", "admin"), ("member", None)):
        select.select_option(role)
        expect(row.locator("[data-inline-status]")).to_have_text("Saved")
        with server.client() as client:
            assert client.get("/api/users/rita").json()["server_role"] == expected
        row.locator("[data-inline-status]").evaluate("el => el.textContent = ''")
    # The owner's own row has no select: nobody changes their own server role here.
    assert page.locator("tr[data-user=admin] select[data-server-role-url]").count() == 0

    row.locator("button:has-text('Disable')").click()
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("tr[data-user=rita] [data-state]")
    refused = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "rita", "password": "rita's second password"}
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "account_disabled"

    page.locator("tr[data-user=rita] button:has-text('Delete')").click()
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("tr[data-user=rita]", state="detached")
    with server.client() as client:
        assert client.get("/api/users/rita").status_code == 404
    # The admin's own row offers no way to disable or delete itself.
    assert page.locator("tr[data-user=admin] button:has-text('Delete')").count() == 0
