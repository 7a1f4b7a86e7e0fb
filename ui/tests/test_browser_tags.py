"""Tags in a real browser (Chromium): set in the app's settings (an invalid one refused next to the field), shown
as chips on the apps list, a chip filters the list (linkable ``?tag=``, removable, cleared), the environment filter
keeps the tag filter, and the command palette finds an app by one of its tags."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser

IMAGE = "registry.example.com/team/api:1"


def _app(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/api/apps", json={"name": name, "source": {"kind": "image", "image": IMAGE}, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_tags_in_settings_list_chips_filter_and_palette(page: Any, shared_server: Any) -> None:
    url = shared_server.url
    with shared_server.client() as client:
        web = _app(client, "tag-web")
        _app(client, "tag-api", tags=["backend", "prod"], environment="production")
        _app(client, "tag-other")
    login(page, url)

    # Settings: an invalid tag is refused next to the field and nothing changes.
    page.goto(f"{url}/apps/{web['id']}/settings")
    page.fill("#set-tags", "Prod, no!pe")
    page.click("#app-settings button[type=submit]")
    expect(page.locator('[data-error-for="tags"]')).to_contain_text("no!pe")
    with shared_server.client() as client:
        assert client.get(f"/api/apps/{web['id']}").json()["tags"] == []
    # Valid ones are saved lower-cased and sorted, and the page shows them so after a reload.
    page.fill("#set-tags", "Prod frontend, prod")
    page.click("#app-settings button[type=submit]")
    with shared_server.client() as client:
        for _ in range(50):
            if client.get(f"/api/apps/{web['id']}").json()["tags"] == ["frontend", "prod"]:
                break
            page.wait_for_timeout(100)
        assert client.get(f"/api/apps/{web['id']}").json()["tags"] == ["frontend", "prod"]
    page.reload()
    assert page.input_value("#set-tags") == "frontend, prod"

    # The list shows each app's chips; a chip filters the list by its tag (a link others can open).
    page.goto(f"{url}/apps")
    row = page.locator("tr[data-app=tag-web]")
    expect(row.locator(".tag-chip")).to_have_text(["frontend", "prod"])
    expect(page.locator("tr[data-app=tag-other] .tag-chip")).to_have_count(0)
    screenshot(page, "apps-tags")
    row.locator(".tag-chip[data-tag=prod]").click()
    page.wait_for_url(f"{url}/apps?tag=prod")
    expect(page.locator("#apps-table tbody tr")).to_have_count(2)
    expect(page.locator("tr[data-app=tag-other]")).to_have_count(0)
    expect(page.locator("#tag-filter .tag-chip")).to_have_text(["prod ×"])
    # A second tag narrows it further (every tag must be held).
    page.locator("tr[data-app=tag-api] .tag-chip[data-tag=backend]").click()
    expect(page.locator("#apps-table tbody tr")).to_have_count(1)
    expect(page.locator("tr[data-app=tag-api]")).to_have_count(1)
    # The environment filter keeps the tags; removing one tag chip keeps the other.
    page.goto(f"{url}/apps?tag=prod")
    page.click("nav.filters >> text=Production")
    expect(page.locator("#apps-table tbody tr")).to_have_count(1)
    expect(page.locator("tr[data-app=tag-api]")).to_have_count(1)
    assert "tag=prod" in page.url and "environment=production" in page.url
    page.goto(f"{url}/apps?tag=prod&tag=backend")
    page.click("#tag-filter .tag-chip[data-tag=backend]")
    expect(page.locator("#apps-table tbody tr")).to_have_count(2)
    # Clearing the filter lists every app again.
    page.click("#tag-filter-clear")
    page.wait_for_url(f"{url}/apps")
    expect(page.locator("tr[data-app=tag-other]")).to_have_count(1)
    expect(page.locator("#tag-filter")).to_have_count(0)
    # A hand-edited link with an invalid tag filters by the valid ones only (no error page).
    page.goto(f"{url}/apps?tag=FRONTEND&tag=%25")
    expect(page.locator("#apps-table tbody tr")).to_have_count(1)

    # The palette finds an app by a tag (typed whole or its start, with or without '#').
    page.keyboard.press("Control+k")
    page.wait_for_selector("#palette[open]")
    page.keyboard.type("#backe")
    expect(page.locator("#palette-list li").first).to_contain_text("tag-api")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/apps/*")
    assert page.inner_text("h1").strip().startswith("tag-api")


def test_stack_tags_form_and_list_chips(page: Any, shared_server: Any) -> None:
    url = shared_server.url
    with shared_server.client() as client:
        response = client.post(
            "/api/stacks",
            json={
                "name": "tag-stack",
                "compose": "services:\n  web:\n    image: docker.io/library/nginx:1\n",
            },
        )
        assert response.status_code == 201, response.text
        stack = response.json()
    login(page, url)
    page.goto(f"{url}/stacks/{stack['id']}")
    page.fill("#stack-tags-form-input", "edge BAD!")
    page.click("#stack-tags-form button[type=submit]")
    expect(page.locator('#stack-tags-form [data-error-for="tags"]')).to_contain_text("BAD!")
    page.fill("#stack-tags-form-input", "Edge, shop")
    page.click("#stack-tags-form button[type=submit]")
    with shared_server.client() as client:
        for _ in range(50):
            if client.get(f"/api/stacks/{stack['id']}").json()["tags"] == ["edge", "shop"]:
                break
            page.wait_for_timeout(100)
        found = client.get(f"/api/stacks/{stack['id']}").json()
    assert found["tags"] == ["edge", "shop"] and found["status"] == "created"  # a label: nothing deployed
    page.goto(f"{url}/stacks")
    expect(page.locator("tr[data-stack=tag-stack] .tag-chip")).to_have_text(["edge", "shop"])
