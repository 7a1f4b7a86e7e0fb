"""An app's domain gets HTTPS without the user doing anything: a real ``rivetr serve`` with ACME on against
Pebble, a real git daemon and Docker. Deploy → the pipeline sets the app route (redirect on by default) →
the certificate manager orders a certificate, Pebble validates through the proxy's HTTP port → the app is
served over HTTPS (chain verified against Pebble's root) and plain HTTP redirects to it."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time

import pytest

from tests.support.pebble import Pebble
from tests.support.proxy import free_port, http_get

pytestmark = pytest.mark.slow


def https_get(port: int, host: str, root_pem: str, path: str = "/") -> tuple[int, bytes, str]:
    """GET over TLS to 127.0.0.1 with ``host`` as SNI and Host; returns (status, body, leaf sha256)."""

    async def run() -> tuple[int, bytes, str]:
        ctx = ssl.create_default_context(cadata=root_pem)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host), 10
        )
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(-1), 10)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body, hashlib.sha256(der).hexdigest()

    return asyncio.run(run())


def test_app_domain_gets_a_certificate_and_https(e2e, git_server, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    https_port = free_port()
    rivetr = e2e(
        "docker",
        proxy_port=pebble.http_port,  # where Pebble's validator dials for http-01
        RIVETR_SERVER__PROXY_HTTPS_PORT=str(https_port),
        RIVETR_PROXY__ACME_ENABLED="true",
        RIVETR_PROXY__ACME_EMAIL="ops@example.com",
        RIVETR_PROXY__ACME_DIRECTORY_URL=pebble.directory_url,
        RIVETR_PROXY__ACME_CA_BUNDLE=str(pebble.ca_bundle),
        RIVETR_PROXY__ACME_RETRY_INITIAL="1",
    )
    repo = git_server.create_repo("tlsapp", message="v1")
    repo.write("www/index.html", "secure hello\n")
    repo.commit("content")
    app = rivetr.create_app(repo, "tlsapp")
    host = "tlsapp.e2e.test"

    started = time.monotonic()
    rivetr.deploy_and_wait(app["id"])
    deployed = time.monotonic() - started
    deadline = time.monotonic() + 30
    cert: dict = {}
    while time.monotonic() < deadline:
        response = rivetr.api.get(f"/api/certificates/{host}")
        if response.status_code == 200:
            cert = response.json()
            if cert["status"] == "valid":
                break
        time.sleep(0.1)
    assert cert.get("status") == "valid", cert
    assert cert["source"] == "acme" and cert["issuer"].startswith("Pebble") and cert["names"] == [host]

    routes = {r["domain"]: r for r in rivetr.api.get("/api/routes").json()["items"]}
    assert routes[host]["app_id"] == app["id"]
    assert routes[host]["https_redirect"] is True  # default on for app routes
    assert routes[host]["has_certificate"] is True

    status, headers, _ = http_get(rivetr.proxy_port, host, "/index.html")
    assert status == 301 and headers["location"] == f"https://{host}:{https_port}/index.html"

    status, body, fingerprint = https_get(https_port, host, pebble.issuing_root_pem())
    assert (status, body) == (200, b"secure hello\n")
    assert fingerprint == cert["fingerprint_sha256"]
    assert deployed < 120
