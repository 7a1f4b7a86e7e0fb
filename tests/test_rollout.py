"""Rolling updates of replicas (issue 23; rivetr_core.engine.rollout) through the real app with the FAKE runtime:
a redeploy of 3 replicas with max_surge 1 / max_unavailable 0 never routes to fewer than 3 nor runs more than 4
containers and logs each step; max_unavailable 1 / max_surge 0 stops before it starts; a new replica failing its
health check half-way stops the rollout, restores the old replica it had stopped (same port) and fails the
deployment; the settings are validated against the replica count. Real docker under load:
tests/e2e/test_rollout_e2e.py; the step planning alone: tests/test_rollout_plan.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.test_app_replicas import IMAGE, app_containers, create, deploy, upstreams


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


def watch(api: ApiClient, fake: FakeRuntime) -> tuple[list[list[str]], list[int]]:
    """Every upstream list the app's route is set to, and the number of app containers after each start."""
    routes: list[list[str]] = []
    running: list[int] = []
    service = api.ctx.services.routes
    set_route, run = service.set, fake.run

    async def recording_set(domain: str, ups: list[str], **kw: Any) -> Any:
        routes.append(list(ups))
        return await set_route(domain, ups, **kw)

    async def counting_run(spec: Any) -> Any:
        info = await run(spec)
        running.append(len([c for c in app_containers(fake) if c.running]))
        return info

    service.set = recording_set  # type: ignore[method-assign]
    fake.run = counting_run  # type: ignore[method-assign]
    return routes, running


async def log_of(api: ApiClient, dep_id: str) -> str:
    code, lines = await api.get(f"/api/deployments/{dep_id}/logs")
    assert code == 200, lines
    return "\n".join(line["line"] for line in lines)


async def test_surge_one_keeps_three_serving_and_four_at_most(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=3)
    assert (app["max_surge"], app["max_unavailable"]) == (1, 0)
    first = await deploy(api, app["id"])
    old_ids = {c.id for c in app_containers(fake_runtime)}
    routes, running = watch(api, fake_runtime)
    second = await deploy(api, app["id"])
    assert running == [4, 4, 4]  # one new container at a time, each after an old one stopped
    assert [len(r) for r in routes] == [4, 3, 4, 3, 4]  # then the switch to the 3 new ones
    now = app_containers(fake_runtime)
    assert len(now) == 3 and not old_ids & {c.id for c in now}
    assert {c.spec.labels["rivetr.deployment"] for c in now} == {second["id"]}
    assert second["upstream"] in await upstreams(api) and len(await upstreams(api)) == 3
    assert not set(await upstreams(api)) & set(routes[0][:3])  # none of the old ones
    log = await log_of(api, second["id"])
    assert "rolling update of 3 → 3 replica(s), max_surge 1, max_unavailable 0: start 1, stop 1" in log
    assert "rollout: stopped old replica(s) 2; 2 old and 1 new serving" in log
    assert "rollout: stopped old replica(s) 1; 1 old and 2 new serving" in log
    assert "rollout: drained and stopped the last 1 old replica(s)" in log
    _, shown = await api.get(f"/api/deployments/{first['id']}")
    assert shown["status"] == "replaced"


async def test_unavailable_one_stops_before_it_starts(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=3, max_surge=0, max_unavailable=1)
    await deploy(api, app["id"])
    routes, running = watch(api, fake_runtime)
    second = await deploy(api, app["id"])
    assert running == [3, 3, 3]  # never more than 3 containers
    assert [len(r) for r in routes] == [2, 3, 2, 3, 2, 3]  # stop 1, start 1, ... (then the switch)
    assert len(app_containers(fake_runtime)) == 3
    assert "start 1" in await log_of(api, second["id"])


async def test_a_new_replica_failing_half_way_restores_the_old_ones(
    api: ApiClient, fake_runtime: FakeRuntime
):
    app = await create(api, replicas=3, healthcheck_retries=2, healthcheck_interval=0.01)
    good = await deploy(api, app["id"])
    before = sorted(await upstreams(api))
    original = fake_runtime.run

    async def second_new_replica_unhealthy(spec: Any) -> Any:
        new = spec.labels["rivetr.deployment"] != good["id"]
        if new and spec.labels.get("rivetr.replica") == "1":
            fake_runtime.images[IMAGE].unhealthy = True
            try:
                return await original(spec)
            finally:
                fake_runtime.images[IMAGE].unhealthy = False
        return await original(spec)

    fake_runtime.run = second_new_replica_unhealthy  # type: ignore[method-assign]
    bad = await deploy(api, app["id"], expect="failed")
    assert "replica 1" in bad["error"], bad
    # Old replica 2 was stopped after new replica 0 joined; it is back on its port, the new ones are gone.
    assert sorted(await upstreams(api)) == before
    live = app_containers(fake_runtime)
    assert len(live) == 3 and {c.spec.labels["rivetr.deployment"] for c in live} == {good["id"]}
    log = await log_of(api, bad["id"])
    assert "rollout stopped: routes back to the 2 old replica(s) still running" in log
    assert "old deployment serves on 3 replica(s) again" in log
    _, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["current_deployment_id"] == good["id"] and shown["status"] == "running"


async def test_settings_are_checked_against_the_replicas(api: ApiClient, fake_runtime: FakeRuntime):
    # Above the replicas counts as the replicas (Kubernetes' semantics): accepted, kept through a scale down.
    code, body = await api.post(
        "/api/apps", json={"name": "x", "source": {"kind": "image", "image": IMAGE}, "max_surge": 2}
    )
    assert code == 201 and body["max_surge"] == 2, body
    app = await create(api, replicas=3, max_surge=2)
    code, body = await api.put(f"/api/apps/{app['id']}", json={"max_surge": 0, "max_unavailable": 0})
    assert code == 422 and "cannot both be 0" in body["error"]["message"], body
    assert body["error"]["details"][0]["field"] == "max_surge", body
    code, body = await api.put(f"/api/apps/{app['id']}", json={"replicas": 1})
    assert code == 200 and (body["replicas"], body["max_surge"]) == (1, 2), body
    code, body = await api.put(f"/api/apps/{app['id']}", json={"max_unavailable": -1})
    assert code == 422, body
    code, body = await api.put(f"/api/apps/{app['id']}", json={"max_surge": 0, "max_unavailable": 3})
    assert code == 200 and (body["max_surge"], body["max_unavailable"]) == (0, 3), body


async def test_replicas_answer_their_cpu_and_memory(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=2)
    await deploy(api, app["id"])
    code, body = await api.get(f"/api/apps/{app['id']}/replicas")
    assert code == 200, body
    assert [(r["cpu_percent"], r["memory_used"]) for r in body["items"]] == [(0.0, 1024 * 1024)] * 2
    assert fake_runtime.calls_to("stats_many")  # one call for all the replicas


async def test_a_scale_keeps_the_rollout_settings_as_set(api: ApiClient, fake_runtime: FakeRuntime):
    app = await create(api, replicas=3, max_surge=3, max_unavailable=2)
    code, body = await api.post(f"/api/apps/{app['id']}/scale", json={"replicas": 1})
    assert code == 200, body
    _, shown = await api.get(f"/api/apps/{app['id']}")
    assert (shown["replicas"], shown["max_surge"], shown["max_unavailable"]) == (1, 3, 2)
    code, body = await api.put(f"/api/apps/{app['id']}", json={"max_unavailable": 0})  # still editable
    assert code == 200, body


def test_the_cli_sets_the_rollout_and_lists_replica_stats(tmp_path: Path) -> None:
    import time

    import httpx

    from tests.support.cli import cli_on_runtime
    from tests.support.server import AUTH

    fake = FakeRuntime()
    fake.publish(IMAGE, body="hello")
    try:
        with cli_on_runtime(tmp_path, fake) as (url, run):
            made = run("apps", "create", "web", "--image", IMAGE, "--port", "8080", "--replicas", "3")
            assert made.exit_code == 0, made.output
            updated = run("apps", "update", "web", "--max-surge", "2", "--max-unavailable", "1", "--json")
            assert updated.exit_code == 0, updated.output
            assert '"max_surge": 2' in updated.output and '"max_unavailable": 1' in updated.output
            refused = run("apps", "update", "web", "--max-surge", "0", "--max-unavailable", "0")
            assert refused.exit_code != 0 and "cannot both be 0" in refused.output, refused.output
            shown = run("apps", "show", "web")
            assert "3 (rolling: max surge 2, max unavailable 1)" in shown.output, shown.output
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as admin:
                app_id = admin.get("/api/apps").json()["items"][0]["id"]
                dep = admin.post(f"/api/apps/{app_id}/deploy", json={}).json()
                for _ in range(500):
                    if admin.get(f"/api/deployments/{dep['id']}").json()["status"] == "running":
                        break
                    time.sleep(0.02)
            listed = run("apps", "replicas", "web")
            assert listed.exit_code == 0, listed.output
            assert "CPU" in listed.output and "MEMORY" in listed.output
            assert listed.output.count("0.0%") == 3 and listed.output.count("1.0 MiB") == 3, listed.output
            logs = run("logs", "web", "--replica", "2")
            assert logs.exit_code == 0, logs.output
            assert run("logs", "web", "--replica", "7").exit_code != 0  # no such replica: the API's 404
    finally:
        fake.shutdown()


async def test_a_project_file_declares_the_rollout_settings(api: ApiClient, fake_runtime: FakeRuntime):
    from tests.test_iac_api import app_named, export

    file = (
        '[project]\nname = "roll"\n\n[[apps]]\nname = "web"\n'
        f'source = {{ kind = "image", image = "{IMAGE}" }}\nport = 8080\n'
        "replicas = 3\nmax_surge = 2\nmax_unavailable = 1\n"
    )
    status, plan = await api.post("/api/projects/apply", json={"toml": file})
    assert status == 200 and plan["changed"], plan
    app = await app_named(api, "web")
    assert (app["replicas"], app["max_surge"], app["max_unavailable"]) == (3, 2, 1)
    text = await export(api, "roll")
    assert "max_surge = 2" in text and "max_unavailable = 1" in text
    bad = file.replace("max_surge = 2\nmax_unavailable = 1", "max_surge = 0\nmax_unavailable = 0")
    status, body = await api.post("/api/projects/apply", json={"toml": bad})
    assert status == 422 and "cannot both be 0" in body["error"]["message"], body
    assert (await app_named(api, "web"))["max_surge"] == 2


async def test_a_cancelled_rollout_puts_the_old_replicas_back(api: ApiClient, fake_runtime: FakeRuntime):
    import asyncio

    app = await create(api, replicas=3)
    good = await deploy(api, app["id"])
    before = sorted(await upstreams(api))
    original = fake_runtime.run
    reached = asyncio.Event()

    async def hang_on_the_second_new_replica(spec: Any) -> Any:
        if spec.labels["rivetr.deployment"] != good["id"] and spec.labels.get("rivetr.replica") == "1":
            reached.set()
            await asyncio.sleep(3600)  # until cancelled
        return await original(spec)

    fake_runtime.run = hang_on_the_second_new_replica  # type: ignore[method-assign]
    code, dep = await api.post(f"/api/apps/{app['id']}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        await reached.wait()
    code, body = await api.post(f"/api/deployments/{dep['id']}/cancel")
    assert code == 200, body
    async with asyncio.timeout(15):
        done = False
        while not done:  # the old replica the rollout stopped comes back on its port; the new replica 0 goes
            await asyncio.sleep(0.02)
            _, now = await api.get(f"/api/deployments/{dep['id']}")
            done = now["status"] == "cancelled" and sorted(await upstreams(api)) == before
            done = done and len(app_containers(fake_runtime)) == 3
    assert {c.spec.labels["rivetr.deployment"] for c in app_containers(fake_runtime)} == {good["id"]}
    _, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["current_deployment_id"] == good["id"]
