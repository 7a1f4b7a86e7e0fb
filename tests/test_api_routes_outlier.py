"""Passive health seen through the API: an upstream the real built-in proxy ejected (here: one that refuses
connections, its requests retried on the other so no client sees an error) shows ``ejected_until`` and
``ejections`` in ``GET /api/routes``, and the OpenAPI document describes both fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.proxy import free_port, http_get
from tests.support.server import ApiClient, make_config


async def test_an_ejected_upstream_shows_in_get_api_routes(tmp_path: Path, backend_factory: Any) -> None:
    from rivetr_core.app import create_app

    good = backend_factory("good")
    dead = f"127.0.0.1:{free_port()}"
    config = make_config(
        tmp_path / "data",
        proxy={"enabled": True},
        plugins={
            "proxy-builtin": {
                "keep_running": False,
                "health_interval": 60,
                "outlier_consecutive_failures": 2,
                "outlier_base_ejection": 120,
            }
        },
    )
    app = create_app(config)
    async with app.test_app():
        api = ApiClient(app)
        status, body = await api.post(
            "/api/routes", json={"domain": "eject.test", "upstreams": [dead, good.address]}
        )
        assert status == 201, body
        status, st = await api.get("/api/proxy")
        assert status == 200, st
        # Refused connections are retried on the other upstream: the client never sees them.
        assert [http_get(st["port"], "eject.test")[:3:2] for _ in range(6)] == [(200, b"good")] * 6
        status, page = await api.get("/api/routes")
        assert status == 200, page
        route = next(r for r in page["items"] if r["domain"] == "eject.test")
        ups = {u["address"]: u for u in route["upstreams"]}
        assert ups[dead]["ejections"] == 1 and ups[dead]["ejected_until"].endswith("Z")
        assert ups[good.address]["ejections"] == 0 and ups[good.address]["ejected_until"] is None
        status, doc = await api.get("/openapi.json")
        props = doc["components"]["schemas"]["UpstreamOut"]["properties"]
        assert {"ejected_until", "ejections"} <= set(props)
