"""``GET /health`` (issue 14 hole 7): anonymous callers learn only the component states; the details (version,
engine, proxy pid and ports, error texts) need a credential; component checks are cached so a flood of
anonymous probes costs the engines nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rivetr_core.app import create_app
from rivetr_core.testing import FakeRuntime
from tests.support.server import AUTH, ApiClient, make_config

STATES = {"ok", "unavailable", "disabled"}


async def _broken_runtime() -> FakeRuntime:
    """Select_runtime stand-in: the engine answers with an error that names a path (must not leak)."""
    runtime = FakeRuntime("docker")
    runtime.failures["info"] = RuntimeError("cannot connect to /secret/run/docker.sock: permission denied")
    return runtime


async def test_anonymous_health_has_states_only(config_factory: Any) -> None:
    app = create_app(config_factory())
    async with app.test_app():
        api = ApiClient(app)
        api.ctx.runtime = _broken_runtime
        response = await api.client.get("/health")
        text = await response.get_data(as_text=True)
        body = json.loads(text)
        assert response.status_code == 503, text
        assert set(body) == {"status", "database", "runtime", "proxy"}, body
        assert body["status"] == "degraded"
        assert body["runtime"] == "unavailable"
        assert all(body[k] in STATES for k in ("database", "runtime", "proxy")), body
        data_dir = str(api.ctx.config.server.data_dir)
        for leak in ("/secret/run", "permission denied", data_dir, "pid", "version", "port"):
            assert leak not in text, f"anonymous /health shows {leak!r}: {text}"


async def test_details_need_a_token(config_factory: Any) -> None:
    app = create_app(config_factory())
    async with app.test_app():
        api = ApiClient(app)
        api.ctx.runtime = _broken_runtime
        status, body = await api.get("/health")  # admin token
        assert status == 503
        assert body["version"]
        assert body["runtime"] == "unavailable"
        assert "permission denied" in body["details"]["runtime"]["error"]
        assert body["details"]["proxy"] == {"ok": True, "enabled": False}
        status, body = await api.get("/health", auth=False, headers={"Authorization": "Bearer wrong"})
        assert "details" not in body and "version" not in body


async def test_component_checks_are_cached(tmp_path: Any) -> None:
    app = create_app(make_config(tmp_path / "d"))
    async with app.test_app():
        ctx = app.extensions["rivetr_ctx"]
        calls = 0
        real_ping = ctx.db.ping

        async def counting_ping() -> bool:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)  # a slow check: concurrent callers must share it, not stack up
            return await real_ping()

        ctx.db.ping = counting_ping
        client = app.test_client()
        responses = await asyncio.gather(*(client.get("/health") for _ in range(200)))
        assert {r.status_code for r in responses} <= {200, 503}
        for _ in range(200):
            await client.get("/health", headers=AUTH)
        assert calls == 1, f"{calls} database checks for 400 /health calls within the cache window"
