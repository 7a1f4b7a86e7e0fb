"""The certificates page in Chromium against a real ``rivetr serve`` (ACME off): a self-signed certificate made with
``cryptography`` for an app's domain is uploaded from files through the form and listed with its issuer, kind,
expiry and the under-14-days warning, linked to its app; a bad PEM shows the API's error next to the field and
stores nothing; "Renew now" on an ACME certificate while ACME is off shows the API's ``acme_disabled`` message;
Delete asks first, then the row is gone. At 390 px nothing is wider than the screen.

With a real Pebble CA (a second server, with its proxy answering http-01 on Pebble's port): "Renew now" on an issued
ACME certificate gets a new one, and the row shows its new issue time once the CA has answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.certs import acme_row_left_behind, self_signed
from tests.support.pebble import Pebble
from tests.support.proxy import free_port
from tests.support.server import ServerProcess, start_server
from ui.tests.browser_helpers import ADMIN_PASSWORD, ADMIN_USER, login, screenshot

pytestmark = pytest.mark.browser

DOMAIN = "certs-web.example.test"
ACME_DOMAIN = "acme-left.example.test"


def _api(server: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30)


def test_certificates_page_uploads_refuses_renews_and_deletes(
    shared_server: Any, page: Any, tmp_path: Path
) -> None:
    server = shared_server
    with _api(server) as api:
        created = api.post(
            "/api/apps",
            json={"name": "certs-web", "source": {"kind": "image", "image": "nginx:1"}, "domains": [DOMAIN]},
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]
    acme_row_left_behind(
        server.data_dir, ACME_DOMAIN, days=40, last_error="urn:ietf:params:acme:error:dns: NXDOMAIN"
    )

    login(page, server.url)
    page.click("#nav-certificates")
    page.wait_for_url(server.url + "/certificates")
    expect(page.locator("#nav-certificates")).to_have_attribute("aria-current", "page")
    expect(page.locator("#acme-state")).to_contain_text("ACME is off")
    acme = page.locator(f"#certificate-table tr[data-domain='{ACME_DOMAIN}']")
    expect(acme.locator("[data-kind]")).to_have_text("ACME")
    expect(acme.locator("[data-issuer]")).to_have_text("Test ACME CA")
    expect(acme.locator("[data-last-error]")).to_contain_text("NXDOMAIN")
    expect(acme.locator("[data-days-left]")).to_have_text("39 days left")
    expect(acme.locator("[data-expiry-warning]")).to_have_count(0)
    # The app's domain has no certificate yet: the upload form offers it.
    expect(page.locator(f"#cert-domains option[value='{DOMAIN}']")).to_have_count(1)

    # A bad PEM: the API's message next to the certificate field, nothing stored.
    cert, key = self_signed(DOMAIN, days=10.5)
    page.fill("#cert-domain", DOMAIN)
    page.fill("#cert-pem", "not a certificate")
    page.fill("#cert-key", key)
    page.click("#certificate-upload button[type=submit]")
    expect(page.locator("#certificate-upload [data-error-for=certificate]")).to_contain_text(
        "Must be a PEM certificate chain"
    )
    with _api(server) as api:
        assert api.get(f"/api/certificates/{DOMAIN}").status_code == 404

    # Chosen files fill the text areas; the upload lists it with its issuer and the expiry warning.
    (tmp_path / "site.crt").write_text(cert)
    (tmp_path / "site.key").write_text(key)
    page.fill("#cert-key", "")
    page.set_input_files("#cert-file", str(tmp_path / "site.crt"))
    page.set_input_files("#cert-key-file", str(tmp_path / "site.key"))
    expect(page.locator("#cert-pem")).to_have_value(cert)
    expect(page.locator("#cert-key")).to_have_value(key)
    page.click("#certificate-upload button[type=submit]")
    row = page.locator(f"#certificate-table tr[data-domain='{DOMAIN}']")
    expect(row.locator("[data-issuer]")).to_have_text("Rivetr Test")
    expect(row.locator("[data-kind]")).to_have_text("custom")
    expect(row.locator("[data-status]")).to_have_text("valid")
    expect(row.locator("[data-expiry-warning]")).to_have_text("10 days left")
    expect(row.locator(f"a[href='/apps/{app_id}']")).to_have_text("certs-web")
    expect(row.locator("[data-renew]")).to_have_count(0)  # an upload is replaced, not renewed
    expect(page.locator("#cert-pem")).to_have_value("")  # the form was reset
    assert "PRIVATE KEY" not in page.locator("#certificates").inner_text()
    with _api(server) as api:
        stored = api.get(f"/api/certificates/{DOMAIN}").json()
    assert (stored["source"], stored["issuer"]) == ("custom", "Rivetr Test")
    screenshot(page, "certificates")

    # Renew now on the ACME certificate: ACME is off, the row says so in the API's words.
    acme.locator("[data-renew]").click()
    expect(acme.locator("[data-renew-result]")).to_contain_text("ACME is not active")

    # Delete asks first; cancelling keeps it, confirming removes it.
    row.locator("button:has-text('Delete')").click()
    expect(page.locator("#confirm-dialog [data-message]")).to_contain_text(
        f"Delete the certificate of {DOMAIN}?"
    )
    page.click("#confirm-dialog [data-cancel]")
    expect(row).to_have_count(1)
    row.locator("button:has-text('Delete')").click()
    page.click("#confirm-dialog [data-ok]")
    expect(row).to_have_count(0)
    with _api(server) as api:
        assert api.get(f"/api/certificates/{DOMAIN}").status_code == 404
        assert api.get(f"/api/certificates/{ACME_DOMAIN}").status_code == 200

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(acme).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "certificates-phone")


def test_a_wildcard_row_names_the_routed_domains_it_serves(shared_server: Any, page: Any) -> None:
    server = shared_server
    cert, key = self_signed("*.serves-web.example.test")
    with _api(server) as api:
        for domain in ("shop.serves-web.example.test", "blog.serves-web.example.test"):
            routed = api.post("/api/routes", json={"domain": domain, "upstreams": ["127.0.0.1:9"]})
            assert routed.status_code in (200, 201), routed.text
        up = api.post(
            "/api/certificates",
            json={"domain": "*.serves-web.example.test", "certificate": cert, "private_key": key},
        )
        assert up.status_code == 201, up.text
    login(page, server.url)
    page.goto(server.url + "/certificates")
    row = page.locator("#certificate-table tr[data-domain='*.serves-web.example.test']")
    expect(row.locator("[data-serves]")).to_have_text(
        "serves blog.serves-web.example.test, shop.serves-web.example.test"
    )


PEBBLE_DOMAIN = "renew.pebble.test"


@pytest.fixture
def acme_server(tmp_path: Path, pebble: Pebble) -> Iterator[ServerProcess]:
    """A server with its proxy on Pebble's http-01 port and ACME on, the admin set up."""
    server = start_server(
        tmp_path / "data",
        {
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_SERVER__PROXY_PORT": str(pebble.http_port),  # where Pebble's validator dials
            "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
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
        with _api(server) as api:
            made = api.post("/api/auth/setup", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
            assert made.status_code == 201, made.text
        yield server
    finally:
        server.stop()
        server.stop_proxy()


def _issued(server: ServerProcess) -> dict[str, Any]:
    """The domain's certificate once Pebble issued it (the order runs in the background)."""
    deadline = time.monotonic() + 60
    cert: dict[str, Any] = {}
    with _api(server) as api:
        while time.monotonic() < deadline:
            response = api.get(f"/api/certificates/{PEBBLE_DOMAIN}")
            if response.status_code == 200 and (cert := response.json())["status"] == "valid":
                return cert
            time.sleep(0.2)
    raise AssertionError(f"no certificate from Pebble: {cert}\n{server.log()[-3000:]}")


@pytest.mark.slow
def test_renew_now_gets_a_new_acme_certificate(acme_server: ServerProcess, page: Any) -> None:
    server = acme_server
    with _api(server) as api:
        routed = api.post("/api/routes", json={"domain": PEBBLE_DOMAIN, "upstreams": ["127.0.0.1:9"]})
        assert routed.status_code == 201, routed.text
    first = _issued(server)
    assert first["source"] == "acme" and first["issuer"].startswith("Pebble")

    login(page, server.url)
    page.goto(server.url + "/certificates")
    expect(page.locator("#acme-state")).to_contain_text("ACME is on")
    row = page.locator(f"#certificate-table tr[data-domain='{PEBBLE_DOMAIN}']")
    expect(row.locator("[data-kind]")).to_have_text("ACME")
    expect(row.locator("[data-issuer]")).to_contain_text("Pebble")
    renew = row.locator("[data-renew]")
    expect(renew).to_have_attribute("data-issued", first["issued_at"])
    renew.click()
    # The page watches the certificate until the CA answered, then lists it again with its new issue time.
    expect(page.locator("#toasts")).to_contain_text(
        f"Renewed the certificate of {PEBBLE_DOMAIN}.", timeout=60_000
    )
    expect(renew).not_to_have_attribute("data-issued", first["issued_at"])
    expect(row.locator("[data-last-error]")).to_have_text("—")
    with _api(server) as api:
        renewed = api.get(f"/api/certificates/{PEBBLE_DOMAIN}").json()
    assert renewed["issued_at"] != first["issued_at"]
    assert renewed["fingerprint_sha256"] != first["fingerprint_sha256"]
    expect(renew).to_have_attribute("data-issued", renewed["issued_at"])
