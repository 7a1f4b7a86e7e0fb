"""``GET /api/proxy`` and ``POST /api/proxy/restart`` against the real built-in proxy (its own processes): the
status names the running master, a restart hands the same port to a new master that keeps the routes, the
permission and the proxy-off answers, and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.proxy import http_get
from tests.support.server import ApiClient, make_config


def _app(data_dir: Path, **proxy: Any) -> Any:
    from rivetr_core.app import create_app

    config = make_config(
        data_dir,
        proxy={"enabled": True, **proxy},
        plugins={"proxy-builtin": {"keep_running": False, "health_interval": 60}},
    )
    return create_app(config)


async def test_status_and_restart_through_the_api(tmp_path: Path, backend_factory: Any) -> None:
    b = backend_factory("via-api")
    app = _app(tmp_path / "data")
    async with app.test_app():
        api = ApiClient(app)
        status, st = await api.get("/api/proxy")
        assert status == 200, st
        assert st["enabled"] and st["running"] and st["backend"] == "builtin" and st["error"] is None
        assert st["pid"] and st["workers"] == st["workers_ready"] == 1 and st["port"] and st["version"]
        assert st["uptime"] >= 0 and len(st["worker_pids"]) == 1
        status, _ = await api.post("/api/routes", json={"domain": "api.proxy.test", "upstreams": [b.address]})
        assert status == 201
        status, st = await api.get("/api/proxy")
        assert st["routes"] >= 1
        status, res = await api.post("/api/proxy/restart")
        assert status == 200, res
        assert res["restarted"] and res["previous_pid"] == st["pid"] and res["pid"] != st["pid"]
        assert res["status"]["pid"] == res["pid"] and res["status"]["port"] == st["port"]
        assert res["status"]["routes"] == st["routes"]
        assert http_get(st["port"], "api.proxy.test")[2] == b"via-api"  # same port, same routes
        status, after = await api.get("/api/proxy")
        assert after["pid"] == res["pid"] and after["running"]


async def test_proxy_off_and_permissions(tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"), load_entrypoints=False)
    async with app.test_app():
        api = ApiClient(app)
        status, st = await api.get("/api/proxy")
        assert status == 200 and st["enabled"] is False and st["pid"] is None and st["running"] is False
        status, err = await api.post("/api/proxy/restart")
        assert status == 409 and err["error"]["code"] == "proxy_disabled"
        status, _ = await api.get("/api/proxy", auth=False)
        assert status == 401
        status, doc = await api.get("/openapi.json")
        assert {"get"} <= set(doc["paths"]["/api/proxy"]) and "post" in doc["paths"]["/api/proxy/restart"]
        from rivetr_core.authz.routes import CORE_ROUTES

        assert CORE_ROUTES["proxy_api.restart"] == "server"
        assert CORE_ROUTES["proxy_api.get_proxy"] == "read"
