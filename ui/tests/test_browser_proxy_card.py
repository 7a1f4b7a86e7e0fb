"""The Server page's proxy card in Chromium against a real ``rivetr serve`` with the built-in proxy: the process
line (pid, uptime, version from GET /api/proxy), Restart behind a confirm dialog (Cancel restarts nothing), and
the toast with the new pid once the new master took the port over."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import setup_admin
from ui.tests.conftest import SERVER_ENV

pytestmark = pytest.mark.browser

PROXY_ENV = {
    **SERVER_ENV,
    "RIVETR_PROXY__ENABLED": "true",
    "RIVETR_SERVER__PROXY_PORT": "0",
    "RIVETR_SERVER__PROXY_HTTPS_PORT": "0",
}


def _status(server: Any) -> dict[str, Any]:
    r = httpx.get(server.url + "/api/proxy", headers={"Authorization": f"Bearer {server.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_proxy_card_shows_the_process_and_restarts_it(page: Any, rivetr_server: Any) -> None:
    server = rivetr_server(env=PROXY_ENV, timeout=90)  # a loaded machine starts slowly
    before = _status(server)
    assert before["running"]
    setup_admin(page, server.url, server.token)
    page.goto(server.url + "/server#status")
    card = page.locator("[data-component=proxy]")
    process = card.locator("[data-proxy-process]")
    expect(process).to_contain_text(f"pid {before['pid']}")
    expect(process).to_contain_text("up ")
    expect(process).to_contain_text(f"v{before['version']}")

    restart = card.locator("[data-proxy-restart]")
    restart.click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Restart the proxy?")
    dialog.locator("[data-cancel]").click()
    expect(dialog).to_be_hidden()
    assert _status(server)["pid"] == before["pid"]  # cancelled: nothing restarted

    restart.click()
    dialog.locator("[data-ok]").click()
    toast = page.locator("#toasts")
    expect(toast).to_contain_text(f"Proxy restarted: pid {before['pid']} → ", timeout=60_000)
    after = _status(server)
    assert after["pid"] != before["pid"] and after["port"] == before["port"]
    expect(toast).to_contain_text(f"→ {after['pid']}")
    expect(process).to_contain_text(f"pid {after['pid']}")
