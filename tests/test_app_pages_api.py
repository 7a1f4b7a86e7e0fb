"""Maintenance mode and an app's own error pages through the API and a real proxy process (issue 22;
rivetr_core/apppages.py, docs/proxy-error-pages.md). The app's route is set as a deployment's switch sets it
(RouteService.set with the app's id), so no container engine is needed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.proxy import HttpBackend, free_port, http_get
from tests.support.server import ApiClient


@pytest.fixture
def backend() -> Any:
    b = HttpBackend("shop")
    yield b
    b.stop()


async def _app(api: ApiClient, name: str = "shop") -> str:
    status, app = await api.post(
        "/api/apps", json={"name": name, "domains": [f"{name}.example.com"], "git_url": "https://e.com/x.git"}
    )
    assert status == 201, app
    return str(app["id"])


async def _through(port: int, host: str) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(http_get, port, host, "/")


async def test_maintenance_on_and_off(routed: Any, backend: HttpBackend) -> None:
    api, port = routed
    app_id = await _app(api)
    await api.ctx.services.routes.set(
        "shop.example.com", [backend.address], app_id=app_id, https_redirect=False
    )
    assert (await _through(port, "shop.example.com"))[2] == b"shop"
    seen = backend.requests

    status, body = await api.post(
        f"/api/apps/{app_id}/maintenance", json={"enabled": True, "message": "Back at <5pm>"}
    )
    assert status == 200 and body["maintenance"] is True and body["message"] == "Back at <5pm>", body
    status, headers, page = await _through(port, "shop.example.com")
    assert status == 503 and headers["retry-after"] == "120"
    assert b"shop is under maintenance" in page and b"Back at &lt;5pm&gt;" in page
    assert backend.requests == seen  # the app is never reached

    # A deployment switching upstreams keeps maintenance on.
    await api.ctx.services.routes.set("shop.example.com", [backend.address], app_id=app_id)
    assert (await _through(port, "shop.example.com"))[0] == 503

    # The app's own maintenance page replaces the default one.
    status, body = await api.put(f"/api/apps/{app_id}/error-pages/maintenance", json={"html": "<h1>brb</h1>"})
    assert status == 200 and body["error_pages"] == {"maintenance": "<h1>brb</h1>"}
    assert (await _through(port, "shop.example.com"))[2] == b"<h1>brb</h1>"

    status, body = await api.post(f"/api/apps/{app_id}/maintenance", json={"enabled": False})
    assert status == 200 and body["maintenance"] is False
    assert (await _through(port, "shop.example.com"))[:3:2] == (200, b"shop")
    assert backend.requests == seen + 1
    status, body = await api.get(f"/api/apps/{app_id}/error-pages")
    assert status == 200 and body == {
        "maintenance": False,
        "message": None,
        "error_pages": {"maintenance": "<h1>brb</h1>"},
    }


async def test_custom_502_page_when_the_app_refuses(routed: Any) -> None:
    api, port = routed
    app_id = await _app(api)
    dead = f"127.0.0.1:{free_port()}"
    await api.ctx.services.routes.set("shop.example.com", [dead], app_id=app_id, https_redirect=False)
    status, _, page = await _through(port, "shop.example.com")
    assert status == 502 and b"rivetr" in page
    status, body = await api.put(f"/api/apps/{app_id}/error-pages/502", json={"html": "<h1>Oops</h1>"})
    assert status == 200, body
    status, headers, page = await _through(port, "shop.example.com")
    assert (status, page) == (502, b"<h1>Oops</h1>") and headers["content-type"].startswith("text/html")
    status, body = await api.delete(f"/api/apps/{app_id}/error-pages/502")
    assert status == 200 and body["error_pages"] == {}
    assert b"rivetr" in (await _through(port, "shop.example.com"))[2]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("error-pages/404", {"html": "<p>x</p>"}, "status"),
        ("error-pages/502", {"html": "x" * (64 * 1024 + 1)}, "html"),
        ("error-pages/502", {"html": ""}, "html"),
        ("maintenance", {"enabled": "yes"}, "enabled"),
        ("maintenance", {"enabled": True, "message": "m" * 501}, "message"),
    ],
)
async def test_bad_input_names_the_field(routed: Any, path: str, body: dict[str, Any], field: str) -> None:
    api, _ = routed
    app_id = await _app(api)
    method = api.put if path.startswith("error-pages") else api.post
    status, err = await method(f"/api/apps/{app_id}/{path}", json=body)
    assert status == 422, err
    assert field in str(err["error"]["details"]), err
    status, now = await api.get(f"/api/apps/{app_id}/error-pages")
    assert now == {"maintenance": False, "message": None, "error_pages": {}}  # nothing changed


async def test_unknown_app_is_404(routed: Any) -> None:
    api, _ = routed
    status, err = await api.post("/api/apps/nope/maintenance", json={"enabled": True})
    assert status == 404 and err["error"]["code"] == "not_found"


async def test_the_document_names_the_page_keys(routed: Any) -> None:
    api, _ = routed
    status, spec = await api.get("/openapi.json")
    assert status == 200
    params = spec["paths"]["/api/apps/{app_id}/error-pages/{status}"]["put"]["parameters"]
    key = next(p for p in params if p["name"] == "status")
    assert sorted(key["schema"]["enum"]) == ["502", "503", "504", "maintenance"]
