"""An app's load balancer over its replicas (issue 23): ``round_robin`` (default) or ``least_conn``, set on app
create/update, refused with a field error otherwise, carried on every route of the app that reaches the proxy
(one push, the start-up table, and at once on a change, without a deployment), and shown and set by
``rivetr apps load-balancer``. What the proxy does with it: plugins/proxy-builtin/tests/test_load_balancer.py."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from rivetr_core.contract import Route
from rivetr_core.routing import RouteService
from tests.support.server import ApiClient

DOMAIN = "lb.example.test"
UPSTREAMS = ["127.0.0.1:9001", "127.0.0.1:9002"]


class RecordingProxy:
    """Only what RouteService calls: the pushed table."""

    def __init__(self) -> None:
        self.table: dict[str, Route] = {}
        self.pushes = 0

    async def replace_routes(self, routes: list[Route]) -> None:
        self.table = {r.domain: r for r in routes}

    async def set_route(self, route: Route) -> None:
        self.pushes += 1
        self.table[route.domain] = route

    async def remove_route(self, domain: str) -> None:
        self.table.pop(domain, None)


async def _create(api: ApiClient, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"name": "web", "source": {"kind": "image", "image": "registry.example.com/web:1"}, "port": 8080}
    return await api.post("/api/apps", json={**body, **fields})  # type: ignore[no-any-return]


async def test_load_balancer_is_validated_shown_and_carried_on_the_apps_routes(api: ApiClient) -> None:
    for bad in ("random", 3, None):
        code, body = await _create(api, load_balancer=bad)
        assert code == 422, body
        assert set(body["error"]) >= {"code", "message", "details"}
        assert "load_balancer" in str(body["error"]["details"]), body

    code, app = await _create(api, load_balancer="least_conn")
    assert code == 201 and app["load_balancer"] == "least_conn", app
    code, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["load_balancer"] == "least_conn"
    code, listed = await api.get("/api/apps")
    assert [a["load_balancer"] for a in listed["items"]] == ["least_conn"]

    proxy = RecordingProxy()
    routes = RouteService(api.ctx.db, proxy)  # type: ignore[arg-type]
    await routes.set(DOMAIN, UPSTREAMS, app_id=app["id"])  # one push (what a deployment's switch does)
    assert proxy.table[DOMAIN].load_balancer == "least_conn"
    await routes.set("manual.example.test", UPSTREAMS)  # a route of no app: the default
    assert proxy.table["manual.example.test"].load_balancer == "round_robin"
    proxy.table.clear()
    await routes.restore()  # the whole table (start-up, proxy back)
    assert proxy.table[DOMAIN].load_balancer == "least_conn"
    assert proxy.table["manual.example.test"].load_balancer == "round_robin"

    # A change reaches the proxy at once (no deployment), through the app's own route service.
    api.ctx.services.routes.proxy = proxy
    pushes = proxy.pushes
    code, updated = await api.put(f"/api/apps/{app['id']}", json={"load_balancer": "round_robin"})
    assert code == 200 and updated["load_balancer"] == "round_robin", updated
    assert proxy.pushes > pushes and proxy.table[DOMAIN].load_balancer == "round_robin"
    code, body = await api.put(f"/api/apps/{app['id']}", json={"load_balancer": "fewest"})
    assert code == 422 and "load_balancer" in str(body["error"]["details"]), body
    code, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["load_balancer"] == "round_robin"  # the refused change changed nothing

    code, doc = await api.get("/openapi.json")
    schema = doc["components"]["schemas"]
    assert any("least_conn" in str(s.get("properties", {}).get("load_balancer")) for s in schema.values())


def test_cli_apps_load_balancer(monkeypatch: Any) -> None:
    """The command reads and sets the field through the API (a stub client: the API is tested above)."""
    from rivetr_core.cli import balancer_cmd
    from rivetr_core.cli.main import cli

    calls: list[tuple[str, Any]] = []
    app = {"id": "a1", "name": "web", "load_balancer": "round_robin"}

    class Client:
        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def resolve_app(self, ref: str) -> dict[str, Any]:
            return dict(app)

        def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
            calls.append((path, body))
            return {**app, **body}

    monkeypatch.setattr(balancer_cmd.Connection, "client", lambda self, **kw: Client())
    runner = CliRunner()
    result = runner.invoke(cli, ["apps", "load-balancer", "web"])
    assert result.exit_code == 0 and "web: load balancer round_robin" in result.output, result.output
    assert calls == []
    result = runner.invoke(cli, ["apps", "load-balancer", "web", "least_conn"])
    assert result.exit_code == 0 and "load balancer least_conn" in result.output, result.output
    assert calls == [("/api/apps/a1", {"load_balancer": "least_conn"})]
    result = runner.invoke(cli, ["apps", "load-balancer", "web", "random"])
    assert result.exit_code != 0 and calls == [("/api/apps/a1", {"load_balancer": "least_conn"})]


async def test_a_project_file_declares_the_load_balancer(api: ApiClient) -> None:
    from tests.test_iac_api import app_named, export

    file = (
        '[project]\nname = "balanced"\n\n[[apps]]\nname = "web"\n'
        'source = { kind = "image", image = "registry.example.com/web:1" }\nport = 8080\n'
        'replicas = 2\nload_balancer = "least_conn"\n'
    )
    status, plan = await api.post("/api/projects/apply", json={"toml": file})
    assert status == 200 and plan["changed"], plan
    assert (await app_named(api, "web"))["load_balancer"] == "least_conn"
    assert 'load_balancer = "least_conn"' in await export(api, "balanced")
    status, body = await api.post("/api/projects/apply", json={"toml": file.replace("least_conn", "fastest")})
    assert status == 422 and "load_balancer" in str(body["error"]), body
    assert (await app_named(api, "web"))["load_balancer"] == "least_conn"
