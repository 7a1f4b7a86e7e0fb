"""The app settings form's "rivetr.toml path" field in Chromium against a real ``rivetr serve`` (issue 24): the
app's value shown, a path in a subdirectory saved (normalised by the API), an escaping path refused with the
API's message next to the field, and emptied it turns the file off (null)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login

pytestmark = pytest.mark.browser


def _wait(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_config_path_field(shared_server: Any, page: Any) -> None:
    server = shared_server
    client = server.client()
    app = client.post(
        "/api/apps", json={"name": "cfg-path-web", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    ).json()
    login(page, server.url)
    page.goto(f"{server.url}/apps/{app['id']}/settings")
    field = page.locator("#set-config-path")
    expect(field).to_have_value("rivetr.toml")
    page.fill("#set-config-path", "../outside.toml")
    page.click("#app-settings button[type=submit]")
    expect(page.locator("#app-settings [data-error-for=config_path]")).to_contain_text("no '..'")
    assert client.get(f"/api/apps/{app['id']}").json()["config_path"] == "rivetr.toml"

    page.fill("#set-config-path", "./deploy/web.toml")
    page.click("#app-settings button[type=submit]")
    _wait(
        lambda: client.get(f"/api/apps/{app['id']}").json()["config_path"] == "deploy/web.toml",
        "the path saved",
    )
    page.reload()
    expect(page.locator("#set-config-path")).to_have_value("deploy/web.toml")
    page.fill("#set-config-path", "")
    page.click("#app-settings button[type=submit]")
    _wait(lambda: client.get(f"/api/apps/{app['id']}").json()["config_path"] is None, "turned off")
    page.reload()
    expect(page.locator("#set-config-path")).to_have_value("")
    expect(page.locator("#set-config-path")).to_have_attribute(
        "placeholder", "off: deployments ignore the file"
    )
