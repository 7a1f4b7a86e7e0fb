"""Unit tests of the pipeline logic (statuses, steps, failure paths, cancel, supersede, cap, rollback,
recovery, crash restart) against a FAKE container runtime: ``rivetr_core.testing.FakeRuntime``, not Docker or Podman.
These are not end-to-end tests. The git side is real (``git daemon``); the fake's "containers" are asyncio HTTP
servers on loopback so the built-in health check runs unchanged; no proxy serves them. The end-to-end
versions of these flows (real engines, real proxy, real git daemon) are in tests/e2e."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import ContainerInfo, RivetrEvent, RuntimeUnavailable
from rivetr_core.testing import FakeRuntime
from tests.support import at_rest
from tests.support.server import PIPELINE_STATUSES, ApiClient, make_config


class Events:
    """A plugin recording events and status hooks."""

    __rivetr_name__ = "test-events"

    def __init__(self) -> None:
        self.events: list[RivetrEvent] = []
        self.statuses: list[tuple[str, str]] = []

    def rivetr_on_event(self, event: RivetrEvent) -> None:
        self.events.append(event)

    def rivetr_on_deployment_status(
        self, deployment_id: str, app_id: str, status: str, error: str | None
    ) -> None:
        self.statuses.append((deployment_id, status))


def _hookimpls(obj: Any) -> Any:
    from rivetr_core import hookimpl

    for name in ("rivetr_on_event", "rivetr_on_deployment_status"):
        hookimpl(getattr(type(obj), name))
    return obj


@pytest.fixture
def events() -> Events:
    return _hookimpls(Events())


@pytest.fixture
async def papi(tmp_path: Path, fake_runtime: FakeRuntime, events: Events) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    config = make_config(
        tmp_path / "data",
        runtime={
            "max_concurrent_deployments": 1,
            "crash_check_interval": 0.1,
            "restart_backoff_seconds": 0.05,
            "restart_max_retries": 2,
        },
        cleanup={"keep_images": 2},
    )
    app = create_app(config, plugins=[events])
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def wait_status(api: ApiClient, dep_id: str, statuses: tuple[str, ...], timeout: float = 15) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, dep = await api.get(f"/api/deployments/{dep_id}")
        assert code == 200
        if dep["status"] in statuses:
            return dep
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"deployment stuck in {dep['status']}: {dep}")
        await asyncio.sleep(0.02)


async def make_app(api: ApiClient, repo: Any, name: str = "web", **extra: Any) -> dict:
    code, app = await api.post(
        "/api/apps",
        json={"name": name, "git_url": repo.url, "port": 8000, "domains": [f"{name}.example.com"], **extra},
    )
    assert code == 201, app
    return app


async def deploy(api: ApiClient, app_id: str, **body: Any) -> dict:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json=body or None)
    assert code == 202, dep
    return dep


async def deploy_and_wait(api: ApiClient, app_id: str, statuses: tuple[str, ...]) -> dict:
    return await wait_status(api, (await deploy(api, app_id))["id"], statuses)


async def good_then_broken(api: ApiClient, repo: Any, app_id: str, breaker: str) -> tuple[dict, dict]:
    """Deploy the working app (must run), then commit the ``breaker`` file and deploy again (must fail)."""
    good = await deploy_and_wait(api, app_id, ("running",))
    repo.write(breaker, "")
    repo.commit(f"add {breaker}")
    return good, await deploy_and_wait(api, app_id, ("failed",))


async def test_deploy_runs_every_step_and_records_it(papi, git_server, fake_runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    await papi.post(
        f"/api/apps/{app['id']}/env-vars", json={"key": "GREETING", "value": "hi", "is_secret": True}
    )
    dep = await deploy(papi, app["id"])
    assert dep["status"] == "queued"
    done = await wait_status(papi, dep["id"], ("running", "failed"))
    assert done["status"] == "running", done
    for _ in range(100):  # "running" is set at the switch; the drain step is recorded right after
        if "finished_at" in done["steps"].get("drain", {}):
            break
        await asyncio.sleep(0.02)
        done = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
    assert done["commit_sha"] == repo.head()
    assert done["image"] == f"localhost/rivetr/web:{dep['id']}"
    assert set(done["steps"]) == {"clone", "build", "start", "health", "switch", "drain"}
    workdir = papi.ctx.config.server.data_dir / "builds" / dep["id"]
    for _ in range(100):  # removed in the background right after the build
        if not workdir.exists():
            break
        await asyncio.sleep(0.02)
    assert not workdir.exists()
    assert all(s["duration_ms"] >= 0 and s["started_at"] and s["finished_at"] for s in done["steps"].values())
    spec = fake_runtime.runs[-1]
    assert spec.env["GREETING"] == "hi" and spec.env["PORT"] == "8000"
    assert spec.publish is False  # [runtime] publish_ports off: proxied at the container's own address
    assert spec.env["RIVETR_APP_NAME"] == "web" and spec.env["RIVETR_DEPLOYMENT_ID"] == dep["id"]
    assert spec.env["SOURCE_COMMIT"] == repo.head()
    assert spec.labels["rivetr.app"] == app["id"] and spec.labels["rivetr.deployment"] == dep["id"]
    assert spec.labels["rivetr.managed"] == "true" and spec.labels["rivetr.instance"]
    _, route = await papi.get("/api/routes")
    assert [(r["domain"], r["app_id"], r["upstreams"][0]["address"]) for r in route["items"]] == [
        ("web.example.com", app["id"], done["upstream"])
    ]
    _, logs = await papi.get(f"/api/deployments/{dep['id']}/logs")
    lines = [entry["line"] for entry in logs]
    assert any("Receiving objects" in ln or "remote:" in ln or "From git://" in ln for ln in lines), lines
    assert "Successfully built" in lines
    _code, got = await papi.get(f"/api/apps/{app['id']}")
    assert got["status"] == "running" and got["current_deployment_id"] == dep["id"]
    walk = [s for d, s in events.statuses if d == dep["id"]]
    assert walk == ["queued", "cloning", "building", "starting", "health_checking", "switching", "running"]
    assert {"deployment_started", "deployment_succeeded"} <= {e.type for e in events.events}


async def test_redeploy_replaces_and_removes_old_container(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    first = await deploy_and_wait(papi, app["id"], ("running",))
    repo.write("www/index.html", "v2")
    repo.commit("v2")
    second = await deploy_and_wait(papi, app["id"], ("running",))
    assert (await papi.get(f"/api/deployments/{first['id']}"))[1]["status"] == "replaced"
    assert first["container_id"] not in fake_runtime.containers
    assert fake_runtime.live() == [second["container_id"]]


async def test_failed_build_keeps_old_version(papi, git_server, fake_runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    good, bad = await good_then_broken(papi, repo, app["id"], "FAIL_BUILD")
    assert "build failed" in bad["error"] and bad["log_tail"]
    assert fake_runtime.live() == [good["container_id"]]
    _code, got = await papi.get(f"/api/apps/{app['id']}")
    assert got["current_deployment_id"] == good["id"] and got["status"] == "running"
    assert "deployment_failed" in {e.type for e in events.events}


async def test_failed_health_check_removes_new_container(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo, healthcheck_retries=3, healthcheck_interval=0.05)
    good, bad = await good_then_broken(papi, repo, app["id"], "UNHEALTHY")
    assert "health check failed after 3 attempts: HTTP 500" in bad["error"]
    assert fake_runtime.live() == [good["container_id"]]
    assert bad["image"] not in fake_runtime.images  # the failed image is not kept


async def test_every_health_probe_is_a_metric(papi, git_server, fake_runtime):
    """The health step reports each probe (result, latency, deployment) to the metrics service; nothing is
    derived from the step's duration when the deployment ends."""
    metrics = papi.ctx.services["metrics"]
    probes: list[tuple[bool, float, str | None]] = []
    observe = metrics.observe_health_check

    def record(ok: bool, seconds: float, deployment_id: str | None = None) -> None:
        probes.append((ok, seconds, deployment_id))
        observe(ok, seconds, deployment_id)

    metrics.observe_health_check = record

    def counted(result: str) -> float:
        return metrics.health_checks.labels(result=result)._value.get()  # type: ignore[no-any-return]

    repo = git_server.create_repo("web")
    app = await make_app(papi, repo, healthcheck_retries=3, healthcheck_interval=0.05)
    good, bad = await good_then_broken(papi, repo, app["id"], "UNHEALTHY")
    await asyncio.sleep(0.1)  # let the status hook's background work (step timings) finish
    assert [(ok, dep) for ok, _, dep in probes] == [(True, good["id"])] + [(False, bad["id"])] * 3
    assert all(0 <= seconds < 5 for _, seconds, _ in probes)
    assert (counted("pass"), counted("fail")) == (1, 3)


async def test_cancel_during_build(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web", message="slow")
    repo.write("SLOW_BUILD", "")
    repo.commit("slow")
    app = await make_app(papi, repo)
    dep = await deploy(papi, app["id"])
    await wait_status(papi, dep["id"], ("building",))
    await asyncio.wait_for(fake_runtime.building.wait(), 5)
    code, cancelled = await papi.post(f"/api/deployments/{dep['id']}/cancel")
    assert code == 200 and cancelled["status"] == "cancelled"
    assert fake_runtime.runs == []
    code, err = await papi.post(f"/api/deployments/{dep['id']}/cancel")
    assert code == 409 and err["error"]["code"] == "not_cancellable"


async def test_supersede_and_global_cap(papi, git_server, fake_runtime):
    slow = git_server.create_repo("slow")
    slow.write("SLOW_BUILD", "")
    slow.commit("slow")
    fast = git_server.create_repo("fast")
    fake_runtime.slow = 1.0
    a = await make_app(papi, slow, "a")
    b = await make_app(papi, fast, "b")
    a1 = await deploy(papi, a["id"])
    await wait_status(papi, a1["id"], ("building",))
    b1 = await deploy(papi, b["id"])  # cap of 1: waits for a1
    a2 = await deploy(papi, a["id"])
    a3 = await deploy(papi, a["id"])  # supersedes a2 (still waiting), not a1 (running)
    assert (await papi.get(f"/api/deployments/{a2['id']}"))[1]["status"] == "superseded"
    assert (await papi.get(f"/api/deployments/{b1['id']}"))[1]["status"] == "queued"
    await wait_status(papi, a1["id"], ("running",))
    await wait_status(papi, b1["id"], ("running",), timeout=20)
    await wait_status(papi, a3["id"], ("running",), timeout=20)
    running_at_once = papi.ctx.services["deployments"].queue.max_concurrent
    assert running_at_once == 1


async def test_rollback_reuses_image_without_build(papi, git_server, fake_runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    v1 = await deploy_and_wait(papi, app["id"], ("running",))
    repo.write("www/index.html", "v2")
    repo.commit("v2")
    await deploy_and_wait(papi, app["id"], ("running",))
    builds = len(fake_runtime.builds)
    code, rb = await papi.post(f"/api/deployments/{v1['id']}/rollback")
    assert code == 202 and rb["rollback_of"] == v1["id"]
    done = await wait_status(papi, rb["id"], ("running", "failed"))
    assert (
        done["status"] == "running"
        and done["image"] == v1["image"]
        and done["commit_sha"] == v1["commit_sha"]
    )
    assert len(fake_runtime.builds) == builds
    assert "clone" not in done["steps"] and "build" not in done["steps"]
    assert "rollback" in {e.type for e in events.events}
    code, _err = await papi.post(f"/api/deployments/{rb['id']}/cancel")
    assert code == 409


async def test_keep_images_prunes_old_ones(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    deps = []
    for n in range(3):
        repo.write("www/index.html", f"v{n}")
        repo.commit(f"v{n}")
        deps.append(await deploy_and_wait(papi, app["id"], ("running",)))
    for _ in range(100):  # pruning follows the switch and drain
        code, oldest = await papi.get(f"/api/deployments/{deps[0]['id']}")
        if oldest["image_removed"]:
            break
        await asyncio.sleep(0.02)
    assert oldest["image_removed"] is True and deps[0]["image"] not in fake_runtime.images
    assert deps[1]["image"] in fake_runtime.images and deps[2]["image"] in fake_runtime.images
    code, err = await papi.post(f"/api/deployments/{deps[0]['id']}/rollback")
    assert code == 409 and err["error"]["code"] == "rollback_unavailable"


async def test_crash_restart_then_give_up(papi, git_server, fake_runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    fake_runtime.crash(dep["container_id"])
    for _ in range(200):
        now = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
        if now["restart_count"] == 1 and now["container_id"] in fake_runtime.live():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"not restarted: {now}")
    assert now["upstream"] == dep["upstream"]  # same host port: the route did not need to change
    assert "container_restarted" in {e.type for e in events.events}
    for _ in range(3):  # budget is 2 restarts: the third crash marks the app crashed
        cid = (await papi.get(f"/api/deployments/{dep['id']}"))[1]["container_id"]
        fake_runtime.crash(cid)
        for _ in range(300):
            _code, got = await papi.get(f"/api/apps/{app['id']}")
            now = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
            if got["status"] == "crashed" or now["container_id"] != cid:
                break
            await asyncio.sleep(0.02)
    assert got["status"] == "crashed"


async def test_build_log_stream_replays_then_follows(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy(papi, app["id"])
    messages = []
    async with papi.client.websocket(
        f"/api/deployments/{dep['id']}/logs/stream",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    ) as ws:
        while True:
            import json

            msg = json.loads(await asyncio.wait_for(ws.receive(), 10))
            messages.append(msg)
            if msg.get("event") == "end":
                break
    assert messages[0]["line"].startswith("queued by api")
    assert messages[-1] == {"event": "end", "status": "running", "error": None}
    _code, stored = await papi.get(f"/api/deployments/{dep['id']}/logs")
    assert [m["line"] for m in messages if "line" in m] == [s["line"] for s in stored]
    # Status changes sit between the lines where they happened: each step's output follows its status.
    statuses = [(i, m["status"]) for i, m in enumerate(messages) if m.get("event") == "status"]
    assert [s for _, s in statuses] == PIPELINE_STATUSES
    after = {status: messages[i + 1].get("line", "") for i, status in statuses}
    assert after["cloning"].startswith("$ git clone")
    assert after["building"].startswith("building localhost/rivetr/web:")
    assert after["starting"].startswith("started container")
    assert after["switching"].startswith("switched web.example.com to ")
    assert messages[-2] == {"event": "status", "status": "running", "ts": messages[-2]["ts"]}


async def test_websocket_requires_token(papi, git_server):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy(papi, app["id"])
    from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError

    # Refused before the handshake (401 from the app-wide guard) or closed by the handler: never accepted.
    with pytest.raises((WebsocketDisconnectError, WebsocketResponseError)):
        async with papi.client.websocket(f"/api/deployments/{dep['id']}/logs/stream") as ws:
            await ws.receive()


async def test_recovery_marks_interrupted_and_removes_orphans(tmp_path, git_server, fake_runtime):
    from rivetr_core.app import create_app
    from rivetr_core.models.apps import Deployment

    config = make_config(tmp_path / "data")
    app = create_app(config)
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        api = ApiClient(app)
        created = await make_app(api, git_server.create_repo("web"))
        good = await deploy_and_wait(api, created["id"], ("running",))
        svc = api.ctx.services["deployments"]
        async with api.ctx.db.session() as session:
            fake_runtime.images["localhost/rivetr/web:ghost"] = fake_runtime.images[good["image"]]
            ghost = Deployment(app_id=created["id"], status="starting", image="localhost/rivetr/web:ghost")
            session.add(ghost)
            await session.commit()
        orphan = await fake_runtime.run(
            __import__("rivetr_core.types", fromlist=["RunSpec"]).RunSpec(
                image=good["image"], name="orphan", labels=svc.labels(created["id"], ghost.id)
            )
        )
        foreign = await fake_runtime.run(
            __import__("rivetr_core.types", fromlist=["RunSpec"]).RunSpec(
                image=good["image"],
                name="other-instance",
                labels={**svc.labels(created["id"], ghost.id), "rivetr.instance": "someone-else"},
            )
        )
    app2 = create_app(config)
    app2.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app2.test_app():
        api2 = ApiClient(app2)
        _, ghost_now = await api2.get(f"/api/deployments/{ghost.id}")
        assert ghost_now["status"] == "failed" and "interrupted" in ghost_now["error"]
        for _ in range(100):
            if (
                orphan.id not in fake_runtime.containers
                and "localhost/rivetr/web:ghost" not in fake_runtime.images
            ):
                break
            await asyncio.sleep(0.02)
        assert orphan.id not in fake_runtime.containers
        assert "localhost/rivetr/web:ghost" not in fake_runtime.images  # image of the interrupted deployment
        assert good["image"] in fake_runtime.images
        assert foreign.id in fake_runtime.containers  # another Rivetr's container is never touched
        assert good["container_id"] in fake_runtime.live()
        _code, routes = await api2.get("/api/routes")
        assert routes["items"][0]["upstreams"][0]["address"] == good["upstream"]


async def test_recovery_keeps_a_switch_that_had_committed(tmp_path, git_server, fake_runtime):
    """kill -9 after the switch's transaction (routes + the app's current deployment) but before the
    deployment's own status write: the new version serves, so recovery marks it running, keeps its container
    and removes the replaced one, instead of failing it and removing the container the routes point at."""
    from rivetr_core.app import create_app
    from rivetr_core.contract import RunSpec
    from rivetr_core.models.apps import App, Deployment

    config = make_config(tmp_path / "data")
    app = create_app(config)
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        api = ApiClient(app)
        created = await make_app(api, git_server.create_repo("web"))
        old = await deploy_and_wait(api, created["id"], ("running",))
        svc = api.ctx.services["deployments"]
        new = Deployment(app_id=created["id"], status="switching", image=old["image"])
        async with api.ctx.db.session() as session:
            session.add(new)
            await session.commit()
        container = await fake_runtime.run(
            RunSpec(image=old["image"], name="switched", labels=svc.labels(created["id"], new.id))
        )
        async with api.ctx.db.session() as session:
            row = await session.get(Deployment, new.id)
            row.container_id, row.upstream = container.id, container.upstream
            session.add(row)
            await session.commit()
        # What the switch commits, then the process dies before the status write.
        routes = api.ctx.services["routes"]
        async with api.ctx.db.session() as session:
            stored = await routes.stage(session, "web.example.com", [container.upstream], created["id"])
            app_row = await session.get(App, created["id"])
            app_row.current_deployment_id = new.id
            replaced = await session.get(Deployment, old["id"])
            replaced.status = "replaced"
            session.add_all([app_row, replaced])
            await session.commit()
        await routes.publish(stored)
    app2 = create_app(config)
    app2.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app2.test_app():
        api2 = ApiClient(app2)
        _, recovered = await api2.get(f"/api/deployments/{new.id}")
        assert recovered["status"] == "running", recovered
        for _ in range(100):
            if old["container_id"] not in fake_runtime.containers:
                break
            await asyncio.sleep(0.02)
        assert old["container_id"] not in fake_runtime.containers  # the replaced version is cleaned up
        assert container.id in fake_runtime.live()  # the serving one is kept
        _code, app_now = await api2.get(f"/api/apps/{created['id']}")
        assert app_now["status"] == "running" and app_now["current_deployment_id"] == new.id


async def test_delete_app_cleans_up(papi, git_server, fake_runtime, events):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    code, _ = await papi.delete(f"/api/apps/{app['id']}")
    assert code == 204
    assert fake_runtime.containers == {} and dep["image"] not in fake_runtime.images
    assert (await papi.get("/api/routes"))[1] == {"items": [], "next": None}
    assert (await papi.get(f"/api/apps/{app['id']}"))[0] == 404
    assert (await papi.get(f"/api/deployments/{dep['id']}"))[0] == 404


async def test_a_delete_the_engine_interrupted_is_finished_by_recovery(papi, git_server, fake_runtime):
    from rivetr_core.engine.recovery import resume_deletions

    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    listing = fake_runtime.list

    async def engine_gone(*args, **kwargs):
        raise RuntimeUnavailable("docker engine at unix:///gone does not answer")

    fake_runtime.list = engine_gone
    code, body = await papi.delete(f"/api/apps/{app['id']}")
    assert code == 503 and body["error"]["code"] == "runtime_unavailable", body
    code, got = await papi.get(f"/api/apps/{app['id']}")
    assert code == 200 and got["status"] == "deleting"  # kept, visibly half-deleted, not silently lost
    assert (await papi.post(f"/api/apps/{app['id']}/deploy"))[0] == 409
    svc = papi.ctx.services["deployments"]
    assert await resume_deletions(svc) == []  # engine still away: stays for the next start
    fake_runtime.list = listing
    assert await resume_deletions(svc) == [app["id"]]
    assert fake_runtime.containers == {} and dep["image"] not in fake_runtime.images
    assert (await papi.get(f"/api/apps/{app['id']}"))[0] == 404
    assert (await papi.get("/api/routes"))[1] == {"items": [], "next": None}


async def test_crash_restart_never_outlives_a_deleted_app(papi, git_server, fake_runtime):
    """The crash watcher must not restart a container while (or after) delete_app removes the app: deletion
    marks the app under the switch lock first; a final sweep by label catches anything started meanwhile."""
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    remove_image = fake_runtime.remove_image

    async def slow_remove_image(image: str, force: bool = False) -> None:
        await asyncio.sleep(0.5)  # the watcher (every 0.1 s, backoff 0.05 s) gets its chance meanwhile
        await remove_image(image, force)

    fake_runtime.remove_image = slow_remove_image
    fake_runtime.crash(dep["container_id"])
    code, _ = await papi.delete(f"/api/apps/{app['id']}")
    assert code == 204
    await asyncio.sleep(0.4)  # a restart scheduled before the delete would land now
    assert fake_runtime.containers == {}, [c.spec.name for c in fake_runtime.containers.values()]
    assert (await papi.get("/api/routes"))[1] == {"items": [], "next": None}


async def test_delete_waits_for_a_restart_holding_the_lock_and_sweeps_it(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    await deploy_and_wait(papi, app["id"], ("running",))
    svc = papi.ctx.services["deployments"]
    lock = svc.switch_lock(app["id"])
    await lock.acquire()  # a crash restart (or a switch) in progress
    task = asyncio.ensure_future(svc.delete_app(app["id"]))
    await asyncio.sleep(0.05)
    assert not task.done()
    # What the restart starts while it holds the lock: a new container of the app, not yet tracked.
    spec = fake_runtime.runs[-1]
    await fake_runtime.run(dataclasses.replace(spec, name=f"{spec.name}-restarted"))  # names are unique
    lock.release()
    await asyncio.wait_for(task, 10)
    assert fake_runtime.containers == {}
    code, _ = await papi.post(f"/api/apps/{app['id']}/deploy")
    assert code == 404


async def test_domain_edit_reroutes_the_running_version(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    code, body = await papi.put(
        f"/api/apps/{app['id']}", json={"domains": ["new.example.com", "www.example.com"]}
    )
    assert code == 200 and body["domains"] == ["new.example.com", "www.example.com"]
    _, routes = await papi.get("/api/routes")
    assert {(r["domain"], r["upstreams"][0]["address"]) for r in routes["items"]} == {
        ("new.example.com", dep["upstream"]),
        ("www.example.com", dep["upstream"]),
    }
    code, _ = await papi.delete("/api/routes/new.example.com")
    assert code == 409  # an app's route is changed through the app


async def test_app_https_flags_reach_its_routes(papi, git_server, fake_runtime):
    """``https_redirect``/``hsts`` live on the app: a deploy routes its domains with them, an edit applies them
    to the routes at once, a domain added later gets them too; new apps default to redirect on, HSTS off."""

    async def flags() -> dict[str, tuple[bool, bool]]:
        _, routes = await papi.get("/api/routes")
        return {r["domain"]: (r["https_redirect"], r["hsts"]) for r in routes["items"]}

    repo = git_server.create_repo("web")
    app = await make_app(papi, repo, https_redirect=False, hsts=True)
    assert (app["https_redirect"], app["hsts"]) == (False, True)
    await deploy_and_wait(papi, app["id"], ("running",))
    assert await flags() == {"web.example.com": (False, True)}
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"https_redirect": True, "hsts": False})
    assert code == 200 and (body["https_redirect"], body["hsts"]) == (True, False)
    assert await flags() == {"web.example.com": (True, False)}
    code, body = await papi.put(
        f"/api/apps/{app['id']}", json={"hsts": True, "domains": ["web.example.com", "www.example.com"]}
    )
    assert code == 200
    assert await flags() == {"web.example.com": (True, True), "www.example.com": (True, True)}
    # Edited while a deployment builds: its switch routes with the flags of now, not of its start.
    fake_runtime.slow = 0.5
    repo.write("SLOW_BUILD", "")
    repo.commit("slow")
    fake_runtime.building.clear()
    dep = await deploy(papi, app["id"])
    await asyncio.wait_for(fake_runtime.building.wait(), 10)
    code, _ = await papi.put(f"/api/apps/{app['id']}", json={"hsts": False})
    assert code == 200
    await wait_status(papi, dep["id"], ("running",))
    assert await flags() == {"web.example.com": (True, False), "www.example.com": (True, False)}
    code, _ = await papi.put(f"/api/apps/{app['id']}", json={"https_redirect": None})
    assert code == 422  # a flag cannot be null
    code, other = await papi.post(
        "/api/apps", json={"name": "plain", "git_url": repo.url, "domains": ["plain.example.com"]}
    )
    assert code == 201 and (other["https_redirect"], other["hsts"]) == (True, False)


async def test_deploy_a_given_commit(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    first = repo.head()
    repo.write("www/index.html", "newer")
    repo.commit("newer")
    app = await make_app(papi, repo)
    dep = await deploy(papi, app["id"], commit=first)
    assert dep["requested_commit"] == first
    done = await wait_status(papi, dep["id"], ("running", "failed"))
    assert done["status"] == "running" and done["commit_sha"] == first
    assert fake_runtime.images[done["image"]].body == "hello from v1\n"
    missing = await deploy(papi, app["id"], commit="0" * 40)
    failed = await wait_status(papi, missing["id"], ("running", "failed"))
    assert failed["status"] == "failed" and "git fetch" in failed["error"]
    _, got = await papi.get(f"/api/apps/{app['id']}")
    assert got["current_deployment_id"] == dep["id"]


async def test_private_https_repository_with_a_token(papi, git_server, fake_runtime):
    from tests.support.gitserver import GitHttpServer
    from tests.test_deploy_gitsource import TOKEN

    repo = git_server.create_repo("private")
    server = GitHttpServer(git_server.base, user="x-access-token", token=TOKEN)
    url = server.url("private")
    try:
        app = await make_app(papi, repo, git_url=url)
        denied = await deploy_and_wait(papi, app["id"], ("running", "failed"))
        assert denied["status"] == "failed" and TOKEN not in str(denied)
        code, body = await papi.put(f"/api/apps/{app['id']}", json={"git_token": TOKEN})
        assert code == 200 and TOKEN not in str(body)
        done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
        assert done["status"] == "running" and done["commit_sha"] == repo.head(), done
        _, logs = await papi.get(f"/api/deployments/{done['id']}/logs")
        assert TOKEN not in str(logs)
        in_url = url.replace("http://", f"http://x-access-token:{TOKEN}@")
        other = await make_app(papi, repo, name="web2", git_url=in_url)
        done = await deploy_and_wait(papi, other["id"], ("running", "failed"))
        assert done["status"] == "running", done  # the token moved out of the URL still authenticates
    finally:
        server.close()
    await papi.ctx.db.close()
    blob = at_rest.stored_bytes(papi.ctx)
    assert TOKEN.encode() not in blob


async def test_cancel_during_container_start_removes_the_container(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    fake_runtime.run_delay = 0.5
    dep = await deploy(papi, app["id"])
    await asyncio.wait_for(fake_runtime.running_started.wait(), 10)
    code, cancelled = await papi.post(f"/api/deployments/{dep['id']}/cancel")
    assert code == 200 and cancelled["status"] == "cancelled", cancelled
    assert len(fake_runtime.runs) == 1  # the engine did create it...
    assert fake_runtime.containers == {}  # ...and the cancel waited for it and removed it


async def test_restart_budget_resets_once_stable(papi, git_server, fake_runtime, monkeypatch):
    from rivetr_core.engine import recovery

    monkeypatch.setattr(recovery, "STABLE_AFTER", 0.3)
    app = await make_app(papi, git_server.create_repo("web"))
    dep = await deploy_and_wait(papi, app["id"], ("running",))
    fake_runtime.crash(dep["container_id"])
    seen = []
    for _ in range(200):
        now = (await papi.get(f"/api/deployments/{dep['id']}"))[1]
        seen.append(now["restart_count"])
        if 1 in seen and now["restart_count"] == 0:
            break
        await asyncio.sleep(0.02)
    assert 1 in seen and seen[-1] == 0, seen[-10:]
    assert now["container_id"] in fake_runtime.live()


def test_upstream_of_a_container_and_the_port_a_restart_keeps():
    from rivetr_core.engine.recovery import _loopback_port

    published = ContainerInfo(id="a", name="a", image="i", status="running", running=True, host_port=4100)
    direct = ContainerInfo(
        id="b", name="b", image="i", status="running", running=True, address="172.17.0.9:8000"
    )
    assert (published.upstream, direct.upstream) == ("127.0.0.1:4100", "172.17.0.9:8000")
    assert ContainerInfo(id="c", name="c", image="i", status="exited", running=False).upstream is None
    assert [_loopback_port(u) for u in ("127.0.0.1:4100", "172.17.0.9:8000", None, "127.0.0.1:x")] == [
        4100,
        0,
        0,
        0,
    ]
