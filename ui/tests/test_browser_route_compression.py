"""The Domain settings panel's compression switch (issue 22) in Chromium against a real ``rivetr serve``: ticked
by default, unticking and saving stores ``compression: false`` for that domain entry only (the summary says "not
compressed", a reload shows it unticked), ticking it again turns it back on. The proxy side of the switch is
tested in tests/test_route_compression.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import setup_admin

pytestmark = pytest.mark.browser


def test_domain_compression_switch(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(
        env={"RIVETR_RATE_LIMIT__ENABLED": "false"},
        timeout=90,  # a wait limit, not a measure: start-up is slow while other suites load the machine
    )
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"})
    created = api.post(
        "/api/apps",
        json={
            "name": "zipped",
            "source": {"kind": "image", "image": "nginx:alpine"},
            "domains": ["zip.web.test", "zip.web.test/api"],
        },
    )
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    setup_admin(page, server.url, server.token)
    page.goto(f"{server.url}/apps/{app_id}/settings")
    entry = page.locator("details[data-route-key='zip.web.test/api']")
    form = entry.locator("form")
    expect(form).to_have_attribute("data-loaded", "")
    entry.locator("summary").click()
    box = form.locator("[name=compression]")
    expect(box).to_be_checked()

    box.uncheck()
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-route-saved]")).to_have_text("Saved.")
    expect(entry.locator("[data-route-summary]")).to_have_text("· not compressed")
    assert api.get("/api/routes/settings/zip.web.test/api").json()["compression"] is False
    assert api.get("/api/routes/settings/zip.web.test").json()["compression"] is True  # the other entry

    page.reload()
    expect(form).to_have_attribute("data-loaded", "")
    entry.locator("summary").click()
    expect(box).not_to_be_checked()
    box.check()
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-route-saved]")).to_have_text("Saved.")
    expect(entry.locator("[data-route-summary]")).to_have_text("")
    assert api.get("/api/routes/settings/zip.web.test/api").json()["compression"] is True
    api.close()
