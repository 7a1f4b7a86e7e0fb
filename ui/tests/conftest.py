"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), launched exactly as
``shared/ENVIRONMENT.md`` says (never ``playwright install``), against a real ``rivetr serve`` subprocess."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, CHROMIUM, CHROMIUM_ARGS

SERVER_ENV = {"RIVETR_RATE_LIMIT__ENABLED": "false"}


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
    """A fresh browser context (no cookies, empty localStorage) and page. Uncaught exceptions, CSP violations
    and 5xx answers fail the test; 4xx answers and network aborts are what negative tests and navigation cause,
    and their effects are asserted functionally."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    navigations: list[float] = []  # when the page last started leaving its document
    pg.on(
        "request", lambda req: navigations.append(time.monotonic()) if req.is_navigation_request() else None
    )
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and _relevant(msg.text, navigations) else None
        ),
    )
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


# htmx logs a request the browser cut off as a console error. Chromium cuts off the old document's requests (a
# poll, a slow "load" fetch) when the page navigates or reloads, reporting some as network errors rather than aborts.
_CUT_OFF = ("htmx:sendError", "htmx:sendAbort", "htmx:afterRequest")
_NAVIGATION_WINDOW = 10.0  # seconds from a navigation request to the old document's last cut-off fetch


def _relevant(text: str, navigations: list[float]) -> bool:
    if text.startswith("Failed to load resource"):
        return "status of 5" in text
    if text.startswith(_CUT_OFF) and navigations and time.monotonic() - navigations[-1] < _NAVIGATION_WINDOW:
        return False
    return "WebSocket" not in text  # closes with a reason (e.g. 4409: no container yet) are shown in the page


@pytest.fixture
def server(rivetr_server: Callable[..., Any]) -> Any:
    """A fresh ``rivetr serve`` (no user yet) with the dashboard plugin found through its entry point."""
    return rivetr_server(env=SERVER_ENV)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``rivetr serve`` per test module with the admin already set up (saves a start per test); tests
    using it must not depend on what the others created (unique names)."""
    server = start_server(tmp_path_factory.mktemp("rivetr") / "data", SERVER_ENV)
    response = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        headers={"Authorization": f"Bearer {server.token}"},  # proof of the server
    )
    assert response.status_code == 201, response.text
    yield server
    server.stop()
    server.remove_networks()
