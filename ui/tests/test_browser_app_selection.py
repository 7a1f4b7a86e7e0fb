"""The app settings page chooses the builder and the health check by name: only the fields of the selected kind
are shown and sent, a command is run with sh -c, and the choices survive a reload."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.test_browser_apps import logged_in_app_page, open_tab

pytestmark = pytest.mark.browser


def test_builder_and_health_check_are_chosen_in_settings(
    shared_server: Any, page: Any, git_server: Any
) -> None:
    server = shared_server
    _repo, app_id = logged_in_app_page(server, page, git_server, "selection")
    open_tab(page, "settings")
    builder, kind = page.locator("#set-builder"), page.locator("#set-health-kind")
    expect(builder).to_have_value("auto")
    expect(kind).to_have_value("http")
    options = builder.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert options[0] == "auto" and options[1:] == sorted(options[1:])
    assert {"autodetect", "buildpacks", "dockerfile", "nixpacks"} <= set(options)
    # An optional builder whose CLI is not on this machine's PATH is listed, says why, and cannot be chosen.
    nixpacks = builder.locator("option[value=nixpacks]")
    if shutil.which("nixpacks") is None:
        expect(nixpacks).to_contain_text("unavailable: `nixpacks` not on PATH")
        expect(nixpacks).to_be_disabled()
    page_new = page.context.new_page()
    page_new.goto(server.url + "/apps/new")
    new_options = page_new.locator("#builder option").evaluate_all("els => els.map(e => e.value)")
    assert new_options == options
    page_new.close()
    assert {"http", "tcp", "command"} <= set(kind.locator("option").all_inner_texts())
    command, path = page.locator("#set-health-command"), page.locator("#set-health")
    expect(command).to_be_hidden()
    expect(path).to_be_visible()

    page.select_option("#set-health-kind", "command")
    expect(command).to_be_visible()
    expect(path).to_be_hidden()
    page.click("#app-settings button[type=submit]")  # no command yet: the API's field error
    expect(page.locator("#app-settings [data-error-for=health_check]")).to_contain_text("command: required")

    page.fill("#set-health-command", "test -f /www/index.html")
    page.select_option("#set-builder", "dockerfile")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=health_check]")).to_have_text("")
    client = server.client()
    app = client.get(f"/api/apps/{app_id}").json()
    for _ in range(50):  # the form saves asynchronously
        if app["health_check"]["kind"] == "command":
            break
        page.wait_for_timeout(100)
        app = client.get(f"/api/apps/{app_id}").json()
    assert app["builder"] == "dockerfile"
    assert app["health_check"]["command"] == ["sh", "-c", "test -f /www/index.html"]

    page.reload()
    expect(page.locator("#set-health-kind")).to_have_value("command")
    expect(page.locator("#set-health-command")).to_have_value("test -f /www/index.html")
    expect(page.locator("#set-builder")).to_have_value("dockerfile")

    page.select_option("#set-health-kind", "tcp")
    page.click("#app-settings button[type=submit]")
    for _ in range(50):
        app = client.get(f"/api/apps/{app_id}").json()
        if app["health_check"]["kind"] == "tcp":
            break
        page.wait_for_timeout(100)
    assert app["health_check"]["kind"] == "tcp" and "command" not in app["health_check"]
