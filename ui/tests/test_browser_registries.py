"""Registries and image apps in Chromium against a real server and a real private registry (docker-registry with
htpasswd auth and a test CA: tests/support/auth_registry.py): credentials the registry refuses are shown as the
API's error next to the password and never stored; good ones are listed (no password on the page) and can be
deleted; the new-app form's "Source: Image" creates an image app whose page shows its image."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.auth_registry import AuthRegistry, running_auth_registry
from ui.tests.browser_helpers import login, screenshot


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[AuthRegistry]:
    yield from running_auth_registry()


def _api(server: Any, path: str) -> Any:
    response = httpx.get(server.url + path, headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_registries_page_adds_refuses_and_deletes(
    shared_server: Any, page: Any, auth_registry: AuthRegistry
) -> None:
    server = shared_server
    login(page, server.url)
    page.goto(server.url + "/registries")
    expect(page.locator("#registry-list")).to_contain_text("No registries")
    page.fill("#reg-name", "private")
    page.fill("#reg-server", auth_registry.server)
    page.fill("#reg-username", auth_registry.username)
    page.fill("#reg-password", "wrong-password")
    page.click("#registry-add button[type=submit]")
    expect(page.locator("#registry-add [data-error-for=password]")).to_contain_text("refused the login")
    assert _api(server, "/api/registries")["items"] == []

    page.fill("#reg-password", auth_registry.password)
    page.click("#registry-add button[type=submit]")
    expect(page.locator("#registry-table")).to_contain_text(auth_registry.server)
    assert auth_registry.password not in page.content()
    screenshot(page, "registries")
    [row] = _api(server, "/api/registries")["items"]

    page.locator(f"#registry-{row['id']} button:has-text('Delete')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(page.locator("#registry-list")).to_contain_text("No registries")
    assert _api(server, "/api/registries")["items"] == []


def test_new_app_form_creates_an_image_app(shared_server: Any, page: Any) -> None:
    server = shared_server
    login(page, server.url)
    page.goto(server.url + "/apps/new")
    expect(page.locator("#source-image")).to_be_hidden()
    page.fill("#name", "ui-image-app")
    page.check("input[name='source.kind'][value=image]")
    expect(page.locator("#git_url")).to_be_hidden()
    page.fill("#source-image", "Not An Image")
    page.click("#new-app-form button[type=submit]")
    expect(page.locator("#new-app-form [data-error-for=source]")).to_contain_text("image reference")
    page.fill("#source-image", "registry.example.test/team/api:1.4")
    page.click("#new-app-form button[type=submit]")
    page.wait_for_url("**/apps/*")
    expect(page.locator("#app-header, .page-head").first).to_contain_text(
        "registry.example.test/team/api:1.4"
    )
    page.click("#tab-settings")  # the source is a setting of the app
    expect(page.locator("#set-image")).to_have_value("registry.example.test/team/api:1.4")
    [app] = [a for a in _api(server, "/api/apps")["items"] if a["name"] == "ui-image-app"]
    assert (app["source_kind"], app["image"], app["git_url"]) == (
        "image",
        "registry.example.test/team/api:1.4",
        "",
    )
