"""ACME and uploaded wildcard certificates, against a real Pebble: a routed name an uploaded ``*.`` certificate
serves gets no ACME order (the wildcard keeps serving it; an ACME certificate would win over it), a pending order
is dropped when such a wildcard arrives, and deleting the wildcard hands the name to ACME again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.test_tls_api import _upload_body, ca, harness_factory  # noqa: F401 - fixtures used by name

WILD = "*.cov.example.test"


async def test_names_served_by_an_uploaded_wildcard_get_no_acme_order(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    async with harness_factory() as h:
        status, _ = await h.api.post("/api/certificates", json=_upload_body(ca, WILD, [WILD]))
        assert status == 201
        await h.add_route("a.cov.example.test")
        await h.add_route("other.example.test")  # not covered: ACME serves it
        # Once the uncovered name has its certificate, the sweep has seen both routes.
        await h.wait_for("other.example.test", lambda c: c["source"] == "acme" and c["status"] == "valid")
        cert: dict[str, Any] = await h.cert("a.cov.example.test")
        assert cert["domain"] == WILD and cert["covered_domain"] == "a.cov.example.test"
        _, listing = await h.api.get("/api/certificates")
        assert {c["domain"] for c in listing["items"]} == {WILD, "other.example.test"}

        # Deleting the wildcard: ACME takes the name it served over.
        assert (await h.api.delete(f"/api/certificates/{WILD}"))[0] == 204
        cert = await h.wait_for(
            "a.cov.example.test", lambda c: c["source"] == "acme" and c["status"] == "valid"
        )
        assert cert["domain"] == "a.cov.example.test" and cert["covered_domain"] is None


async def test_a_pending_order_is_dropped_when_a_covering_wildcard_is_uploaded(harness_factory, ca) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from rivetr_core.tls.manager import covered_by_upload

    async with harness_factory() as h:
        manager = h.api.ctx.services.certificates
        # A routed name whose order waits (its next attempt later): as when the wildcard comes after the route.
        await manager.store.ensure_acme("b.cov.example.test")
        await manager.store.schedule("b.cov.example.test", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        await h.add_route("b.cov.example.test")
        status, _ = await h.api.post("/api/certificates", json=_upload_body(ca, WILD, [WILD]))
        assert status == 201
        rows = {r.domain: r for r in await manager.store.list()}
        assert covered_by_upload("b.cov.example.test", rows)
        assert not covered_by_upload("x.b.cov.example.test", rows) and not covered_by_upload(
            "cov.example.test", rows
        )
        await manager.sweep()
        assert await manager.store.get("b.cov.example.test") is None
        assert (await h.cert("b.cov.example.test"))["domain"] == WILD
