"""An app's maintenance switch and error pages on its Settings tab (issue 22) in Chromium against a real
``rivetr serve``: turning maintenance on with a message, a custom 503 page uploaded from a file, a page over
64 KiB refused on its field, maintenance off again. The proxy side is tested in tests/test_app_pages_api.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import screenshot, setup_admin

pytestmark = pytest.mark.browser


def test_maintenance_switch_and_error_page(page: Any, rivetr_server: Any, tmp_path: Path) -> None:
    server = rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false"}, timeout=90)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    created = api.post(
        "/api/apps", json={"name": "shop", "source": {"kind": "image", "image": "nginx:alpine"}}
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/apps/{app_id}/settings")
    panel = page.locator("#app-maintenance")
    expect(panel.locator("#maintenance-state")).to_have_attribute("data-maintenance", "off")
    panel.locator("#maintenance-message").fill("Back at 18:00")
    panel.locator("#maintenance-on button[type=submit]").click()
    expect(panel.locator("#maintenance-state")).to_have_attribute("data-maintenance", "on")
    stored = api.get(f"/api/apps/{app_id}/error-pages").json()
    assert stored["maintenance"] is True and stored["message"] == "Back at 18:00"

    # A page over 64 KiB: refused on its field; a file's contents are uploaded as the 503 page.
    entry = panel.locator("details[data-page-key='503']")
    entry.locator("summary").click()
    entry.locator("textarea[name=html]").fill("x" * (64 * 1024 + 1))
    entry.locator("button[type=submit]").click()
    expect(entry.locator("[data-error-for=html]")).to_contain_text("64 KiB")
    down = tmp_path / "down.html"
    down.write_text("<h1>Down for a moment</h1>")
    entry.locator("[data-page-file]").set_input_files(str(down))
    expect(entry.locator("textarea[name=html]")).to_have_value("<h1>Down for a moment</h1>")
    entry.locator("button[type=submit]").click()
    expect(panel.locator("details[data-page-key='503'] summary")).to_contain_text("custom page")
    assert api.get(f"/api/apps/{app_id}/error-pages").json()["error_pages"] == {
        "503": "<h1>Down for a moment</h1>"
    }
    screenshot(page, "app-maintenance")

    panel.locator("#maintenance-off").click()
    expect(panel.locator("#maintenance-state")).to_have_attribute("data-maintenance", "off")
    assert api.get(f"/api/apps/{app_id}/error-pages").json()["maintenance"] is False
    api.close()
    page.goto("about:blank")  # leave before the server stops (the Settings tab's panels poll it)
