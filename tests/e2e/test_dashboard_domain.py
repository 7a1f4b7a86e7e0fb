"""``[server] dashboard_domain``: the proxy serves the dashboard and API on that domain over HTTPS, with a
certificate obtained by ACME like any app's, while the API port itself stays on loopback.

A real ``rivetr serve`` (API on 127.0.0.1), its real proxy process and Pebble: the certificate is ordered at
start, Pebble validates through the proxy's HTTP port, and then a browser-like client over TLS (chain checked
against Pebble's root) gets the dashboard, sets the instance up and receives ``Secure`` cookies — which the same
server does not set for plain HTTP straight to the API.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pebble import Pebble
from tests.support.proxy import free_port, http_get
from tests.support.server import ServerProcess, start_server

pytestmark = pytest.mark.slow

DOMAIN = "dash.e2e.test"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def dashboard_server(tmp_path: Path, pebble: Pebble) -> Iterator[tuple[ServerProcess, int]]:
    https_port = free_port()
    server = start_server(
        tmp_path / "data",
        {
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_SERVER__API_HOST": "127.0.0.1",
            "RIVETR_SERVER__DASHBOARD_DOMAIN": DOMAIN,
            "RIVETR_SERVER__PROXY_PORT": str(pebble.http_port),  # where Pebble's validator dials for http-01
            "RIVETR_SERVER__PROXY_HTTPS_PORT": str(https_port),
            "RIVETR_PROXY__ACME_ENABLED": "true",
            "RIVETR_PROXY__ACME_EMAIL": "ops@example.com",
            "RIVETR_PROXY__ACME_DIRECTORY_URL": pebble.directory_url,
            "RIVETR_PROXY__ACME_CA_BUNDLE": str(pebble.ca_bundle),
            "RIVETR_PROXY__ACME_RETRY_INITIAL": "1",
            "RIVETR_RATE_LIMIT__ENABLED": "false",
        },
        timeout=60,
    )
    try:
        yield server, https_port
    finally:
        server.stop()
        server.stop_proxy()


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookie name → its whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


def test_dashboard_over_https_through_the_proxy_with_secure_cookies(
    dashboard_server: tuple[ServerProcess, int], pebble: Pebble
) -> None:
    server, https_port = dashboard_server
    api_port = int(server.url.rsplit(":", 1)[1])
    with server.client(timeout=10) as api:
        deadline = time.monotonic() + 30
        cert: dict = {}
        while time.monotonic() < deadline:
            response = api.get(f"/api/certificates/{DOMAIN}")
            if response.status_code == 200 and (cert := response.json())["status"] == "valid":
                break
            time.sleep(0.1)
        assert cert.get("status") == "valid", (cert, server.log()[-3000:])
        assert cert["source"] == "acme" and cert["issuer"].startswith("Pebble") and cert["names"] == [DOMAIN]
        routes = api.get("/api/routes").json()["items"]
        route = next(r for r in routes if r["domain"] == DOMAIN)
        assert [u["address"] for u in route["upstreams"]] == [f"127.0.0.1:{api_port}"]
        assert route["app_id"] is None and route["https_redirect"] and route["has_certificate"]
        # The route comes from the configuration: it cannot be removed, replaced or claimed by an app.
        refused = api.delete(f"/api/routes/{DOMAIN}")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "dashboard_domain"
        refused = api.post("/api/routes", json={"domain": DOMAIN, "upstreams": ["127.0.0.1:9"]})
        assert refused.status_code == 409, refused.text
        refused = api.post(
            "/api/apps",
            json={"name": "grab", "git_url": "https://git.example.com/g.git", "domains": [DOMAIN]},
        )
        assert refused.status_code == 409 and "dashboard" in refused.json()["error"]["message"]

    # Plain HTTP on the proxy redirects to HTTPS.
    status, headers, _ = http_get(pebble.http_port, DOMAIN, "/login")
    assert status == 301 and headers["location"] == f"https://{DOMAIN}:{https_port}/login"

    tls = ssl.create_default_context(cadata=pebble.issuing_root_pem())
    base = f"https://127.0.0.1:{https_port}"
    sni = {"sni_hostname": DOMAIN}
    with httpx.Client(base_url=base, verify=tls, headers={"Host": DOMAIN}, timeout=10) as browser:
        page = browser.get("/setup", extensions=sni)
        assert page.status_code == 200 and 'name="setup_token"' in page.text
        csrf_cookie = set_cookies(page)["rivetr_csrf"]
        assert "Secure" in csrf_cookie and "HttpOnly" in csrf_cookie
        assert browser.get("/health", extensions=sni).status_code == 200  # the API answers here too

        unproven = browser.post(
            "/api/auth/setup", json={"username": "admin", "password": PASSWORD}, extensions=sni
        )
        assert unproven.status_code == 401 and unproven.json()["error"]["code"] == "setup_token_required"
        created = browser.post(
            "/api/auth/setup",
            json={"username": "admin", "password": PASSWORD, "setup_token": server.token},
            extensions=sni,
        )
        assert created.status_code == 201, created.text
        session_cookie = set_cookies(created)["rivetr_session"]
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie, session_cookie
        status = browser.get("/api/auth/status", extensions=sni).json()  # the cookie jar sends the session
        assert status["authenticated"] and status["via"] == "session"

    # The same server straight over plain HTTP (the loopback API port) sets no Secure cookie.
    direct = httpx.post(server.url + "/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert direct.status_code == 200, direct.text
    assert "Secure" not in set_cookies(direct)["rivetr_session"]
