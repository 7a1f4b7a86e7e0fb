"""Two-factor login in Chromium against a real ``rivetr serve``: enrolment on the profile page (the secret read from
the page, codes generated here with pyotp), recovery codes shown once, logging out and in with the password and a
code, a wrong code and a recovery code on the login page, a server admin's reset on the Users page, and the
profile's sessions."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp
from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, screenshot

STEP = 30


def fresh_code(secret: str, used: set[int]) -> str:
    """A code the server has not seen and will take: it accepts one step either side of now, each step once and
    only in increasing order. So the first code is of the previous step while it has a while left in the window,
    then each next step in turn; only a code two steps ahead waits for the clock (most runs never wait)."""
    totp = pyotp.TOTP(secret, interval=STEP)
    now = time.time()
    step = max(used) + 1 if used else int(now // STEP) - (1 if now % STEP < 20 else 0)
    while step > int(time.time() // STEP) + 1:
        time.sleep(0.5)
    used.add(step)
    return totp.generate_otp(step)


def password_step(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")


def enrol_on_profile(page: Any, used: set[int]) -> tuple[str, list[str]]:
    """Set up 2FA on the open profile page (a wrong code first): the secret read from the page and the recovery
    codes shown once."""
    page.click("#two-factor-setup")
    expect(page.locator("#two-factor-enrol")).to_be_visible()
    secret = page.inner_text("#two-factor-secret").strip()
    assert len(secret) >= 16
    qr = page.get_attribute("#two-factor-qr", "src") or ""
    assert qr.startswith("data:image/svg+xml")
    assert page.evaluate("document.getElementById('two-factor-qr').naturalWidth") > 0  # the QR code renders

    page.fill("#two-factor-code", "000000")
    page.click("#two-factor-confirm button[type=submit]")
    expect(page.locator("#two-factor-confirm [data-error-for=code]")).to_contain_text(
        "not a valid current code"
    )
    page.fill("#two-factor-code", fresh_code(secret, used))
    page.click("#two-factor-confirm button[type=submit]")
    expect(page.locator("#recovery-codes")).to_be_visible()
    codes = [c.strip() for c in page.locator("#recovery-code-list li").all_inner_texts()]
    assert len(codes) == 10
    expect(page.locator("#two-factor-enrol")).to_be_hidden()
    expect(page.locator("#two-factor-state")).to_contain_text("10 of 10 recovery codes left")
    return secret, codes


def test_enrol_on_the_profile_page_then_log_in_with_a_code(shared_server: Any, page: Any) -> None:
    server = shared_server
    url = server.url
    password_step(page, url)
    page.wait_for_url(url + "/")

    # The header's Profile link; the profile page starts with 2FA off.
    page.click("#profile-link")
    page.wait_for_url(url + "/profile")
    expect(page.locator("#two-factor-state")).to_contain_text("off")
    expect(page.locator("#profile-tokens-link")).to_have_attribute("href", "/settings#tokens")

    used: set[int] = set()
    secret, codes = enrol_on_profile(page, used)
    with page.expect_download() as download:
        page.click("#recovery-download")
    saved = download.value.path().read_text()
    assert all(code in saved for code in codes)
    screenshot(page, "profile-two-factor-enrolled")

    # Log out; the password alone now leads to the code page, not the dashboard.
    page.click("form[action='/logout'] button")
    page.wait_for_url(url + "/login")
    password_step(page, url)
    expect(page.locator("#code-form")).to_be_visible()
    assert all(c["name"] != "rivetr_session" for c in page.context.cookies())
    screenshot(page, "login-two-factor-step")

    page.fill("#code", "123456")
    page.click("#code-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Wrong code (4 attempts left)")
    page.fill("#code", fresh_code(secret, used))
    page.click("#code-form button[type=submit]")
    page.wait_for_url(url + "/")
    expect(page.locator("h1")).to_contain_text("Dashboard")

    # And once with a recovery code, through "Use a recovery code".
    page.click("form[action='/logout'] button")
    page.wait_for_url(url + "/login")
    password_step(page, url)
    page.click("#recovery-step summary")
    page.fill("#recovery_code", codes[0])
    page.click("#recovery-step button[type=submit]")
    page.wait_for_url(url + "/")

    page.goto(url + "/profile")
    expect(page.locator("#two-factor-state")).to_contain_text("9 of 10 recovery codes left")
    expect(page.locator("#session-list .badge:has-text('this browser')")).to_have_count(1)
    expect(page.locator("#session-list")).to_contain_text("Headless Chrome on Linux")

    # Turn it off again with the password and a code, so the module's other tests log in with the password.
    page.click("#two-factor-disable-box summary")
    page.fill("#disable-password", ADMIN_PASSWORD)
    page.fill("#disable-code", fresh_code(secret, used))
    page.click("#two-factor-disable button[type=submit]")
    expect(page.locator("#two-factor-state")).to_contain_text("off")
    expect(page.locator("#recovery-codes")).to_be_hidden()


def test_a_server_admin_resets_two_factor_on_the_users_page(shared_server: Any, page: Any) -> None:
    url = shared_server.url
    password_step(page, url)
    page.wait_for_url(url + "/")
    page.goto(url + "/profile")
    enrol_on_profile(page, set())
    page.goto(url + "/users")
    row = page.locator(f"tr[data-user='{ADMIN_USER}']")
    expect(row).to_contain_text("2FA")
    row.locator("button:has-text('Reset 2FA')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(row.locator("button:has-text('Reset 2FA')")).to_have_count(0)
    expect(row).not_to_contain_text("2FA")
    page.goto(url + "/profile")
    expect(page.locator("#two-factor-state")).to_contain_text("off")


def test_log_out_other_sessions_from_the_profile(shared_server: Any, page: Any, browser: Any) -> None:
    server = shared_server
    other = browser.new_context()
    try:
        other_page = other.new_page()
        password_step(other_page, server.url)
        other_page.wait_for_url(server.url + "/")
        password_step(page, server.url)
        page.wait_for_url(server.url + "/")
        page.goto(server.url + "/profile#sessions")
        assert page.locator("#session-list tr[data-session]").count() >= 2
        page.click("#sessions-end-others")
        page.click("#confirm-dialog [data-ok]")
        expect(page.locator("#session-list tr[data-session]")).to_have_count(1)
        expect(page.locator("#session-list .badge:has-text('this browser')")).to_have_count(1)
        other_page.goto(server.url + "/apps")
        other_page.wait_for_url(server.url + "/login?next=/apps")
    finally:
        other.close()
    # The API agrees: the admin's own sessions are only this one.
    sessions = httpx.get(
        server.url + "/api/auth/sessions",
        params={"all": "true"},
        headers={"Authorization": f"Bearer {server.token}"},
    ).json()["items"]
    assert len([s for s in sessions if s["username"] == ADMIN_USER]) == 1
