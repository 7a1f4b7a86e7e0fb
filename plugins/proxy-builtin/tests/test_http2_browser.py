"""Chromium loads an app through the proxy's TLS listener over HTTP/2 (ALPN h2), and over HTTP/1.1 with
HTTP/2 turned off."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.parametrize(("http2", "expected"), [(True, "h2"), (False, "http/1.1")])
def test_chromium_loads_an_app_over_h2(proxy_factory, backend_factory, http2, expected):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does it)")
    from playwright.sync_api import sync_playwright

    b = backend_factory("browser-app")
    p = proxy_factory(http2=http2)
    p.set_route("h2.test", b.address)
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--ignore-certificate-errors",  # the proxy's self-signed fallback certificate
        "--host-resolver-rules=MAP h2.test 127.0.0.1",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            response = page.goto(f"https://h2.test:{p.https_port}/")
            assert response is not None and response.status == 200
            assert page.content().count("browser-app") == 1
            assert page.evaluate("performance.getEntries()[0].nextHopProtocol") == expected
        finally:
            browser.close()
