"""Real-browser flows without the container engine: first-run setup, login/logout, wrong password, theme
persistence, CSRF protection, settings (API token shown once), screenshots of the pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot

pytestmark = pytest.mark.browser


def test_first_run_setup_login_logout_and_wrong_password(page: Any, rivetr_server: Any) -> None:
    # A generated admin token, as on a fresh install: the page must say which file holds it.
    server = rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false", "RIVETR_AUTH__ADMIN_TOKEN": ""})
    url = server.url
    token_file = server.data_dir / "admin.token"
    page.goto(url + "/")
    page.wait_for_url(url + "/setup")
    assert str(token_file) in page.inner_text("#setup_token-hint")
    screenshot(page, "setup")
    # Without proof of the server (a visitor who found a fresh install first), nothing is created.
    page.fill("#setup_token", "a-guess")
    page.fill("#username", "mallory")
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    assert "Wrong setup token" in page.inner_text("#setup_token-error")
    assert page.get_attribute("#setup_token", "aria-invalid") == "true"
    assert httpx.get(url + "/api/auth/status").json()["setup_required"] is True
    # With the token from the file, a too-short password is refused with the reason next to the field (the
    # token stays filled in), and nothing is created.
    page.fill("#setup_token", token_file.read_text().strip())
    page.fill("#username", ADMIN_USER)
    page.fill("#password", "short")
    page.fill("#password_confirm", "short")
    page.click("button[type=submit]")
    assert "at least 10 characters" in page.inner_text("#password-error")
    assert page.get_attribute("#password", "aria-invalid") == "true"
    assert page.input_value("#setup_token") == token_file.read_text().strip()
    assert httpx.get(url + "/api/auth/status").json()["setup_required"] is True
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    assert page.inner_text("h1") == "Dashboard"
    assert ADMIN_USER in page.inner_text(".sidebar-foot")
    cookie = next(c for c in page.context.cookies() if c["name"] == "rivetr_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain http here
    # Host stats are real numbers from psutil.
    assert page.inner_text("[data-stat=cpu]").endswith("%")
    assert 0 < float(page.inner_text("[data-stat=memory]").rstrip("%")) <= 100
    # Recent changes come from the audit log, in words: the setup just done, by whom. Apps and deployments have
    # their own lists (empty on a new server); a refused request is not a change.
    change = page.locator("#activity li[data-action='auth.setup']")
    expect(change).to_contain_text("Set up the server")
    expect(change).to_contain_text(ADMIN_USER)
    assert "No apps yet" in page.inner_text("#home-activity")
    status = page.evaluate("Rivetr.api('POST', '/api/apps', {}).then(() => 201, e => e.status)")
    assert status == 422  # refused: a validation error, audited as a failure
    refused = page.evaluate("Rivetr.api('GET', '/api/audit?outcome=failure').then(r => r.items)")
    assert refused and refused[0]["status"] == 422, refused
    page.reload()
    shown = page.locator("#activity li").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert refused[0]["action"] not in shown, shown
    screenshot(page, "dashboard")

    page.click("text=Log out")
    page.wait_for_url(url + "/login")
    assert page.context.cookies() == [] or all(c["name"] != "rivetr_session" for c in page.context.cookies())
    page.goto(url + "/settings")
    page.wait_for_url(url + "/login?next=/settings")

    # Wrong password on the page the redirect led to: the error shows and ?next= survives the retry.
    page.fill("#username", ADMIN_USER)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.inner_text("#login-error") == "Wrong username or password"
    screenshot(page, "login-error")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/settings")
    # The setup page is gone for good once the admin exists.
    page.goto(url + "/setup")
    assert page.url == url + "/"  # /setup → /login → (already logged in) the dashboard


def test_theme_switch_persists_across_reload(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "system"
    page.click(".topbar [data-theme-choice=dark]")
    assert html.get_attribute("data-theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.reload()
    assert html.get_attribute("data-theme") == "dark"
    assert page.get_attribute(".topbar [data-theme-choice=dark]", "aria-pressed") == "true"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
    assert background == "rgb(15, 19, 23)"
    screenshot(page, "dashboard-dark")
    page.goto(server.url + "/settings")
    assert html.get_attribute("data-theme") == "dark"
    page.click("#appearance [data-theme-choice=light]")
    page.reload()
    assert html.get_attribute("data-theme") == "light"
    assert page.evaluate("localStorage.getItem('rivetr-theme')") == "light"


def test_csrf_less_form_post_is_rejected(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    # A form built without the CSRF field (as another site would post it) is refused; the session survives.
    with page.expect_navigation() as navigation:
        page.evaluate(
            """() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';
                       document.body.appendChild(f); f.submit(); }"""
        )
    assert navigation.value.status == 403
    assert "CSRF token missing or invalid" in page.inner_text("main")
    screenshot(page, "csrf-rejected")
    status = page.evaluate("fetch('/', {redirect: 'manual'}).then(r => r.status)")
    assert status == 200  # still logged in
    # The API: the cookie alone does not authorise a call; the CSRF header from the page does.
    without = page.evaluate(
        "fetch('/api/tokens', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({name: 'x'})}).then(r => r.status)"
    )
    assert without == 401
    with_header = page.evaluate(
        "fetch('/api/tokens', {headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})"
        ".then(r => r.status)"
    )
    assert with_header == 200


def test_api_token_is_shown_once_and_works(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.goto(server.url + "/settings")
    page.fill("#token-name", "ci")
    page.check("#token-scopes input[value=admin]")  # read is preselected; admin may list tokens
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#new-token:not([hidden])")
    token = page.inner_text("#new-token-value").strip()
    assert token.startswith("rvt_pat_")
    page.click("#new-token-copy")  # one click to the clipboard (a toast says so)
    page.wait_for_selector("#toasts :text('Token copied to the clipboard.')")
    page.wait_for_selector("tr[data-token=ci]")
    assert token not in page.inner_text("#token-list")
    assert page.inner_text("tr[data-token=ci] [data-scopes]") == "admin, read"
    response = httpx.get(server.url + "/api/tokens", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and "ci" in [t["name"] for t in response.json()["items"]]
    screenshot(page, "settings")
    page.reload()
    assert token not in page.content()  # never rendered again
    page.click("tr[data-token=ci] button:has-text('Revoke')")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("tr[data-token=ci]", state="detached")
    response = httpx.get(server.url + "/api/tokens", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_phone_width_layout_and_command_palette(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/apps")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide at phone width"
    screenshot(page, "apps-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.keyboard.press("Control+k")
    page.wait_for_selector("#palette[open]")
    page.keyboard.type("sett")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/settings")
    # Every top-level page is one palette search away, the audit log and stacks included.
    for typed, path in (("audit", "/audit"), ("stacks (", "/stacks")):
        page.keyboard.press("Control+k")
        page.wait_for_selector("#palette[open]")
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        page.wait_for_url(server.url + path)


def test_keyboard_only_use_with_visible_focus(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.goto(server.url + "/settings")
    # The first Tab reaches the skip link, which jumps to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.focus("#token-name")
    page.keyboard.type("from-keyboard")
    for _ in range(12):  # through the scope, team, apps and expiry fields to the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Create token":
            break
    assert page.evaluate("document.activeElement.textContent.trim()") == "Create token"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # visible focus
    page.keyboard.press("Enter")
    page.wait_for_selector("tr[data-token=from-keyboard]")
    # Destructive actions open a dialog with focus on Cancel; Escape cancels.
    page.focus("tr[data-token=from-keyboard] button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-dialog[open]")
    assert page.evaluate("document.activeElement.textContent") == "Cancel"
    page.keyboard.press("Escape")
    page.wait_for_selector("#confirm-dialog:not([open])", state="hidden")
    tokens = server.client().get("/api/tokens", params={"all": "true"}).json()["items"]
    assert "from-keyboard" in [t["name"] for t in tokens]


def test_ending_another_session_logs_that_browser_out(shared_server: Any, page: Any, browser: Any) -> None:
    server = shared_server

    def session_ids() -> set[str]:
        sessions = server.client().get("/api/auth/sessions", params={"all": "true"}).json()["items"]
        return {s["id"] for s in sessions}

    before = session_ids()
    other = browser.new_context()
    try:
        other_page = other.new_page()
        login(other_page, server.url)
        (other_id,) = session_ids() - before
        login(page, server.url)
        page.goto(server.url + "/profile#sessions")
        row = page.locator(f"tr[data-session='{other_id}']")
        row.locator("button:has-text('End')").click()
        page.click("#confirm-dialog [data-ok]")
        expect(row).to_have_count(0)
        assert page.locator("#session-list .badge:has-text('this browser')").count() == 1
        other_page.goto(server.url + "/apps")
        other_page.wait_for_url(server.url + "/login?next=/apps")
    finally:
        other.close()
