"""Two control planes on one PostgreSQL database never run the same work twice: a scheduled job's slot is run by
one of them (the scheduler's atomic claim), and a queued deployment handed to both runs one pipeline
(rivetr_core/engine/claims.py). Two in-process apps, each with its own connection pool, on one real private
PostgreSQL cluster (postgres_server)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from rivetr_core.models.apps import Deployment
from rivetr_core.models.schedules import JobRun, ScheduledJob
from rivetr_core.scheduler.kinds import register_kind
from rivetr_core.scheduler.service import Scheduler
from tests.support.postgres import PostgresServer
from tests.support.server import ApiClient, make_config

pytestmark = pytest.mark.fresh_schema


async def _two_control_planes(stack: AsyncExitStack, url: str, tmp_path: Path) -> list[ApiClient]:
    """Two apps on the same database (each its own data dir, as two hosts would have)."""
    from rivetr_core.app import create_app

    clients = []
    for name in ("one", "two"):  # one after the other: the first migrates the empty database
        app = create_app(make_config(tmp_path / name, database={"url": url}))
        await stack.enter_async_context(app.test_app())  # type: ignore[arg-type]
        clients.append(ApiClient(app))
    assert all(c.ctx.db.dialect == "postgresql" for c in clients)
    return clients


async def test_a_due_schedule_runs_once_across_two_control_planes(
    postgres_server: PostgresServer, tmp_path: Path
):
    calls: list[str] = []

    async def count(ctx: Any, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(ctx.config.server.data_dir.name)
        return {}

    register_kind("s9_count", count)
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        ctxs = [c.ctx for c in await _two_control_planes(stack, url, tmp_path)]
        # Several schedulers per process, as several ticks racing (their own loops also tick).
        schedulers = [
            Scheduler(ctx, owner=f"{ctx.config.server.data_dir.name}:{i}") for ctx in ctxs for i in range(3)
        ]
        job = await schedulers[0].ensure_job("s9-once", "s9_count", "0 0 1 1 *")
        async with ctxs[0].db.session() as session:
            row = await session.get(ScheduledJob, job.id)
            assert row is not None
            row.next_run_at = datetime.now(UTC) - timedelta(seconds=1)  # due now, once
            session.add(row)
            await session.commit()

        started = await asyncio.gather(*(s.tick() for s in schedulers))
        # The apps' own scheduler loops may win the slot too (a loop waking at that moment): still one run.
        everyone = [*schedulers, *(ctx.services["scheduler"] for ctx in ctxs)]
        await asyncio.gather(*(t for s in everyone for t in list(s.running.values())))
        async with ctxs[1].db.session() as session:
            runs = (await session.exec(select(JobRun).where(JobRun.job_id == job.id))).all()

    assert sum(len(ids) for ids in started) <= 1
    assert [r.status for r in runs] == ["succeeded"]
    assert len(calls) == 1


async def test_a_queued_deployment_handed_to_two_control_planes_runs_one_pipeline(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import rivetr_core.engine.service as engine_service

    pipelines: list[tuple[str, str]] = []

    class RecordingPipeline:
        """Stands for the real pipeline (no git or engine needed): records who ran it and leaves the row queued,
        so a second run would pass every status check."""

        def __init__(self, svc: Any, dep: Deployment, snap: Any, source: Any = None) -> None:
            self.svc, self.dep = svc, dep

        async def run(self) -> None:
            pipelines.append((self.svc.ctx.config.server.data_dir.name, self.dep.id))

    monkeypatch.setattr(engine_service, "Pipeline", RecordingPipeline)
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        clients = await _two_control_planes(stack, url, tmp_path)
        ctxs = [c.ctx for c in clients]
        code, body = await clients[0].post(
            "/api/apps", json={"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}
        )
        assert code == 201, body
        ids = []
        for _ in range(5):
            async with ctxs[0].db.session() as session:
                dep = Deployment(app_id=body["id"], status="queued", trigger="api")
                session.add(dep)
                await session.commit()
                ids.append(dep.id)
        services = [ctx.services["deployments"] for ctx in ctxs]
        for dep_id in ids:
            for svc in services:
                svc.queue.submit(
                    dep_id,
                    dep_id,  # its own lane: one process's queue would supersede the waiting ones of one app
                    lambda svc=svc, dep_id=dep_id: svc._run(dep_id),
                    lambda reason, svc=svc, dep_id=dep_id: svc._dropped(dep_id, reason),
                )
        for dep_id in ids:
            for svc in services:
                await svc.queue.wait(dep_id)

    assert sorted(dep_id for _, dep_id in pipelines) == sorted(ids)  # each deployment once, by one of them


async def test_a_queued_stack_deployment_handed_to_two_control_planes_runs_once(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import rivetr_core.stacks.deployer as deployer
    from rivetr_core.models.stacks import Stack, StackDeployment

    runs: list[tuple[str, str]] = []

    class RecordingDeployer:
        """Stands for the real stack deployer (no engine needed) and leaves the row queued."""

        def __init__(self, svc: Any, plan: Any) -> None:
            self.svc, self.dep_id = svc, plan.deployment.id

        async def run(self) -> None:
            runs.append((self.svc.ctx.config.server.data_dir.name, self.dep_id))

    monkeypatch.setattr(deployer, "StackDeployer", RecordingDeployer)
    url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        ctxs = [c.ctx for c in await _two_control_planes(stack, url, tmp_path)]
        ids = []
        async with ctxs[0].db.session() as session:
            for i in range(3):
                row = Stack(name=f"shop{i}", compose="services:\n  web:\n    image: nginx\n")
                dep = StackDeployment(stack_id=row.id, trigger="api")
                session.add(row)
                await session.flush()
                session.add(dep)
                ids.append((row.id, dep.id))
            await session.commit()
        await asyncio.gather(
            *(ctx.services.stacks._run(stack_id, dep_id) for stack_id, dep_id in ids for ctx in ctxs)
        )

    assert sorted(dep_id for _, dep_id in runs) == sorted(dep_id for _, dep_id in ids)
