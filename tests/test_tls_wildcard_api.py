"""GET /api/certificates/{domain} for a name an uploaded ``*.`` certificate serves: the wildcard, with
``covered_domain`` saying so; an exact certificate wins; deeper names and the apex are not covered.
In-process control plane (proxy off), real certificates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rivetr_core.tls.wildcard import covering_wildcard
from tests.support.pebble import cert_pem, key_pem, make_ca, make_leaf
from tests.support.server import ApiClient, make_config


def _upload_body(ca: Any, domain: str, names: list[str]) -> dict[str, str]:
    key, leaf = make_leaf(ca[0], ca[1], names, not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    return {"domain": domain, "certificate": cert_pem(leaf) + cert_pem(ca[1]), "private_key": key_pem(key)}


def test_covering_wildcard() -> None:
    assert covering_wildcard("a.example.com") == "*.example.com"
    assert covering_wildcard("A.Example.COM.") == "*.example.com"
    assert covering_wildcard("x.y.example.com") == "*.y.example.com"
    assert covering_wildcard("example.com") is None  # no *.com
    assert covering_wildcard("*.example.com") is None
    assert covering_wildcard("localhost") is None


async def test_a_domain_served_by_a_wildcard_says_so(tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    ca = make_ca("Wildcard Test CA")
    app = create_app(make_config(tmp_path / "data", proxy={"enabled": False}), load_entrypoints=False)
    async with app.test_app():
        api = ApiClient(app)
        status, _ = await api.post("/api/certificates", json=_upload_body(ca, "*.wild.test", ["*.wild.test"]))
        assert status == 201
        for name in ("a.wild.test", "b.wild.test"):
            status, cert = await api.get(f"/api/certificates/{name}")
            assert status == 200, cert
            assert cert["domain"] == "*.wild.test" and cert["covered_domain"] == name
            assert cert["status"] == "valid"
        for name in ("x.y.wild.test", "wild.test"):
            status, err = await api.get(f"/api/certificates/{name}")
            assert status == 404 and err["error"]["code"] == "not_found", err
        # The wildcard asked for by its own name, and an exact certificate: no covered_domain.
        status, cert = await api.get("/api/certificates/*.wild.test")
        assert status == 200 and cert["covered_domain"] is None
        status, _ = await api.post(
            "/api/certificates", json=_upload_body(ca, "exact.wild.test", ["exact.wild.test"])
        )
        assert status == 201
        status, cert = await api.get("/api/certificates/exact.wild.test")
        assert cert["domain"] == "exact.wild.test" and cert["covered_domain"] is None
        # Only GET follows the wildcard: deleting a covered name deletes nothing.
        status, _ = await api.delete("/api/certificates/a.wild.test")
        assert status == 404
        status, listing = await api.get("/api/certificates")
        assert {c["domain"] for c in listing["items"]} == {"*.wild.test", "exact.wild.test"}


async def test_the_list_names_the_routed_domains_a_wildcard_serves(tmp_path: Path) -> None:
    """``serves`` on a wildcard certificate: the routed names one label under it without a certificate of their
    own (an exact certificate wins, a deeper name or another zone is not served by it, paths count once)."""
    from rivetr_core.app import create_app

    ca = make_ca("Wildcard Test CA")
    app = create_app(make_config(tmp_path / "data", proxy={"enabled": False}), load_entrypoints=False)
    async with app.test_app():
        api = ApiClient(app)
        for key in (
            "a.wild.test",
            "b.wild.test",
            "b.wild.test/v1",
            "own.wild.test",
            "x.y.wild.test",
            "other.test",
        ):
            status, body = await api.post("/api/routes", json=_route(key))
            assert status in (200, 201), body
        for domain in ("*.wild.test", "own.wild.test"):
            status, _ = await api.post("/api/certificates", json=_upload_body(ca, domain, [domain]))
            assert status == 201
        status, listing = await api.get("/api/certificates")
        serves = {c["domain"]: c["serves"] for c in listing["items"]}
        assert serves == {"*.wild.test": ["a.wild.test", "b.wild.test"], "own.wild.test": []}
        status, cert = await api.get("/api/certificates/*.wild.test")
        assert cert["serves"] == ["a.wild.test", "b.wild.test"]


def _route(key: str) -> dict[str, Any]:
    domain, _, path = key.partition("/")
    body: dict[str, Any] = {"domain": domain, "upstreams": ["127.0.0.1:9"]}
    if path:
        body["path_prefix"] = "/" + path
    return body
