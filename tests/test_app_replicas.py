"""Replicas of an app on one server (issue 23; rivetr_core.engine.replicas) through the real app with the FAKE
runtime: a deployment with 3 replicas starts, health-checks and routes to 3 containers and a redeploy replaces
all three; scale up and down without a rebuild; a replica that fails its health check fails the deployment or
the scale and leaves the app as it was; stop/start/restart operate every replica; the crash watcher restarts a
crashed replica and keeps the route on every replica; replicas outside 1..20 are a 422. Real engines and the
real proxy under load: tests/e2e/test_app_replicas_e2e.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config

IMAGE = "registry.example.com/team/web:1"
DOMAIN = "web.example.test"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello")
    config = make_config(
        tmp_path / "data",
        runtime={"crash_check_interval": 0.05, "restart_backoff_seconds": 0.01, "restart_max_retries": 3},
    )
    async with api_on(fake_runtime, config) as client:
        yield client


async def create(api: ApiClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "web", "source": {"kind": "image", "image": IMAGE}, "port": 8080, "domains": [DOMAIN]}
    code, app = await api.post("/api/apps", json={**body, **fields})
    assert code == 201, app
    return app  # type: ignore[no-any-return]


async def deploy(api: ApiClient, app_id: str, expect: str = "running") -> dict[str, Any]:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        while dep["status"] not in ("running", "failed", "cancelled"):
            await asyncio.sleep(0.02)
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
    assert dep["status"] == expect, dep
    return dep  # type: ignore[no-any-return]


async def upstreams(api: ApiClient) -> list[str]:
    route = await api.ctx.services.routes.get(DOMAIN)
    assert route is not None
    return list(route.upstreams)


async def replicas(api: ApiClient, app_id: str) -> dict[str, Any]:
    code, body = await api.get(f"/api/apps/{app_id}/replicas")
    assert code == 200, body
    return body  # type: ignore[no-any-return]


def app_containers(fake: FakeRuntime) -> list[Any]:
    return [c for c in fake.containers.values() if c.spec.labels.get("rivetr.app")]


async def test_a_deployment_runs_three_replicas_behind_one_route(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=3)
    assert app["replicas"] == 3
    dep = await deploy(api, app["id"])
    live = app_containers(fake_runtime)
    assert len(live) == 3
    names = sorted(c.spec.name for c in live)
    base = f"rivetr-web-{dep['id'][:12]}"
    assert names == [base, f"{base}-1", f"{base}-2"]  # replica 0 keeps the one-container name
    body = await replicas(api, app["id"])
    assert [r["index"] for r in body["items"]] == [0, 1, 2]
    assert {r["state"] for r in body["items"]} == {"running"}
    assert sorted(await upstreams(api)) == sorted(r["upstream"] for r in body["items"])
    # A redeploy starts three new containers, switches to them, then drains and removes the old three.
    old_ids = {c.id for c in live}
    await deploy(api, app["id"])
    now = app_containers(fake_runtime)
    assert len(now) == 3 and not old_ids & {c.id for c in now}
    assert len(await upstreams(api)) == 3


async def test_one_replica_is_one_container_as_before(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api)
    assert app["replicas"] == 1
    dep = await deploy(api, app["id"])
    assert [c.spec.name for c in app_containers(fake_runtime)] == [f"rivetr-web-{dep['id'][:12]}"]
    assert "rivetr.replica" not in app_containers(fake_runtime)[0].spec.labels
    assert await upstreams(api) == [dep["upstream"]]


async def test_scale_up_and_down_without_a_rebuild(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api)
    dep = await deploy(api, app["id"])
    runs = len(fake_runtime.runs)
    code, body = await api.post(f"/api/apps/{app['id']}/scale", json={"replicas": 3})
    assert code == 200, body
    assert body == {"replicas": 3, "previous": 1, "started": [1, 2], "stopped": []}
    assert len(fake_runtime.runs) == runs + 2 and not fake_runtime.calls_to("build")
    assert {s.image for s in fake_runtime.runs[runs:]} == {fake_runtime.runs[runs - 1].image}
    assert len(await upstreams(api)) == 3 and dep["upstream"] in await upstreams(api)
    code, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["replicas"] == 3 and shown["current_deployment_id"] == dep["id"]  # same deployment

    code, body = await api.post(f"/api/apps/{app['id']}/scale", json={"replicas": 1})
    assert code == 200, body
    assert body["stopped"] == [1, 2]
    assert await upstreams(api) == [dep["upstream"]]
    assert len(app_containers(fake_runtime)) == 1
    assert [r["index"] for r in (await replicas(api, app["id"]))["items"]] == [0]
    code, page = await api.get("/api/audit?action=app_scale_api.&limit=50")
    assert code == 200 and [e["action"] for e in page["items"]].count("app_scale_api.scale_app") == 2


async def test_a_replica_that_never_gets_healthy_changes_nothing(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, healthcheck_retries=2, healthcheck_interval=0.01)
    dep = await deploy(api, app["id"])
    fake_runtime.images[IMAGE].unhealthy = True
    code, body = await api.post(f"/api/apps/{app['id']}/scale", json={"replicas": 3})
    assert code == 409 and body["error"]["code"] == "health_check_failed", body
    assert len(app_containers(fake_runtime)) == 1
    assert await upstreams(api) == [dep["upstream"]]
    assert (await api.get(f"/api/apps/{app['id']}"))[1]["replicas"] == 1


async def test_a_failing_replica_fails_the_deployment_and_the_old_version_serves(
    api: ApiClient, fake_runtime: FakeRuntime
):
    # max_surge 2: both new replicas start before any old one stops (engine.rollout; one at a time:
    # tests/test_rollout.py)
    app = await create(api, replicas=2, max_surge=2, healthcheck_retries=2, healthcheck_interval=0.01)
    good = await deploy(api, app["id"])
    before = sorted(await upstreams(api))
    assert len(before) == 2
    original = fake_runtime.run

    async def replicas_unhealthy(spec: Any) -> Any:  # replica 0 is fine, replica 1 never answers 200
        if spec.labels.get("rivetr.replica"):
            fake_runtime.images[IMAGE].unhealthy = True
            try:
                return await original(spec)
            finally:
                fake_runtime.images[IMAGE].unhealthy = False
        return await original(spec)

    fake_runtime.run = replicas_unhealthy  # type: ignore[method-assign]
    bad = await deploy(api, app["id"], expect="failed")
    assert "replica 1" in bad["error"], bad
    assert sorted(await upstreams(api)) == before
    assert {c.spec.labels["rivetr.deployment"] for c in app_containers(fake_runtime)} == {good["id"]}


async def test_stop_start_and_restart_operate_every_replica(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=3)
    await deploy(api, app["id"])
    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    assert await upstreams(api) == []
    assert not any(c.running for c in app_containers(fake_runtime))
    assert (await api.post(f"/api/apps/{app['id']}/start"))[0] == 200
    assert all(c.running for c in app_containers(fake_runtime))
    body = await replicas(api, app["id"])
    assert sorted(await upstreams(api)) == sorted(r["upstream"] for r in body["items"])
    assert len(body["items"]) == 3
    assert (await api.post(f"/api/apps/{app['id']}/restart"))[0] == 200
    body = await replicas(api, app["id"])
    assert {r["state"] for r in body["items"]} == {"running"} and len(await upstreams(api)) == 3


async def test_the_crash_watcher_restarts_a_crashed_replica(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=2)
    await deploy(api, app["id"])
    body = await replicas(api, app["id"])
    crashed = body["items"][1]["container_id"]
    fake_runtime.crash(crashed)
    async with asyncio.timeout(10):
        while True:
            await asyncio.sleep(0.05)
            body = await replicas(api, app["id"])
            if body["items"][1]["container_id"] != crashed and body["items"][1]["state"] == "running":
                break
    assert body["items"][1]["restart_count"] == 1
    assert sorted(await upstreams(api)) == sorted(r["upstream"] for r in body["items"])


@pytest.mark.parametrize("count", [0, 21, 2.5, None])
async def test_replicas_outside_the_range_are_refused(api: ApiClient, count: Any):
    app = await create(api)
    code, body = await api.post(f"/api/apps/{app['id']}/scale", json={"replicas": count})
    assert code == 422, body
    code, body = await api.put(f"/api/apps/{app['id']}", json={"replicas": count})
    assert code == 422, body
    code, body = await api.post(
        "/api/apps", json={"name": "other", "source": {"kind": "image", "image": IMAGE}, "replicas": count}
    )
    assert code == 422, body


def test_the_cli_creates_updates_scales_and_lists_replicas(tmp_path: Path) -> None:
    import time

    import httpx

    from tests.support.cli import cli_on_runtime
    from tests.support.server import AUTH

    fake = FakeRuntime()
    fake.publish(IMAGE, body="hello")
    try:
        with cli_on_runtime(tmp_path, fake) as (url, run):
            made = run(
                "apps", "create", "web", "--image", IMAGE, "--port", "8080", "--replicas", "2", "--json"
            )
            assert made.exit_code == 0, made.output
            assert '"replicas": 2' in made.output
            assert run("apps", "create", "bad", "--image", IMAGE, "--replicas", "21").exit_code == 2
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as admin:
                app_id = admin.get("/api/apps").json()["items"][0]["id"]
                dep = admin.post(f"/api/apps/{app_id}/deploy", json={}).json()
                for _ in range(500):
                    if admin.get(f"/api/deployments/{dep['id']}").json()["status"] == "running":
                        break
                    time.sleep(0.02)
                listed = run("apps", "replicas", "web")
                assert listed.exit_code == 0, listed.output
                assert "2 replica(s)" in listed.output and listed.output.count("running") == 2
                scaled = run("apps", "scale", "web", "3")
                assert scaled.exit_code == 0, scaled.output
                assert "web: 2 → 3 replicas (started replica 2)" in scaled.output
                assert len(admin.get(f"/api/apps/{app_id}/replicas").json()["items"]) == 3
                updated = run("apps", "update", "web", "--replicas", "1")
                assert updated.exit_code == 0, updated.output
                assert admin.get(f"/api/apps/{app_id}").json()["replicas"] == 1
                shown = run("apps", "show", "web")
                assert "replicas" in shown.output
    finally:
        fake.shutdown()


async def test_logs_of_one_replica(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=2)
    await deploy(api, app["id"])
    items = (await replicas(api, app["id"]))["items"]
    # Each fake container logs the requests it served: ask replica 1 directly, then read each one's log.
    host, _, port = items[1]["upstream"].rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /only-replica-one HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()
    code, lines = await api.get(f"/api/apps/{app['id']}/logs?replica=1")
    assert code == 200, lines
    assert any("/only-replica-one" in line["line"] for line in lines)
    code, lines = await api.get(f"/api/apps/{app['id']}/logs")  # replica 0 by default
    assert code == 200 and not any("/only-replica-one" in line["line"] for line in lines)
    code, body = await api.get(f"/api/apps/{app['id']}/logs?replica=5")
    assert code == 404, body
