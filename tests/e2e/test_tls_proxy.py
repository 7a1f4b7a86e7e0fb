"""HTTPS end to end: the real control plane, the real proxy-builtin data plane and a real Pebble CA.

Pebble's http-01 validator dials the proxy's HTTP port (``server.proxy_port = pebble.http_port``), so the
challenge answers go through the proxy exactly as in production. Test host names resolve nowhere: clients
connect to 127.0.0.1 and send the name as SNI / Host, verifying the chain against Pebble's issuing root.

Covered: ACME issuance with http-01 answered by the proxy, HTTPS with the chain verified against Pebble's
root, HTTP→HTTPS redirect and HSTS, forced renewal without dropping open connections, a failing CA leaving
the app on HTTP with the error in the API, custom certificates chosen by SNI, the self-signed fallback for
unknown names, TLS < 1.2 refused, WebSockets and a streamed download over TLS.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.pebble import (
    EventLog,
    Pebble,
    cert_pem,
    free_port,
    key_pem,
    make_ca,
    make_leaf,
    wait_for_certificate,
)
from tests.support.server import ApiClient, make_config

pytestmark = pytest.mark.slow


class Stack:
    def __init__(self, api: ApiClient, https_port: int, http_port: int, events: EventLog, tmp: Path) -> None:
        self.api, self.https_port, self.http_port, self.events, self.tmp = (
            api,
            https_port,
            http_port,
            events,
            tmp,
        )

    async def wait_cert(self, domain: str, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        return await wait_for_certificate(self.api, domain, predicate, timeout)

    async def route(self, domain: str, upstream: str, **flags: bool) -> None:
        body = {"domain": domain, "upstreams": [upstream], "https_redirect": True, **flags}
        status, answer = await self.api.post("/api/routes", json=body)
        assert status == 201, answer

    async def has_tls(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.https_port), 2)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def require_tls(self) -> None:
        # proxy-builtin terminates TLS since d0df33b: a missing listener is a regression, never a skip.
        assert await self.has_tls(), f"nothing listens on proxy_https_port {self.https_port}"


def trust(pem: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Conn:
    """A tiny HTTP/1.1 keep-alive client over asyncio streams (plain or TLS with an explicit SNI name)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, *, tls: ssl.SSLContext | None = None, sni: str | None = None) -> Conn:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=tls, server_hostname=sni if tls else None), 5
        )
        return cls(reader, writer)

    def peer_fingerprint(self) -> str:
        sslobj = self.writer.get_extra_info("ssl_object")
        return hashlib.sha256(sslobj.getpeercert(binary_form=True)).hexdigest()

    async def get(self, host: str, path: str = "/") -> tuple[int, dict[str, str], bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def close(self) -> None:
        self.writer.close()


@pytest.fixture
def stack_factory(tmp_path: Path, pebble: Pebble):  # type: ignore[no-untyped-def]
    import rivetr_proxy_builtin.plugin as builtin

    from rivetr_core.app import create_app

    @asynccontextmanager
    async def factory(**proxy: Any) -> AsyncIterator[Stack]:
        https_port = free_port()
        events = EventLog()
        config = make_config(
            tmp_path / "data",
            server={"host": "127.0.0.1", "proxy_port": pebble.http_port, "proxy_https_port": https_port},
            proxy={
                "enabled": True,
                "backend": "builtin",
                "acme_enabled": True,
                "acme_email": "ops@example.com",
                "acme_directory_url": pebble.directory_url,
                "acme_ca_bundle": str(pebble.ca_bundle),
                "acme_retry_initial": 0.5,
                "acme_retry_max": 2,
                "health_interval": 0.5,
                **proxy,
            },
        )
        app = create_app(config, plugins=[builtin, events], load_entrypoints=False)
        ctx = app.extensions["rivetr_ctx"]
        try:
            async with app.test_app():
                yield Stack(ApiClient(app), https_port, pebble.http_port, events, tmp_path)
        finally:
            if ctx.proxy is not None and hasattr(ctx.proxy, "shutdown"):
                await ctx.proxy.shutdown(timeout=5)  # stop() only detaches: the data plane outlives us

    return factory


@pytest.fixture
def upstream():  # type: ignore[no-untyped-def]
    from tests.support.proxy import HttpBackend

    backend = HttpBackend("tls-app")
    yield backend
    backend.stop()


async def test_acme_certificate_through_the_proxy(stack_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    """http-01 answered by the real proxy on its HTTP port; the certificate reaches the proxy."""
    domain = "shop.e2e.test"
    async with stack_factory() as s:
        started = time.monotonic()
        await s.route(domain, upstream.address)
        cert = await s.wait_cert(domain, lambda c: c["status"] == "valid")
        issued_in = time.monotonic() - started
        assert cert["issuer"].startswith("Pebble") and cert["last_error"] is None
        assert issued_in < 15, f"issuance through the proxy took {issued_in:.1f}s"
        status, routes = await s.api.get("/api/routes")
        assert routes["items"][0]["has_certificate"] is True, routes
        issued = [e for e in s.events.events if e.type == "certificate_issued"]
        assert [e.data["domain"] for e in issued] == [domain]

        conn = await Conn.open(s.http_port)
        status, headers, body = await conn.get(domain, "/some/path?q=1")
        await conn.close()
        # The route asked for https_redirect; now that the proxy holds a certificate it redirects.
        assert status == 301, (status, headers, body)
        assert headers["location"] == f"https://{domain}:{s.https_port}/some/path?q=1"


async def test_https_serves_the_acme_certificate(stack_factory, pebble: Pebble, upstream) -> None:  # type: ignore[no-untyped-def]
    domain = "secure.e2e.test"
    async with stack_factory() as s:
        await s.require_tls()
        await s.route(domain, upstream.address, hsts=True)
        cert = await s.wait_cert(domain, lambda c: c["status"] == "valid")

        conn = await Conn.open(s.http_port)
        status, headers, _ = await conn.get(domain, "/a?b=c")
        await conn.close()
        assert status == 301 and headers["location"] == f"https://{domain}:{s.https_port}/a?b=c"

        conn = await Conn.open(s.https_port, tls=trust(pebble.issuing_root_pem()), sni=domain)
        assert conn.peer_fingerprint() == cert["fingerprint_sha256"]
        assert conn.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        status, headers, body = await conn.get(domain)
        assert (status, body) == (200, b"tls-app")
        assert headers.get("strict-transport-security", "").startswith("max-age=")
        await conn.close()


async def test_failing_acme_leaves_the_app_on_http(stack_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    dead = f"https://127.0.0.1:{free_port()}/dir"
    domain = "down.e2e.test"
    async with stack_factory(acme_directory_url=dead) as s:
        await s.route(domain, upstream.address)
        cert = await s.wait_cert(domain, lambda c: c["failures"] >= 2)
        assert cert["status"] == "failed" and "cannot reach the ACME server" in cert["last_error"]
        status, listing = await s.api.get("/api/certificates")
        assert listing["items"][0]["last_error"] == cert["last_error"]
        # https_redirect is on, but without a certificate the app is served over plain HTTP.
        conn = await Conn.open(s.http_port)
        status, _, body = await conn.get(domain)
        await conn.close()
        assert (status, body) == (200, b"tls-app")
        failed = [e for e in s.events.events if e.type == "certificate_failed"]
        assert len(failed) >= 2 and failed[0].data["domain"] == domain


async def test_renewal_replaces_the_certificate_without_dropping_connections(  # type: ignore[no-untyped-def]
    stack_factory, pebble: Pebble, upstream
) -> None:
    domain = "renew.e2e.test"
    async with stack_factory() as s:
        await s.require_tls()
        await s.route(domain, upstream.address)
        first = await s.wait_cert(domain, lambda c: c["status"] == "valid")
        root = trust(pebble.issuing_root_pem())
        old = await Conn.open(s.https_port, tls=root, sni=domain)
        assert old.peer_fingerprint() == first["fingerprint_sha256"]
        assert (await old.get(domain))[0] == 200

        status, _ = await s.api.post(f"/api/certificates/{domain}/renew")
        assert status == 202
        second = await s.wait_cert(domain, lambda c: c["fingerprint_sha256"] != first["fingerprint_sha256"])
        # The open connection keeps working on its session...
        assert (await old.get(domain))[0] == 200
        await old.close()
        # ...and new handshakes get the new certificate (the proxy may take a moment to swap contexts).
        deadline = time.monotonic() + 5
        while True:
            new = await Conn.open(s.https_port, tls=root, sni=domain)
            fingerprint = new.peer_fingerprint()
            assert (await new.get(domain))[0] == 200
            await new.close()
            if fingerprint == second["fingerprint_sha256"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert fingerprint == second["fingerprint_sha256"]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_custom_certificate_and_unknown_sni(stack_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    domain = "custom.e2e.test"
    ca_key, ca = make_ca("E2E Custom CA")
    import datetime as dt

    key, leaf = make_leaf(ca_key, ca, [domain], not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    async with stack_factory(acme_enabled=False) as s:
        await s.require_tls()
        await s.route(domain, upstream.address)
        status, cert = await s.api.post(
            "/api/certificates",
            json={
                "domain": domain,
                "certificate": cert_pem(leaf) + cert_pem(ca),
                "private_key": key_pem(key),
            },
        )
        assert status == 201, cert
        # A bad upload changes nothing that is served.
        status, err = await s.api.post(
            "/api/certificates",
            json={"domain": domain, "certificate": cert_pem(leaf), "private_key": key_pem(make_ca("x")[0])},
        )
        assert status == 422 and err["error"]["details"][0]["field"] == "private_key"
        status, routes = await s.api.get("/api/routes")
        assert routes["items"][0]["has_certificate"] is True  # the proxy holds the uploaded certificate

        conn = await Conn.open(s.https_port, tls=trust(cert_pem(ca)), sni=domain)
        assert conn.peer_fingerprint() == cert["fingerprint_sha256"]
        assert (await conn.get(domain))[:3:2] == (200, b"tls-app")
        await conn.close()

        # Unknown SNI: a self-signed fallback, so a verifying client fails cleanly and at once, never hangs.
        started = time.monotonic()
        with pytest.raises(ssl.SSLCertVerificationError):
            await Conn.open(s.https_port, tls=trust(cert_pem(ca)), sni="unknown.e2e.test")
        assert time.monotonic() - started < 3
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        conn = await Conn.open(s.https_port, tls=insecure, sni="unknown.e2e.test")
        assert conn.peer_fingerprint() != cert["fingerprint_sha256"]
        await conn.close()

        # Old protocol versions are refused.
        old_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old_tls.check_hostname, old_tls.verify_mode = False, ssl.CERT_NONE
        old_tls.minimum_version = old_tls.maximum_version = ssl.TLSVersion.TLSv1_1
        old_tls.set_ciphers("ALL:@SECLEVEL=0")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await Conn.open(s.https_port, tls=old_tls, sni=domain)

        # Deleting the certificate withdraws it: the domain falls back to the self-signed certificate.
        status, _ = await s.api.delete(f"/api/certificates/{domain}")
        assert status == 204
        with pytest.raises(ssl.SSLCertVerificationError):
            await Conn.open(s.https_port, tls=trust(cert_pem(ca)), sni=domain)


async def test_websockets_and_streaming_over_tls(stack_factory, upstream) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from websockets.asyncio.client import connect

    from tests.support.proxy import WsBackend

    ca_key, ca = make_ca("E2E Stream CA")
    key, leaf = make_leaf(
        ca_key, ca, ["*.e2e.test"], not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    )
    ws_backend = WsBackend("tls-ws")
    try:
        async with stack_factory(acme_enabled=False) as s:
            await s.require_tls()
            for domain, address in (("ws.e2e.test", ws_backend.address), ("dl.e2e.test", upstream.address)):
                await s.route(domain, address)
                body = {"domain": domain, "certificate": cert_pem(leaf), "private_key": key_pem(key)}
                assert (await s.api.post("/api/certificates", json=body))[0] == 201
            tls = trust(cert_pem(ca))

            async with connect(
                "wss://ws.e2e.test/chat",
                host="127.0.0.1",
                port=s.https_port,
                ssl=tls,
                server_hostname="ws.e2e.test",
                open_timeout=5,
            ) as ws:
                for i in range(3):
                    await ws.send(f"hello {i}")
                    assert await asyncio.wait_for(ws.recv(), 5) == f"tls-ws:hello {i}"

            size = 20 * 1024 * 1024
            conn = await Conn.open(s.https_port, tls=tls, sni="dl.e2e.test")
            started = time.monotonic()
            status, _headers, body = await conn.get("dl.e2e.test", f"/download?size={size}")
            elapsed = time.monotonic() - started
            await conn.close()
            assert status == 200 and len(body) == size and body.count(b"x") == size
            assert elapsed < 20, f"20 MB over TLS took {elapsed:.1f}s"
    finally:
        ws_backend.stop()
