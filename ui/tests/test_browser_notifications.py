"""The Notifications page in Chromium against a real ``rivetr serve`` delivering through apprise to real loopback JSON
receivers (tests/support/json_receiver.py): a webhook channel built from the form's helper fields, Send test with its
result in the row and the receiver's request, editing its events (the stored URL kept), the delivery listed, a
refusing receiver's failure shown, delete; the page at 390 px without horizontal overflow; a URL's token never
reaches the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.json_receiver import JsonReceiver, running_receiver
from ui.tests.browser_helpers import login, screenshot

pytestmark = pytest.mark.browser

SECRET = "tok-s3cret-value"


@pytest.fixture(scope="module")
def receiver() -> Iterator[JsonReceiver]:
    yield from running_receiver()


@pytest.fixture(scope="module")
def refusing() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver(status=500)
    yield receiver
    receiver.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """conftest's page, except that the 502 of ``POST .../test`` is expected here: it is how the API answers a
    test notification the service refused (the page shows it in the row). Any other error still fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: Any) -> None:
        if msg.type != "error" or "WebSocket" in msg.text:
            return
        where = (msg.location or {}).get("url", "")
        if "status of 502" in msg.text and where.endswith("/test"):
            return
        if msg.text.startswith("Failed to load resource") and "status of 5" not in msg.text:
            return
        errors.append(f"{msg.text} ({where})")

    pg.on("console", on_console)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def _channels(server: Any) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/api/notification-channels")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_channels_add_test_edit_fail_and_delete(
    shared_server: Any, page: Any, receiver: JsonReceiver, refusing: JsonReceiver
) -> None:
    server = shared_server
    login(page, server.url)
    page.click("#nav-notifications")
    page.wait_for_url("**/notifications")
    expect(page.locator("#channel-list")).to_contain_text("No channels")
    expect(page.locator("#notifier-services")).to_contain_text("apprise")

    # A webhook channel from the helper: the endpoint's http URL becomes apprise's json:// URL.
    page.fill("#ch-name", "ops-hook")
    page.select_option("#ch-service", "webhook")
    page.fill("#hf-webhook-url", "ftp://127.0.0.1/x")
    page.click("#channel-submit")
    expect(page.locator("[data-helper-for=webhook] [data-part-error=url]")).to_contain_text("http://")
    assert _channels(server) == []
    endpoint = f"http://127.0.0.1:{receiver.port}/hook?token={SECRET}"
    page.fill("#hf-webhook-url", endpoint)
    expect(page.locator("#ch-url-preview")).to_have_text(f"json://127.0.0.1:{receiver.port}/hook?***")
    page.check("input[name=events][value=deployment_failed]")
    page.click("#channel-submit")
    row = page.locator("#channel-table tr", has_text="ops-hook")
    expect(row).to_contain_text("Webhook")
    expect(row).to_contain_text("deployment_failed")
    [channel] = _channels(server)
    assert (channel["url"], channel["events"]) == ("json://***", ["deployment_failed"])
    assert SECRET not in page.content()

    # Send test: the result in the row, the receiver got it, the delivery is listed.
    row.locator("[data-channel-test]").click()
    expect(row.locator("[data-test-result]")).to_contain_text("Test sent")
    assert len(receiver.payloads) == 1 and "ops-hook" in receiver.payloads[0]["message"]
    assert receiver.requests[0][0] == f"/hook?token={SECRET}"
    expect(row.locator("[data-last-status]")).to_have_text("delivered")
    row.locator(".channel-history summary").click()
    expect(row.locator(".delivery-list li")).to_have_count(1)
    expect(row.locator(".delivery-list")).to_contain_text("test")

    # Edit its events; the URL fields stay empty, so the stored URL is kept.
    row.locator("[data-channel-edit]").click()
    expect(page.locator("#channel-form-title")).to_have_text("Edit ops-hook")
    expect(page.locator("#ch-stored-url")).to_contain_text("json://***")
    expect(page.locator("#ch-name")).to_have_value("ops-hook")
    expect(page.locator("input[name=events][value=deployment_failed]")).to_be_checked()
    page.check("input[name=events][value=container_crashed]")
    page.click("#channel-submit")
    expect(row.locator(".channel-events")).to_contain_text("deployment_failed, container_crashed")
    expect(page.locator("#channel-form-title")).to_have_text("Add a channel")
    [channel] = _channels(server)
    assert channel["events"] == ["deployment_failed", "container_crashed"]
    row.locator("[data-channel-test]").click()
    expect(row.locator(".channel-history summary")).to_contain_text("Recent deliveries (2)")
    assert len(receiver.payloads) == 2

    # A raw URL to a receiver that answers 500: Send test shows the failure, the row says failing.
    page.fill("#ch-name", "broken-hook")
    page.select_option("#ch-service", "other")
    page.fill("#hf-other-url", refusing.url)
    page.click("#channel-submit")
    broken = page.locator("#channel-table tr", has_text="broken-hook")
    broken.locator("[data-channel-test]").click()
    expect(broken.locator("[data-test-result]")).to_contain_text("Test failed")
    expect(broken).to_contain_text("failing (1)")
    expect(broken.locator("[data-last-error]")).not_to_be_empty()
    expect(broken.locator("[data-last-status]")).to_have_text("failed")
    assert len(refusing.requests) == 1
    expect(row.locator("[data-test-result]")).to_contain_text("Test sent")  # kept across the refresh
    screenshot(page, "notifications")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#channel-table")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "notifications-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    for name in ("ops-hook", "broken-hook"):
        page.locator("#channel-table tr", has_text=name).locator("button:has-text('Delete')").click()
        page.click("#confirm-dialog [data-ok]")
        expect(page.locator("#channel-table tr", has_text=name)).to_have_count(0)
    expect(page.locator("#channel-list")).to_contain_text("No channels")
    assert _channels(server) == []
