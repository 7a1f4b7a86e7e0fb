"""Passkeys in Chromium against a real ``rivetr serve``, with a virtual authenticator (Chrome DevTools Protocol's
WebAuthn domain: a platform authenticator that verifies the user by itself): add a passkey on the profile page
(recovery codes shown once: it is the first second factor), log out, log in with the password and "Use a
passkey", then remove it again (the module's other tests log in with the password alone).

WebAuthn refuses IP addresses as relying-party ids, so the page is opened as ``http://localhost:<port>`` (a secure
context, like HTTPS) rather than the server's 127.0.0.1."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, screenshot


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def password_step(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")


def test_add_a_passkey_then_log_in_with_it(shared_server: Any, page: Any) -> None:
    url = shared_server.url.replace("127.0.0.1", "localhost")
    cdp, authenticator = virtual_authenticator(page)
    password_step(page, url)
    page.wait_for_url(url + "/")

    page.goto(url + "/profile#passkeys")
    expect(page.locator("#passkeys-empty")).to_be_visible()
    page.fill("#passkey-new-name", "Virtual key")
    page.click("#passkey-add-button")
    # The first second factor: two-factor login turns on, and the recovery codes are shown once.
    expect(page.locator("#recovery-codes")).to_be_visible()
    assert len(page.locator("#recovery-code-list li").all_inner_texts()) == 10
    expect(page.locator("#passkey-table")).to_contain_text("Virtual key")
    expect(page.locator("#passkey-table")).to_contain_text("never")
    expect(page.locator("#two-factor-state")).to_contain_text("10 of 10 recovery codes left")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["rpId"] == "localhost"
    screenshot(page, "profile-passkeys")

    # Log out: the password alone leads to the second step, which offers the passkey (and no code field: this
    # account has no authenticator app).
    page.click("form[action='/logout'] button")
    page.wait_for_url(url + "/login")
    password_step(page, url)
    expect(page.locator("#passkey-login")).to_be_visible()
    expect(page.locator("#code-form")).to_have_count(0)
    assert all(c["name"] != "rivetr_session" for c in page.context.cookies())
    screenshot(page, "login-passkey-step")
    page.click("#passkey-login")
    page.wait_for_url(url + "/")
    expect(page.locator("h1")).to_contain_text("Dashboard")

    # Used once: the profile shows when; then remove it (the password is asked) and 2FA is off again.
    page.goto(url + "/profile#passkeys")
    row = page.locator("#passkey-table tr[data-passkey]")
    expect(row).to_have_count(1)
    expect(row).not_to_contain_text("never")
    row.locator("summary").click()
    row.locator(".passkey-remove input[name=password]").fill("not the password")
    row.locator(".passkey-remove button[type=submit]").click()
    expect(row.locator("[data-error-for=password]")).to_contain_text("Is not your current password")
    row.locator(".passkey-remove input[name=password]").fill(ADMIN_PASSWORD)
    row.locator(".passkey-remove button[type=submit]").click()
    expect(page.locator("#passkeys-empty")).to_be_visible()
    expect(page.locator("#two-factor-state")).to_contain_text("off")
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
