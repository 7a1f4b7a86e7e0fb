"""An app's Domain settings panel (issue 22) in Chromium against a real ``rivetr serve`` with the real built-in
proxy: an app with a plain domain and a path domain (``shop.web.test/api``); the path entry strips its prefix
and gets a redirect rule and a basic-auth user, the plain one a www redirect; what the API then holds is what
was typed (the password only as a user name), the plain one's upstream protocol is set to h2c (gRPC), a bad rule
is the field's own error, and unticking the user turns basic auth off again. The proxy side of the same settings is tested in tests/test_route_paths_api.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_domain_settings_form(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(
        env={
            "RIVETR_RATE_LIMIT__ENABLED": "false",
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_PLUGINS__PROXY_BUILTIN__KEEP_RUNNING": "false",
        },
        timeout=90,  # a wait limit, not a measure: start-up is slow while other suites load the machine
    )
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    created = api.post(
        "/api/apps",
        json={
            "name": "shop",
            "source": {"kind": "image", "image": "nginx:alpine"},
            "domains": ["shop.web.test", "shop.web.test/api"],
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/apps/{app_id}/settings")
    path_entry = page.locator("details[data-route-key='shop.web.test/api']")
    root_entry = page.locator("details[data-route-key='shop.web.test']")
    expect(path_entry.locator("form")).to_have_attribute("data-loaded", "")
    path_entry.locator("summary").click()
    form = path_entry.locator("form")

    # A malformed rule line stays in the browser, named on its field.
    form.locator("[name=strip_prefix]").check()
    form.locator("[data-redirects-text]").fill("/old")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=redirects]")).to_contain_text("FROM TO [STATUS]")
    # A rule the API refuses: its message lands on the same field.
    form.locator("[data-redirects-text]").fill("/old //evil.test/ 301")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-error-for=redirects]")).to_contain_text("http(s) URL")

    form.locator("[data-redirects-text]").fill("/old /api/new 308\n/docs https://docs.web.test/")
    form.locator("[data-auth-on]").check()
    form.locator("[data-auth-realm]").fill("Staging")
    form.locator("[data-auth-new-name]").fill("ann")
    form.locator("[data-auth-new-password]").fill("correct horse")
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-route-saved]")).to_have_text("Saved.")
    expect(path_entry.locator("[data-route-summary]")).to_have_text(
        "· strips its path, 2 redirects, password (1 user)"
    )
    expect(form.locator("[data-auth-user='ann']")).to_be_checked()
    expect(form.locator("[data-auth-new-password]")).to_have_value("")
    saved = api.get("/api/routes/settings/shop.web.test/api").json()
    assert saved["strip_prefix"] is True
    assert saved["redirects"] == [
        {"from": "/old", "to": "/api/new", "status": 308},
        {"from": "/docs", "to": "https://docs.web.test/", "status": 301},
    ]
    assert saved["basic_auth"] == {"realm": "Staging", "users": ["ann"]}

    # The plain entry offers the www redirect (a path entry does not).
    root_entry.locator("summary").click()
    expect(path_entry.locator("[name=redirect_www]")).to_have_count(0)
    root_entry.locator("[name=redirect_www]").select_option("to-apex")
    root_entry.locator("[name=upstream_protocol]").select_option("h2c")  # gRPC: HTTP/2 to the app
    root_entry.locator("button[type=submit]").click()
    expect(root_entry.locator("[data-route-saved]")).to_have_text("Saved.")
    expect(root_entry.locator("[data-route-summary]")).to_contain_text("h2c upstream")
    root_saved = api.get("/api/routes/settings/shop.web.test").json()
    assert root_saved["redirect_www"] == "to-apex" and root_saved["upstream_protocol"] == "h2c"
    assert api.get("/api/routes/settings/shop.web.test/api").json()["upstream_protocol"] == "http1"
    screenshot(page, "app-domain-settings")

    # After a reload the form shows what is stored; unticking the only user turns basic auth off.
    page.reload()
    expect(root_entry.locator("[name=upstream_protocol]")).to_have_value("h2c")
    path_entry.locator("summary").click()
    expect(form.locator("[data-auth-user='ann']")).to_be_checked()
    expect(form.locator("[data-redirects-text]")).to_have_value(
        "/old /api/new 308\n/docs https://docs.web.test/ 301"
    )
    form.locator("[data-auth-on]").uncheck()
    form.locator("button[type=submit]").click()
    expect(path_entry.locator("[data-route-summary]")).to_have_text("· strips its path, 2 redirects")
    assert api.get("/api/routes/settings/shop.web.test/api").json()["basic_auth"] is None
    api.close()
    # Leave the page before the server stops: panels of the Settings tab poll it (a poll failing at teardown is
    # a console error the page fixture reports).
    page.goto("about:blank")
