"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), launched exactly as
``shared/ENVIRONMENT.md`` says (never ``playwright install``), against a real ``rivetr serve`` subprocess."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ui.tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: the sync Playwright API keeps an event loop running in this thread while it is
    # open, which would break every pytest-asyncio test collected after a browser module.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, empty localStorage) and page; console errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and _relevant(msg.text) else None,
    )
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def _relevant(text: str) -> bool:
    # Expected noise: resources answering 401/403/404/409/422 on purpose in negative tests, WebSocket closes,
    # a polling request racing the server's keep-alive close of an idle connection (net::ERR_CONNECTION_RESET),
    # and polls after the server fixture stopped at teardown (net::ERR_CONNECTION_REFUSED).
    return not re.search(r"status of (401|403|404|409|422)|WebSocket|ERR_CONNECTION_RE(SET|FUSED)", text)


@pytest.fixture
def server(rivetr_server: Callable[..., Any]) -> Any:
    """A real ``rivetr serve`` with the dashboard plugin (entry point) and git:// sources allowed."""
    return rivetr_server(env={"RIVETR_RATE_LIMIT__ENABLED": "false", "RIVETR_LOGGING__LEVEL": "INFO"})
