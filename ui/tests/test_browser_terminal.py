"""The terminal page says why there is no shell (issue 21): an app that has no running container gets the server's
reason (deploy it first) in the badge and in the terminal area, not a bare "disconnected". The WebSocket is
accepted and then closed with the reason, because a refusal at the handshake reaches a browser as code 1006 with
no text at all."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from ui.tests.browser_helpers import login, screenshot

pytestmark = [pytest.mark.browser]

REASON = "The app has no running container: deploy it first"


def _terminal_text(page: Any) -> str:
    return str(
        page.evaluate(
            """() => { const b = window.rivetrTerminal.term.buffer.active; let out = "";
                       for (let i = 0; i < b.length; i++) {  // a line the terminal wrapped continues the last
                         const line = b.getLine(i);
                         out += (i && !line.isWrapped ? "\\n" : "") + line.translateToString(true);
                       }
                       return out; }"""
        )
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_terminal_of_an_undeployed_app_shows_the_reason(page: Any, shared_server: Any, width: int) -> None:
    client = shared_server.client()
    created = client.post(
        "/api/apps", json={"name": f"noshell{width}", "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
    )
    assert created.status_code == 201, created.text
    page.set_viewport_size({"width": width, "height": 800})
    login(page, shared_server.url)

    page.goto(f"{shared_server.url}/apps/{created.json()['id']}/terminal")
    badge = page.locator("#term-state")
    expect(badge).to_have_text(REASON)
    expect(badge).to_have_class("badge failed")
    page.wait_for_function("() => window.rivetrTerminal && window.rivetrTerminal.ws.readyState === 3")
    assert REASON in _terminal_text(page)
    # The long reason wraps inside the page head instead of widening the page on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"terminal-no-container-{width}")
