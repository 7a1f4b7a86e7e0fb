"""RouteService pieces the TLS work relies on: HTTPS flag defaults (on for app routes, kept across deploys)
and route-change listeners (how the certificate manager learns about new domains)."""

from __future__ import annotations

from pathlib import Path

from rivetr_core.db import Database
from rivetr_core.models.core import ProxyRoute
from rivetr_core.routing import RouteService


async def _service(tmp_path: Path) -> RouteService:
    db = Database.for_data_dir(tmp_path)
    await db.startup()
    return RouteService(db, None)


async def test_app_routes_redirect_by_default_and_keep_flags_across_switches(tmp_path: Path) -> None:
    routes = await _service(tmp_path)
    try:
        row = await routes.set("app.example.com", ["127.0.0.1:5000"], app_id="app1")
        assert (row.https_redirect, row.hsts) == (True, False)
        # The user turns the redirect off and HSTS on; the next deploy switches upstreams without flags.
        await routes.set(
            "app.example.com", ["127.0.0.1:5000"], app_id="app1", https_redirect=False, hsts=True
        )
        row = await routes.set("app.example.com", ["127.0.0.1:5001"], app_id="app1")
        assert (row.https_redirect, row.hsts, row.upstreams) == (False, True, ["127.0.0.1:5001"])
        stored = await routes.get("app.example.com")
        assert stored is not None and (stored.https_redirect, stored.hsts) == (False, True)
        # Manual routes default to plain HTTP; explicit values always win.
        manual = await routes.set("manual.example.com", ["127.0.0.1:6000"])
        assert (manual.https_redirect, manual.hsts) == (False, False)
        manual = await routes.set("manual.example.com", ["127.0.0.1:6000"], https_redirect=True)
        assert manual.https_redirect is True
    finally:
        await routes.db.close()


async def test_listeners_hear_sets_and_removals_and_cannot_break_them(tmp_path: Path) -> None:
    routes = await _service(tmp_path)
    heard: list[tuple[str, bool]] = []

    async def broken(domain: str, row: ProxyRoute | None) -> None:
        raise RuntimeError("listener bug")

    async def record(domain: str, row: ProxyRoute | None) -> None:
        heard.append((domain, row is not None))

    routes.add_listener(broken)
    routes.add_listener(record)
    try:
        await routes.set("a.example.com", ["127.0.0.1:1"])
        assert await routes.remove("a.example.com") is True
        assert await routes.remove("a.example.com") is False  # nothing removed: nobody is told
        assert heard == [("a.example.com", True), ("a.example.com", False)]
        assert await routes.get("a.example.com") is None
    finally:
        await routes.db.close()
