"""The dashboard reads the paginated app list (``{"items", "next"}``): the command palette offers every app,
including those past the first page, and the apps table shows them all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ui.tests.browser_helpers import login

pytestmark = pytest.mark.browser


def test_palette_and_apps_table_offer_apps_beyond_the_first_page(shared_server: Any, page: Any) -> None:
    server = shared_server
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        # 205 apps: more than the default page (50) and than the palette's page size (200).
        for i in range(205):
            r = client.post(
                "/api/apps", json={"name": f"listed-{i:03d}", "git_url": "git://127.0.0.1:9/x.git"}
            )
            assert r.status_code == 201, r.text
        assert client.get("/api/apps").json()["next"]
    login(page, server.url)
    page.goto(server.url + "/apps")
    assert page.locator("tr[data-app^=listed-]").count() == 205
    page.keyboard.press("Control+k")
    page.wait_for_selector("#palette[open]")
    page.keyboard.type("listed-204")  # created last: on the palette's second page
    page.wait_for_selector("#palette-list li:has-text('listed-204')")
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/apps/*")
    assert "listed-204" in page.content()
