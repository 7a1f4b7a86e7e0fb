"""The adoption logic of control planes on the embedded database (the real PostgreSQL runs with two planes are in
tests/test_control_planes_postgres.py): which adopted deployment runs and which is superseded
(engine/recovery.py ``run_adopted``), and what a start-up recovers on SQLite, where one process owns everything
and no row records a plane (engine/adoption.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.db import utcnow
from tests.support import postgres
from tests.support.server import ApiClient, api_on, make_config

IMAGE = "registry.example.com/team/api:1"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: Any) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="v1")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def _settled(api: ApiClient, dep_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            code, dep = await api.get(f"/api/deployments/{dep_id}")
            assert code == 200, dep
            if dep["status"] not in (
                "queued",
                "cloning",
                "building",
                "starting",
                "health_checking",
                "switching",
            ):
                return dict(dep)
            await asyncio.sleep(0.02)


async def test_an_adopted_queued_deployment_runs_unless_a_newer_one_of_its_app_waits(
    api: ApiClient, fake_runtime: Any
) -> None:
    """The newest queued deployment of an app wins, whichever plane queued it: an adopted one older than this
    plane's waiting one is superseded; a newer one supersedes the waiting one and runs. One a dead plane had
    claimed is never run again."""
    from rivetr_core.engine.recovery import _never_started, run_adopted
    from rivetr_core.models.apps import Deployment

    svc = api.ctx.services["deployments"]
    code, app = await api.post(
        "/api/apps", json={"name": "api", "source": {"kind": "image", "image": IMAGE}, "port": 8080}
    )
    assert code == 201, app
    async with svc.db.session() as session:
        older = Deployment(app_id=app["id"], status="queued", created_at=utcnow() - timedelta(minutes=5))
        session.add(older)
        await session.commit()
    async with svc.queue.app_lock(app["id"]):  # a pipeline of the app runs: new deployments wait
        code, waiting = await api.post(f"/api/apps/{app['id']}/deploy")
        assert code == 202, waiting
        await run_adopted(svc, [older])
        async with svc.db.session() as session:
            newer = Deployment(app_id=app["id"], status="queued", created_at=utcnow() + timedelta(minutes=5))
            session.add(newer)
            await session.commit()
        await run_adopted(svc, [newer])
        assert svc.queue.waiting(app["id"]) == [newer.id]
    code, dropped = await api.get(f"/api/deployments/{older.id}")
    assert dropped["status"] == "superseded", dropped
    assert (await _settled(api, waiting["id"]))["status"] == "superseded"
    ran = await _settled(api, newer.id)
    assert ran["status"] == "running", ran
    assert fake_runtime.pulls == [IMAGE]  # only the adopted newer one ran
    assert _never_started(Deployment(app_id="a", status="queued"))
    assert not _never_started(Deployment(app_id="a", status="queued", started_at=utcnow()))
    assert not _never_started(Deployment(app_id="a", status="building"))


@pytest.mark.skipif(
    postgres.enabled(), reason="SQLite's single process (RIVETR_TEST_DATABASE=postgres is set)"
)
async def test_on_sqlite_a_start_up_recovers_every_stack_deployment_and_task_run(api: ApiClient) -> None:
    """No planes: every stack deployment in progress (a queued one too) fails and every task run ends
    interrupted, none records a plane, and nothing is run again."""
    from rivetr_core.engine.adoption import adopt_stack_deployments, interrupt_task_runs
    from rivetr_core.models.apps import App
    from rivetr_core.models.stacks import Stack, StackDeployment
    from rivetr_core.models.tasks import AppTask, AppTaskRun

    ctx = api.ctx
    assert ctx.services["deployments"].plane is None
    async with ctx.db.session() as session:
        app = App(name="web", git_url="https://git.example.com/acme/web.git", port=8000)
        shop = Stack(name="shop", compose=f"services:\n  web:\n    image: {IMAGE}\n")
        session.add_all([app, shop])
        await session.commit()
        task = AppTask(app_id=app.id, name="report", command="true", schedule="0 0 * * *")
        queued = StackDeployment(stack_id=shop.id, status="queued")
        building = StackDeployment(stack_id=shop.id, status="building", started_at=utcnow())
        session.add_all([task, queued, building])
        await session.commit()
        run = AppTaskRun(task_id=task.id, app_id=app.id, command="true")
        session.add(run)
        await session.commit()
    ran, failed = await adopt_stack_deployments(ctx, at_start=True)
    assert ran == [] and sorted(failed) == sorted([queued.id, building.id])
    assert await interrupt_task_runs(ctx, at_start=True) == 1
    async with ctx.db.session() as session:
        for dep in (queued, building):
            row = await session.get(StackDeployment, dep.id)
            assert row is not None and row.status == "failed" and row.plane_id is None
            assert row.error == "interrupted: the server stopped"
        stopped = await session.get(AppTaskRun, run.id)
    assert stopped is not None and stopped.status == "interrupted" and stopped.plane_id is None
    assert stopped.error == "the server stopped before the run finished"
    code, runs = await api.get(f"/api/apps/{app.id}/tasks/{task.id}/runs")
    assert code == 200 and runs["items"][0]["plane_id"] is None, runs
