"""``GET /metrics``: Prometheus text, per-app registries, token, request histogram, deployment counters."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from rivetr_core.app import create_app
from tests.support.server import AUTH, make_config


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(api, headers=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = await api.client.get("/metrics", headers=AUTH if headers is None else headers)
    return response.status_code, await response.get_data(as_text=True)


async def test_request_histogram_uses_route_templates(api) -> None:
    await api.get("/api/routes")
    await api.delete("/api/routes/a.example.com")
    await api.delete("/api/routes/b.example.com")
    status, text = await scrape(api)
    assert status == 200
    s = samples(text)
    key = (
        "http_request_duration_seconds_count",
        (("method", "DELETE"), ("route", "/api/routes/<routekey:key>"), ("status", "404")),
    )
    assert s[key] == 2  # one series for both domains: label cardinality stays bounded
    assert (
        s[
            (
                "http_request_duration_seconds_count",
                (("method", "GET"), ("route", "/api/routes"), ("status", "200")),
            )
        ]
        == 1
    )
    assert ("deployments_total", (("status", "failed"),)) in s
    assert s[("build_queue_depth", ())] == 0


async def test_unauthenticated_requests_are_timed_too(api) -> None:
    await api.get("/api/routes", auth=False)
    _, text = await scrape(api)
    assert 'route="/api/routes",status="401"' in text


async def test_deployment_statuses_feed_counters_and_queue_depth(api) -> None:
    pm = api.ctx.plugins
    for dep in ("d1", "d2", "d3"):
        pm.notify("rivetr_on_deployment_status", deployment_id=dep, app_id="a", status="queued", error=None)
    _, text = await scrape(api)
    assert samples(text)[("build_queue_depth", ())] == 3
    pm.notify("rivetr_on_deployment_status", deployment_id="d1", app_id="a", status="building", error=None)
    pm.notify("rivetr_on_deployment_status", deployment_id="d1", app_id="a", status="running", error=None)
    pm.notify("rivetr_on_deployment_status", deployment_id="d2", app_id="a", status="failed", error="boom")
    _, text = await scrape(api)
    s = samples(text)
    assert s[("build_queue_depth", ())] == 1
    assert s[("deployments_total", (("status", "running"),))] == 1
    assert s[("deployments_total", (("status", "failed"),))] == 1
    api.ctx.services["metrics"].observe_health_check(True, 0.4)
    _, text = await scrape(api)
    assert samples(text)[("health_check_total", (("result", "pass"),))] == 1


async def test_each_app_has_its_own_registry(tmp_path) -> None:
    first = create_app(make_config(tmp_path / "a"))
    second = create_app(make_config(tmp_path / "b"))
    async with first.test_app(), second.test_app():
        client = first.test_client()
        for _ in range(3):
            await client.get("/api/routes", headers=AUTH)
        text = await (await second.test_client().get("/metrics", headers=AUTH)).get_data(as_text=True)
        assert 'route="/api/routes"' not in text


async def test_metrics_need_a_token_by_default(tmp_path) -> None:
    """Issue 14 hole 7: /metrics is private unless ``[metrics] public = true``."""
    app = create_app(make_config(tmp_path / "p"))
    async with app.test_app():
        client = app.test_client()
        response = await client.get("/metrics")
        assert response.status_code == 401
        assert (await response.get_json())["error"]["code"] == "unauthorized"
        assert (await client.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await client.get("/metrics", headers=AUTH)).status_code == 200  # the admin token works
        _token, raw = await app.extensions["rivetr_ctx"].services["accounts"].create_token("scraper")
        api_token = await client.get("/metrics", headers={"Authorization": f"Bearer {raw}"})
        assert api_token.status_code == 200  # so does an API token
    app = create_app(make_config(tmp_path / "pub", metrics={"public": True}))
    async with app.test_app():
        assert (await app.test_client().get("/metrics")).status_code == 200


async def test_token_and_disabled(tmp_path) -> None:
    app = create_app(make_config(tmp_path / "t", metrics={"token": "scrape-token-123"}))
    async with app.test_app():
        client = app.test_client()
        response = await client.get("/metrics")
        assert response.status_code == 401
        assert (await response.get_json())["error"]["code"] == "unauthorized"
        assert (await client.get("/metrics", headers=AUTH)).status_code == 200  # the admin token works too
        ok = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
        assert ok.status_code == 200 and ok.content_type.startswith("text/plain")
    app = create_app(make_config(tmp_path / "tp", metrics={"token": "scrape-token-123", "public": True}))
    async with app.test_app():
        # A scrape token makes /metrics private even when public is set: the token was configured on purpose.
        assert (await app.test_client().get("/metrics")).status_code == 401
    app = create_app(make_config(tmp_path / "d", metrics={"enabled": False}))
    async with app.test_app():
        assert (await app.test_client().get("/metrics")).status_code == 404


async def test_sampled_values_are_rendered_without_engine_calls(api) -> None:
    metrics = api.ctx.services["metrics"]
    metrics.sampled.apps["app1"] = {
        "name": "web",
        "cpu_percent": 12.5,
        "memory_used": 1024,
        "memory_limit": 4096,
    }
    metrics.sampled.cert_expiry["web.example.com"] = 2_000_000_000.0
    metrics.sampled.proxy_routes["web.example.com"] = {"requests": 7, "upstream_errors": 1}
    _, text = await scrape(api)
    s = samples(text)
    assert s[("container_cpu_percent", (("app", "web"), ("app_id", "app1")))] == 12.5
    assert s[("container_memory_bytes", (("app", "web"), ("app_id", "app1")))] == 1024
    assert s[("certificate_expiry_timestamp_seconds", (("domain", "web.example.com"),))] == 2e9
    assert s[("proxy_requests_total", (("domain", "web.example.com"),))] == 7
    assert s[("proxy_upstream_errors_total", (("domain", "web.example.com"),))] == 1
    assert re.search(r"^# TYPE container_cpu_percent gauge$", text, re.M)
