"""Automatic domains (issue 22, rivetr_core.autodomains): ``[proxy] base_domain`` gives every app
``<app>.<project>.<base>``, ``auto_domains = "sslip"`` without one ``<app>-<project>.<ip>.sslip.io``. Through
the real app with the FAKE runtime (its containers are real HTTP servers): the generated name is a route of the
deployed app, follows renames of the app and its project, goes with the app, is switched off per app, yields to
another owner of the same host with the reason shown, and a real proxy process routes it to the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core import autodomains
from rivetr_core.testing import FakeRuntime
from tests.support.proxy import http_get
from tests.support.server import ApiClient, api_on, make_config
from tests.test_webhooks import hooks_factory  # noqa: F401

IMAGE = "registry.example.com/team/web:1"
BASE = "apps.example.test"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello from web")
    config = make_config(tmp_path / "data", proxy={"base_domain": BASE})
    async with api_on(fake_runtime, config) as client:
        yield client


async def create(api: ApiClient, name: str, **fields: Any) -> dict[str, Any]:
    code, app = await api.post(
        "/api/apps", json={"name": name, "source": {"kind": "image", "image": IMAGE}, "port": 8080, **fields}
    )
    assert code == 201, app
    return app  # type: ignore[no-any-return]


async def deploy(api: ApiClient, app_id: str) -> None:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        while dep["status"] not in ("running", "failed", "cancelled"):
            await asyncio.sleep(0.02)
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
    assert dep["status"] == "running", dep


async def routes(api: ApiClient) -> dict[str, str | None]:
    """Stored route → the app owning it."""
    return {r.domain: r.app_id for r in await api.ctx.services.routes.list()}


async def project(api: ApiClient, name: str) -> str:
    code, body = await api.post("/api/projects", json={"name": name})
    assert code == 201, body
    return body["id"]  # type: ignore[no-any-return]


async def test_generated_name_is_routed_and_follows_renames(api: ApiClient) -> None:
    shop = await project(api, "shop")
    web = await create(api, "web", project_id=shop)
    # shown before any deploy: it is what the app will get
    assert web["auto_domain"] is True
    assert web["default_domain"] == {
        "domain": f"web.shop.{BASE}",
        "kind": "base",
        "active": True,
        "skipped": None,
        "url": f"http://web.shop.{BASE}/",
    }
    loose = await create(api, "loose")  # no project: <app>.<base>
    assert loose["default_domain"]["domain"] == f"loose.{BASE}"

    await deploy(api, web["id"])
    assert (await routes(api)).get(f"web.shop.{BASE}") == web["id"]
    route = await api.ctx.services.routes.get(f"web.shop.{BASE}")
    assert route.upstreams, route  # pointed at the running container

    # an explicit domain sits beside it
    code, body = await api.put(f"/api/apps/{web['id']}", json={"domains": ["www.example.test"]})
    assert code == 200, body
    assert body["domains"] == ["www.example.test"] and body["default_domain"]["active"] is True
    assert {k for k, v in (await routes(api)).items() if v == web["id"]} == {
        "www.example.test",
        f"web.shop.{BASE}",
    }

    code, body = await api.put(f"/api/apps/{web['id']}", json={"name": "front"})
    assert code == 200, body
    assert body["default_domain"]["domain"] == f"front.shop.{BASE}"
    owned = {k for k, v in (await routes(api)).items() if v == web["id"]}
    assert owned == {"www.example.test", f"front.shop.{BASE}"}, owned

    code, body = await api.put(f"/api/projects/{shop}", json={"name": "store"})
    assert code == 200, body
    owned = {k for k, v in (await routes(api)).items() if v == web["id"]}
    assert owned == {"www.example.test", f"front.store.{BASE}"}, owned
    code, body = await api.get(f"/api/apps/{web['id']}")
    assert body["default_domain"]["domain"] == f"front.store.{BASE}"

    # moving the app out of its project moves the name too
    code, body = await api.put(f"/api/apps/{web['id']}", json={"project_id": None})
    assert code == 200, body
    owned = {k for k, v in (await routes(api)).items() if v == web["id"]}
    assert owned == {"www.example.test", f"front.{BASE}"}, owned

    code, _ = await api.delete(f"/api/apps/{web['id']}")
    assert code in (200, 202, 204)
    for _ in range(300):  # the deletion finishes in the background
        if web["id"] not in (await routes(api)).values():
            break
        await asyncio.sleep(0.05)
    assert f"front.{BASE}" not in await routes(api)


async def test_switched_off_per_app(api: ApiClient) -> None:
    web = await create(api, "web")
    await deploy(api, web["id"])
    assert f"web.{BASE}" in await routes(api)

    code, body = await api.put(f"/api/apps/{web['id']}", json={"auto_domain": False})
    assert code == 200, body
    assert body["auto_domain"] is False
    assert body["default_domain"]["active"] is False
    assert "turned off" in body["default_domain"]["skipped"]
    assert f"web.{BASE}" not in await routes(api)

    code, body = await api.put(f"/api/apps/{web['id']}", json={"auto_domain": True})
    assert code == 200 and body["default_domain"]["active"] is True
    assert (await routes(api)).get(f"web.{BASE}") == web["id"]

    code, body = await api.put(f"/api/apps/{web['id']}", json={"auto_domain": None})
    assert code == 422 and body["error"]["details"], body

    other = await create(api, "quiet", auto_domain=False)  # off from the start
    await deploy(api, other["id"])
    assert f"quiet.{BASE}" not in await routes(api)


async def test_another_owner_of_the_host_wins(api: ApiClient) -> None:
    shop = await project(api, "shop")
    # another app claims what web's generated name will be: web's is skipped, with the reason
    squatter = await create(api, "squatter", domains=[f"web.shop.{BASE}"])
    await deploy(api, squatter["id"])
    web = await create(api, "web", project_id=shop)
    assert web["default_domain"]["active"] is False
    assert web["default_domain"]["skipped"] == f"web.shop.{BASE} is already another app's domain"
    await deploy(api, web["id"])
    assert (await routes(api)).get(f"web.shop.{BASE}") == squatter["id"]

    # once published, an explicit domain of another app on it is refused
    api2 = await create(api, "api", project_id=shop)
    await deploy(api, api2["id"])
    assert (await routes(api)).get(f"api.shop.{BASE}") == api2["id"]
    code, body = await api.put(f"/api/apps/{squatter['id']}", json={"domains": [f"api.shop.{BASE}"]})
    assert code == 409, body
    assert "domains" in str(body["error"]["details"]), body
    assert (await routes(api)).get(f"api.shop.{BASE}") == api2["id"]


async def test_sslip_names(tmp_path: Path, fake_runtime: FakeRuntime) -> None:
    fake_runtime.publish(IMAGE, body="x")
    config = make_config(
        tmp_path / "data", proxy={"auto_domains": "sslip"}, server={"public_ip": "203.0.113.7"}
    )
    async with api_on(fake_runtime, config) as api:
        shop = await project(api, "shop")
        web = await create(api, "web", project_id=shop)
        assert web["default_domain"]["domain"] == "web-shop.203-0-113-7.sslip.io"
        assert web["default_domain"]["kind"] == "sslip"
        loose = await create(api, "loose")
        assert loose["default_domain"]["domain"] == "loose.203-0-113-7.sslip.io"
        await deploy(api, web["id"])
        assert (await routes(api)).get("web-shop.203-0-113-7.sslip.io") == web["id"]


async def test_off_by_default(tmp_path: Path, fake_runtime: FakeRuntime) -> None:
    """Without base_domain (and sslip not asked for) nothing is generated: an upgrade publishes no new names."""
    fake_runtime.publish(IMAGE, body="x")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as api:
        web = await create(api, "web")
        assert web["default_domain"] is None
        await deploy(api, web["id"])
        assert await routes(api) == {}


def test_sslip_labels_and_detection() -> None:
    assert autodomains.sslip_label("10.1.2.3") == "10-1-2-3"
    assert autodomains.sslip_label("2a01:4f8:c17:b8f::2") == "2a01-4f8-c17-b8f--2"
    detected = autodomains.detect_public_ip()
    if detected is not None:  # a machine without a default route has none
        import ipaddress

        assert not ipaddress.ip_address(detected).is_loopback


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    from rivetr_core.config import ConfigError

    for sections in (
        {"proxy": {"base_domain": "not a domain"}},
        {"proxy": {"auto_domains": "sometimes"}},
        {"server": {"public_ip": "999.1.1.1"}},
    ):
        with pytest.raises((ConfigError, ValueError)):
            make_config(tmp_path / "data", **sections)


async def test_real_proxy_routes_the_generated_name(tmp_path: Path, fake_runtime: FakeRuntime) -> None:
    fake_runtime.publish(IMAGE, body="hello from web")
    config = make_config(
        tmp_path / "data",
        proxy={"enabled": True, "base_domain": BASE},
        plugins={"proxy-builtin": {"keep_running": False}},
    )
    async with api_on(fake_runtime, config) as api:
        shop = await project(api, "shop")
        web = await create(api, "web", project_id=shop)
        await deploy(api, web["id"])
        port = api.ctx.proxy.port
        status, _, body = await asyncio.to_thread(http_get, port, f"web.shop.{BASE}", "/")
        assert (status, body) == (200, b"hello from web")
        code, _ = await api.put(f"/api/apps/{web['id']}", json={"name": "front"})
        assert code == 200
        status, _, body = await asyncio.to_thread(http_get, port, f"front.shop.{BASE}", "/")
        assert (status, body) == (200, b"hello from web")
        status, _, _ = await asyncio.to_thread(http_get, port, f"web.shop.{BASE}", "/")
        assert status == 404


def test_no_acme_for_sslip_names_unless_asked() -> None:
    from rivetr_core.tls.manager import acme_eligible

    assert acme_eligible(f"web.shop.{BASE}", sslip=False)  # base names: ACME as for explicit domains
    assert not acme_eligible("web-shop.203-0-113-7.sslip.io", sslip=False)  # [proxy] acme_sslip = false
    assert acme_eligible("web-shop.203-0-113-7.sslip.io", sslip=True)
    assert make_config(Path("/nonexistent")).proxy.acme_sslip is False


async def test_pr_preview_apps_get_no_generated_name(hooks_factory: Any) -> None:  # noqa: F811
    """A preview app is served at its pr-<n> preview domain only: no <site-pr-7>.<base> name as well."""
    from tests.test_webhook_previews import GH, fixture, preview_app

    hooks = await hooks_factory(proxy={"preview_domain": "preview.example.com", "base_domain": BASE})
    app_id = await hooks.app("site")
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202, body
    code, page = await hooks.api.get(f"/api/apps/{app_id}/previews")
    assert code == 200, page
    preview_id = page["items"][0]["preview_app_id"]
    app, _env, domains = await preview_app(hooks, preview_id)
    assert app.auto_domain is False and domains == ["pr-7.site.preview.example.com"]
    assert await autodomains.published_name(hooks.api.ctx, preview_id) is None
    assert await autodomains.published_name(hooks.api.ctx, app_id) == f"site.{BASE}"  # the base app keeps its
