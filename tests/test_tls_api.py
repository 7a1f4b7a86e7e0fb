"""Certificates through the API and the manager, against a real Pebble.

The control plane runs in-process; its proxy backend is :class:`tests.support.pebble.ChallengeProxy` — a real
HTTP listener on Pebble's http-01 port that records the certificates core pushes (the data-plane side, TLS
served to clients, is covered by ``tests/e2e/test_tls_proxy.py`` with the real proxy).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import at_rest
from tests.support.pebble import (
    ChallengeProxy,
    EventLog,
    Pebble,
    cert_pem,
    challenge_proxy_plugin,
    free_port,
    key_pem,
    make_ca,
    make_leaf,
    wait_for_certificate,
)
from tests.support.server import ApiClient, make_config


class Harness:
    def __init__(self, api: ApiClient, proxy: ChallengeProxy, events: EventLog) -> None:
        self.api, self.proxy, self.events = api, proxy, events

    async def cert(self, domain: str) -> dict[str, Any]:
        status, body = await self.api.get(f"/api/certificates/{domain}")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def wait_for(
        self, domain: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        return await wait_for_certificate(self.api, domain, predicate, timeout)

    async def add_route(self, domain: str) -> None:
        status, body = await self.api.post(
            "/api/routes", json={"domain": domain, "upstreams": ["127.0.0.1:9"], "https_redirect": True}
        )
        assert status == 201, body


def _acme_settings(pebble: Pebble, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "backend": "acme-test",
        "acme_enabled": True,
        "acme_email": "ops@example.com",
        "acme_directory_url": pebble.directory_url,
        "acme_ca_bundle": str(pebble.ca_bundle),
        "acme_check_interval": 3600,
        "acme_retry_initial": 0.3,
        "acme_retry_max": 2,
        **overrides,
    }


@pytest.fixture
def harness_factory(tmp_path: Path, pebble: Pebble):  # type: ignore[no-untyped-def]
    from contextlib import asynccontextmanager

    from rivetr_core.app import create_app

    @asynccontextmanager
    async def factory(data_dir: Path | None = None, **proxy: Any) -> AsyncIterator[Harness]:
        challenge = ChallengeProxy(pebble.http_port)
        events = EventLog()
        config = make_config(data_dir or tmp_path / "data", proxy=proxy or _acme_settings(pebble))
        # Entry-point plugins are not needed here: the proxy backend and event sink are passed directly.
        app = create_app(config, plugins=[challenge_proxy_plugin(challenge), events], load_entrypoints=False)
        async with app.test_app():
            yield Harness(ApiClient(app), challenge, events)

    return factory


async def test_route_gets_acme_certificate_in_background(harness_factory, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        started = time.monotonic()
        await h.add_route("app1.example.test")
        # The row is there at once (pending), before anything was issued.
        status, listing = await h.api.get("/api/certificates")
        assert status == 200
        assert [c["domain"] for c in listing["items"]] == ["app1.example.test"]
        assert listing["items"][0]["source"] == "acme"
        cert = await h.wait_for("app1.example.test", lambda c: c["status"] == "valid")
        elapsed = time.monotonic() - started
        assert cert["issuer"].startswith("Pebble Intermediate CA")
        assert cert["names"] == ["app1.example.test"] and cert["last_error"] is None and cert["failures"] == 0
        assert dt.datetime.fromisoformat(cert["not_after"].replace("Z", "+00:00")) > dt.datetime.now(dt.UTC)
        # Pushed to the proxy; the route reports it; an event went out.
        pushed_chain, pushed_key = h.proxy.certificates["app1.example.test"]
        assert "BEGIN CERTIFICATE" in pushed_chain and "PRIVATE KEY" in pushed_key
        status, routes = await h.api.get("/api/routes")
        assert routes["items"][0]["has_certificate"] is True
        assert [e.level for e in h.events.of("certificate_issued", "app1.example.test")] == ["success"]
        assert elapsed < 10, f"issuance took {elapsed:.1f}s"
        # The key is never in an API answer.
        assert "PRIVATE" not in str(listing) and "PRIVATE" not in str(await h.cert("app1.example.test"))


async def test_key_encrypted_at_rest_and_pushed_again_at_start(harness_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "persist"
    async with harness_factory(data) as h:
        await h.add_route("persist.example.test")
        await h.wait_for("persist.example.test", lambda c: c["status"] == "valid")
        chain, key = h.proxy.certificates["persist.example.test"]
    ((stored_key, stored_chain),) = at_rest.query(
        make_config(data),
        "SELECT key_encrypted, cert_pem FROM certificates WHERE domain = ?",
        "persist.example.test",
    )
    ((account_key,),) = at_rest.query(make_config(data), "SELECT key_encrypted FROM acme_accounts")
    assert stored_key.startswith("v1:") and "PRIVATE" not in stored_key
    assert account_key.startswith("v1:") and "PRIVATE" not in account_key
    assert stored_chain == chain
    # A restart pushes the stored certificate before anything else, without a new order.
    async with harness_factory(data) as h2:
        assert h2.proxy.certificates["persist.example.test"] == (chain, key)
        cert = await h2.cert("persist.example.test")
        assert cert["status"] == "valid"
        await asyncio.sleep(0.3)
        assert h2.proxy.certificates["persist.example.test"][0] == chain  # not re-issued


async def test_forced_renewal_replaces_the_certificate(harness_factory) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        await h.add_route("renew.example.test")
        first = await h.wait_for("renew.example.test", lambda c: c["status"] == "valid")
        status, body = await h.api.post("/api/certificates/renew.example.test/renew")
        assert status == 202, body
        second = await h.wait_for(
            "renew.example.test", lambda c: c["fingerprint_sha256"] != first["fingerprint_sha256"]
        )
        assert second["status"] == "valid"
        assert h.proxy.certificates["renew.example.test"][0] != ""  # the proxy holds the new one
        from rivetr_core.tls.pem import info_from_pem

        pushed = info_from_pem(h.proxy.certificates["renew.example.test"][0])
        assert pushed.fingerprint_sha256 == second["fingerprint_sha256"]
        renewals = [e for e in h.events.of("certificate_issued", "renew.example.test") if e.data["renewal"]]
        assert len(renewals) == 1


async def _age(h: Harness, domain: str, *, lifetime_days: float, left_days: float) -> None:
    """Make the stored certificate look like one of ``lifetime_days`` with ``left_days`` to go (Pebble's own
    certificates last five years, so the renewal window is reached this way)."""
    from rivetr_core.models.tls import Certificate

    now = dt.datetime.now(dt.UTC)
    async with h.api.ctx.db.session() as session:
        row = await session.get(Certificate, domain)
        row.not_before = now - dt.timedelta(days=lifetime_days - left_days)
        row.not_after = now + dt.timedelta(days=left_days)
        session.add(row)
        await session.commit()


async def test_periodic_check_renews_inside_the_window(harness_factory, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    settings = _acme_settings(pebble, acme_check_interval=0.3)
    async with harness_factory(**settings) as h:
        await h.add_route("periodic.example.test")
        first = await h.wait_for("periodic.example.test", lambda c: c["status"] == "valid")
        # A 90-day certificate with 40 days left is outside the 30-day window: checks leave it alone.
        await _age(h, "periodic.example.test", lifetime_days=90, left_days=40)
        await asyncio.sleep(1)
        assert (await h.cert("periodic.example.test"))["fingerprint_sha256"] == first["fingerprint_sha256"]
        # A 6-day certificate with 3 days left: inside 30 days but not inside a third of its life, so no renewal
        # storm against a CA issuing short-lived certificates.
        await _age(h, "periodic.example.test", lifetime_days=6, left_days=3)
        await asyncio.sleep(1)
        assert (await h.cert("periodic.example.test"))["fingerprint_sha256"] == first["fingerprint_sha256"]
        # 10 days left of 90: the next periodic check renews it.
        await _age(h, "periodic.example.test", lifetime_days=90, left_days=10)
        assert (await h.cert("periodic.example.test"))["status"] == "expiring"
        second = await h.wait_for(
            "periodic.example.test",
            lambda c: c["fingerprint_sha256"] != first["fingerprint_sha256"],
            timeout=10,
        )
        assert second["status"] == "valid" and second["issued_at"] > first["issued_at"]
        assert h.proxy.certificates["periodic.example.test"][0].startswith("-----BEGIN CERTIFICATE-----")
        await asyncio.sleep(1)  # and it is not renewed again and again
        assert (await h.cert("periodic.example.test"))["fingerprint_sha256"] == second["fingerprint_sha256"]


async def test_routes_from_before_acme_get_certificates_and_account_is_reused(  # type: ignore[no-untyped-def]
    harness_factory, pebble: Pebble, tmp_path: Path
) -> None:
    data = tmp_path / "later"
    async with harness_factory(data, **_acme_settings(pebble, acme_enabled=False)) as h:
        await h.add_route("early.example.test")
        await asyncio.sleep(0.2)
        assert (await h.api.get("/api/certificates"))[1]["items"] == []
    async with harness_factory(data) as h:  # ACME switched on: the existing route gets a certificate
        await h.wait_for("early.example.test", lambda c: c["status"] == "valid")
    accounts = at_rest.query(make_config(data), "SELECT account_url FROM acme_accounts")
    async with harness_factory(data) as h:
        await h.add_route("early2.example.test")
        await h.wait_for("early2.example.test", lambda c: c["status"] == "valid")
    assert at_rest.query(make_config(data), "SELECT account_url FROM acme_accounts") == accounts  # one, kept
    assert len(accounts) == 1 and accounts[0][0].startswith("https://127.0.0.1")


async def test_unreachable_acme_server_is_visible_and_retried(harness_factory, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    dead = f"https://127.0.0.1:{free_port()}/dir"
    async with harness_factory(**_acme_settings(pebble, acme_directory_url=dead)) as h:
        await h.add_route("down.example.test")
        cert = await h.wait_for("down.example.test", lambda c: c["failures"] >= 3, timeout=15)
        assert cert["status"] == "failed"
        assert "cannot reach the ACME server" in cert["last_error"] and dead in cert["last_error"]
        assert cert["next_attempt_at"] is not None
        assert "down.example.test" not in h.proxy.certificates  # the app stays on plain HTTP
        failed = h.events.of("certificate_failed", "down.example.test")
        assert len(failed) >= 3 and failed[0].level == "failure"
        assert [e.data["failures"] for e in failed[:3]] == [1, 2, 3]
        # Back-off: each failure schedules the next attempt 0.3 s, 0.6 s, 1.2 s later (capped at 2 s), and no
        # attempt comes before its time.
        assert [e.data["retry_in_seconds"] for e in failed[:3]] == [0.3, 0.6, 1.2]
        for earlier, later in itertools.pairwise(failed[:3]):
            assert later.ts >= dt.datetime.fromisoformat(earlier.data["next_attempt_at"])
        _status, routes = await h.api.get("/api/routes")
        assert routes["items"][0]["has_certificate"] is False


async def test_failing_validation_is_visible(harness_factory, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory(**_acme_settings(pebble, acme_retry_initial=30)) as h:
        await h.proxy.stop()  # nothing answers Pebble's http-01 requests any more
        await h.add_route("refused.example.test")
        cert = await h.wait_for("refused.example.test", lambda c: c["last_error"] is not None)
        assert "http-01 validation of refused.example.test failed" in cert["last_error"]
        assert cert["status"] == "failed" and cert["failures"] == 1
        # A forced retry skips the 30 s back-off and succeeds once the challenge is served again.
        await h.proxy.start()
        status, _ = await h.api.post("/api/certificates/refused.example.test/renew")
        assert status == 202
        cert = await h.wait_for("refused.example.test", lambda c: c["status"] == "valid")
        assert cert["last_error"] is None and cert["failures"] == 0


async def test_wildcard_route_gets_no_acme_order(harness_factory) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        await h.add_route("*.wild.example.test")
        await asyncio.sleep(0.3)
        _status, listing = await h.api.get("/api/certificates")
        assert listing["items"] == []


async def test_pending_orders_are_dropped_when_acme_is_switched_off(  # type: ignore[no-untyped-def]
    harness_factory, pebble: Pebble, tmp_path: Path
) -> None:
    data = tmp_path / "off"
    dead = f"https://127.0.0.1:{free_port()}/dir"
    async with harness_factory(
        data, **_acme_settings(pebble, acme_directory_url=dead, acme_retry_initial=30)
    ) as h:
        await h.add_route("never.example.test")
        await h.wait_for("never.example.test", lambda c: c["status"] == "failed")
    async with harness_factory(data, **_acme_settings(pebble, acme_enabled=False)) as h:
        assert (await h.api.get("/api/certificates"))[1]["items"] == []


async def test_route_removed_before_issuance_stops_the_order(harness_factory, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    dead = f"https://127.0.0.1:{free_port()}/dir"
    async with harness_factory(**_acme_settings(pebble, acme_directory_url=dead, acme_retry_initial=30)) as h:
        await h.add_route("gone.example.test")
        await h.wait_for("gone.example.test", lambda c: c["failures"] == 1)
        status, _ = await h.api.delete("/api/routes/gone.example.test")
        assert status == 204
        status, listing = await h.api.get("/api/certificates")
        assert listing["items"] == []


# ------------------------------------------------------------------------------------------ custom certificates
@pytest.fixture(scope="module")
def ca():  # type: ignore[no-untyped-def]
    return make_ca("Custom Test CA")


def _upload_body(ca, domain: str, names: list[str], **kw: Any) -> dict[str, str]:  # type: ignore[no-untyped-def]
    kw.setdefault("not_after", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    key, leaf = make_leaf(*ca, names, **kw)
    return {"domain": domain, "certificate": cert_pem(leaf) + cert_pem(ca[1]), "private_key": key_pem(key)}


async def test_custom_upload_good(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        body = _upload_body(ca, "shop.custom.test", ["*.custom.test"])
        status, cert = await h.api.post("/api/certificates", json=body)
        assert status == 201, cert
        assert cert["source"] == "custom" and cert["status"] == "valid" and cert["issuer"] == "Custom Test CA"
        assert cert["names"] == ["*.custom.test"]
        # A wildcard certificate for the wildcard name itself, addressed by that name in the path.
        status, wild = await h.api.post(
            "/api/certificates", json=_upload_body(ca, "*.custom.test", ["*.custom.test"])
        )
        assert status == 201 and wild["domain"] == "*.custom.test"
        assert (await h.api.delete("/api/certificates/*.custom.test"))[0] == 204
        assert "*.custom.test" not in h.proxy.certificates
        assert h.proxy.certificates["shop.custom.test"][0].count("BEGIN CERTIFICATE") == 2
        # A route for the domain does not start an ACME order over an uploaded certificate.
        await h.add_route("shop.custom.test")
        await asyncio.sleep(0.3)
        assert (await h.cert("shop.custom.test"))["source"] == "custom"
        status, err = await h.api.post("/api/certificates/shop.custom.test/renew")
        assert status == 409 and err["error"]["code"] == "custom_certificate"
        # Delete: withdrawn from the proxy, and ACME takes the routed domain over.
        status, _ = await h.api.delete("/api/certificates/shop.custom.test")
        assert status == 204
        assert (
            "shop.custom.test" not in h.proxy.certificates
            or h.proxy.certificates["shop.custom.test"][0] != body["certificate"]
        )
        cert = await h.wait_for(
            "shop.custom.test", lambda c: c["source"] == "acme" and c["status"] == "valid"
        )
        assert cert["issuer"].startswith("Pebble")


async def test_custom_upload_replaces_acme(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        await h.add_route("swap.example.test")
        await h.wait_for("swap.example.test", lambda c: c["status"] == "valid")
        status, cert = await h.api.post(
            "/api/certificates", json=_upload_body(ca, "swap.example.test", ["swap.example.test"])
        )
        assert status == 201 and cert["source"] == "custom"


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (
            lambda b, ca: {
                **b,
                "private_key": _upload_body(ca, "x.test", ["app.custom.test"])["private_key"],
            },
            "private_key",
            "does not match",
        ),
        (
            lambda b, ca: {**b, "domain": "other.custom.test"},
            "certificate",
            "does not cover 'other.custom.test'",
        ),
        (
            lambda b, ca: _upload_body(
                ca,
                "app.custom.test",
                ["app.custom.test"],
                not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=9),
                not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
            ),
            "certificate",
            "expired on",
        ),
        (lambda b, ca: {**b, "certificate": "not a pem"}, "certificate", "must be a PEM certificate chain"),
        (
            lambda b, ca: {
                **b,
                "private_key": "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----",
            },
            "private_key",
            "not a valid PEM private key",
        ),
        (lambda b, ca: {**b, "domain": "bad_domain!.test"}, "domain", "not a valid host name"),
        (lambda b, ca: {k: v for k, v in b.items() if k != "private_key"}, "private_key", "required"),
    ],
)
async def test_custom_upload_bad(harness_factory, ca, mutate, field, fragment) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        body = mutate(_upload_body(ca, "app.custom.test", ["app.custom.test"]), ca)
        status, err = await h.api.post("/api/certificates", json=body)
        assert status == 422, err
        assert err["error"]["code"] == "validation_error"
        assert err["error"]["details"][0]["field"] == field
        assert fragment.lower() in err["error"]["message"].lower()
        status, listing = await h.api.get("/api/certificates")
        assert listing["items"] == [] and h.proxy.certificates == {}  # nothing stored on a bad upload


async def test_unknown_and_invalid_paths(harness_factory) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        for method, path in [
            ("GET", "/api/certificates/nope.example.test"),
            ("DELETE", "/api/certificates/nope.example.test"),
            ("POST", "/api/certificates/nope.example.test/renew"),
        ]:
            status, err = await h.api.request(method, path)
            assert status == 404 and err["error"]["code"] == "not_found", (method, path, err)
        # Not a host name: nothing can be stored under it, so 404 like any unknown domain (the message says why).
        status, err = await h.api.get("/api/certificates/not_a_domain")
        assert status == 404 and "not a fully qualified host name" in err["error"]["message"]
        status, _ = await h.api.get("/api/certificates", auth=False)
        assert status == 401


async def test_nothing_requested_when_acme_is_off(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]
    # Proxy off, ACME off (the defaults): uploads still validate and store; routes start no order.
    async with harness_factory(enabled=False) as h:
        await _acme_off_checks(h.api, ca)


async def _acme_off_checks(api: ApiClient, ca) -> None:  # type: ignore[no-untyped-def]
    status, _cert = await api.post(
        "/api/certificates", json=_upload_body(ca, "off.example.test", ["off.example.test"])
    )
    assert status == 201
    status, _ = await api.post(
        "/api/routes", json={"domain": "acmeoff.example.test", "upstreams": ["127.0.0.1:9"]}
    )
    assert status == 201
    status, listing = await api.get("/api/certificates")
    assert [c["domain"] for c in listing["items"]] == ["off.example.test"]
    status, err = await api.post("/api/certificates/off.example.test/renew")
    assert status == 409 and err["error"]["code"] == "custom_certificate"


async def test_openapi_documents_the_endpoints(harness_factory) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory(enabled=False) as h:
        status, spec = await h.api.get("/openapi.json")
    assert status == 200
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/certificates"])
    assert "delete" in paths["/api/certificates/{domain}"] and "get" in paths["/api/certificates/{domain}"]
    assert "post" in paths["/api/certificates/{domain}/renew"]
    upload = paths["/api/certificates"]["post"]
    assert "201" in upload["responses"] and "requestBody" in upload


async def test_upload_refused_by_the_proxy_stores_nothing(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]
    from rivetr_core.contract import ProxyError

    async with harness_factory() as h:

        async def refuse(domain: str, cert_pem: str, key_pem: str) -> None:
            raise ProxyError("proxy control socket is gone")

        h.proxy.set_certificate = refuse  # type: ignore[method-assign]
        status, err = await h.api.post(
            "/api/certificates", json=_upload_body(ca, "refused.custom.test", ["refused.custom.test"])
        )
        assert status == 502 and err["error"]["code"] == "proxy_error", err
        assert (await h.api.get("/api/certificates"))[1]["items"] == []


async def test_expiring_upload_is_reported_once_a_day(harness_factory, ca, pebble: Pebble) -> None:  # type: ignore[no-untyped-def]
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    settings = _acme_settings(pebble, acme_enabled=False, acme_check_interval=0.2)
    async with harness_factory(**settings) as h:
        # A 90-day certificate with 5 days left.
        body = _upload_body(
            ca,
            "soon.custom.test",
            ["soon.custom.test"],
            not_before=soon - dt.timedelta(days=90),
            not_after=soon,
        )
        status, cert = await h.api.post("/api/certificates", json=body)
        assert status == 201 and cert["status"] == "expiring"
        ok = _upload_body(ca, "fine.custom.test", ["fine.custom.test"])
        assert (await h.api.post("/api/certificates", json=ok))[0] == 201
        await asyncio.sleep(1)  # the upload wakes the check at once; several more checks run meanwhile
        warnings = h.events.of("certificate_failed", "soon.custom.test")
        assert len(warnings) == 1, warnings
        assert warnings[0].level == "warning" and warnings[0].data["source"] == "custom"
        assert "expires on" in warnings[0].message and "upload a renewed one" in warnings[0].message
        assert h.events.of("certificate_failed", "fine.custom.test") == []


async def test_many_domains_at_once_all_get_certificates(harness_factory) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory() as h:
        domains = [f"bulk{i}.example.test" for i in range(6)]
        started = time.monotonic()
        for domain in domains:
            await h.add_route(domain)
        for domain in domains:
            await h.wait_for(domain, lambda c: c["status"] == "valid")
        assert set(h.proxy.certificates) == set(domains)
        assert time.monotonic() - started < 15
        issued = [e.data["domain"] for e in h.events.events if e.type == "certificate_issued"]
        assert sorted(issued) == sorted(domains)  # one order per domain, none repeated


async def test_start_withdraws_certificates_deleted_while_the_proxy_was_away(
    harness_factory, ca, pebble
) -> None:  # type: ignore[no-untyped-def]
    async with harness_factory(**_acme_settings(pebble, acme_enabled=False)) as h:
        await h.add_route("stray.example.test")
        await h.add_route("kept.example.test")
        body = _upload_body(ca, "kept.example.test", ["kept.example.test"])
        assert (await h.api.post("/api/certificates", json=body))[0] == 201
        # The proxy holds a certificate the database does not (its DELETE never reached the proxy).
        h.proxy.certificates["stray.example.test"] = ("chain", "key")
        assert await h.api.ctx.services["certificates"].push_all() == 1
        assert set(h.proxy.certificates) == {"kept.example.test"}
