"""Scheduled tasks and scheduled deployments through the API with the FAKE runtime (its exec handler stands in
for the container): validation (422 naming the field), the scheduler jobs they own and their next runs (the
scheduler's own math, in the child process), Run now and a scheduled run (the job kind, as the scheduler calls
it), output capped, a failure's ``task_failed`` event, 409 while a run goes on, a one-off deployment that fires
through the scheduler's claim with ``trigger: "schedule"``, cancel. Real Docker: tests/e2e/test_tasks_e2e.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rivetr_core.contract import ExecResult
from rivetr_core.models.schedules import ScheduledJob
from rivetr_core.models.tasks import OUTPUT_LIMIT
from rivetr_core.scheduler import cron
from rivetr_core.scheduler.kinds import get_kind
from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app, wait_status

# The pipeline tests' fixtures: an app on the fake runtime with an event-recording plugin.
papi = pipeline.papi
events = pipeline.events

BASE = {"name": "cleanup", "command": "echo hi", "schedule": "*/15 * * * *"}


async def _app(papi: Any, git_server: Any, *, deployed: bool = True, name: str = "web") -> dict:
    app = await make_app(papi, git_server.create_repo(name), name=name)
    if deployed:
        await deploy_and_wait(papi, app["id"], ("running",))
    return app


async def _jobs(papi: Any) -> dict[str, dict]:
    code, jobs = await papi.get("/api/schedules")
    assert code == 200
    return {j["name"]: j for j in jobs["items"]}


async def _wait_run(papi: Any, app_id: str, task_id: str, run_id: str) -> dict:
    for _ in range(300):
        code, run = await papi.get(f"/api/apps/{app_id}/tasks/{task_id}/runs/{run_id}")
        assert code == 200, run
        if run["status"] != "running":
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} still running: {run}")


async def test_task_validation_names_the_field(papi, git_server):
    app = await _app(papi, git_server, deployed=False)
    url = f"/api/apps/{app['id']}/tasks"
    for bad, field in [
        ({"schedule": "0 3 * *"}, "schedule"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "Bad Name"}, "name"),
        ({"command": "   "}, "command"),
        ({"timeout": 0}, "timeout"),
    ]:
        code, answer = await papi.post(url, json={**BASE, **bad})
        assert code in (400, 422), (bad, answer)
        fields = [d.get("field") or ".".join(map(str, d.get("loc", []))) for d in answer["error"]["details"]]
        assert any(field in f for f in fields), (bad, answer)
    assert (await papi.post("/api/apps/nope/tasks", json=BASE))[0] == 404
    code, task = await papi.post(url, json=BASE)
    assert code == 201, task
    code, answer = await papi.post(url, json=BASE)
    assert code == 409 and answer["error"]["details"][0]["field"] == "name"
    code, answer = await papi.put(f"{url}/{task['id']}", json={"schedule": "nope"})
    assert code == 422 and answer["error"]["details"][0]["field"] == "schedule"
    code, same = await papi.put(f"{url}/{task['id']}", json={"command": None})  # null: unchanged
    assert code == 200 and same["command"] == BASE["command"]
    code, answer = await papi.put(f"{url}/{task['id']}", json={"command": "  "})
    assert code == 422 and answer["error"]["details"][0]["field"] == "command"


async def test_task_owns_a_scheduler_job_with_the_next_run(papi, git_server):
    app = await _app(papi, git_server, deployed=False)
    url = f"/api/apps/{app['id']}/tasks"
    code, task = await papi.post(url, json={**BASE, "schedule": "30 4 * * *", "timezone": "Europe/Paris"})
    assert code == 201 and task["enabled"] and task["last_run"] is None
    expected = await cron.next_run("30 4 * * *", "Europe/Paris", datetime.now(UTC))
    assert task["next_run_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    job = (await _jobs(papi))[f"app-task:{task['id']}"]
    assert job["kind"] == "app_task" and job["cron"] == "30 4 * * *" and job["timezone"] == "Europe/Paris"

    code, task = await papi.put(f"{url}/{task['id']}", json={"schedule": "0 1 * * 1", "enabled": False})
    assert code == 200 and task["next_run_at"] is None and not task["enabled"]
    job = (await _jobs(papi))[f"app-task:{task['id']}"]
    assert job["cron"] == "0 1 * * 1" and job["enabled"] is False
    code, page = await papi.get(url)
    assert [t["name"] for t in page["items"]] == ["cleanup"] and page["next"] is None

    assert (await papi.delete(f"{url}/{task['id']}"))[0] == 204
    assert f"app-task:{task['id']}" not in await _jobs(papi)
    assert (await papi.get(f"{url}/{task['id']}"))[0] == 404


async def test_run_now_and_scheduled_run_record_exit_code_output_and_notify(
    papi, git_server, fake_runtime, events
):
    app = await _app(papi, git_server)
    url = f"/api/apps/{app['id']}/tasks"
    seen: list[tuple[list[str], dict[str, str]]] = []
    outcome = {"code": 0, "output": "cleaned 3 files\n"}

    def handler(container_id: str, cmd: list[str], env: dict[str, str]) -> ExecResult:
        seen.append((cmd, env))
        return ExecResult(outcome["code"], outcome["output"])

    fake_runtime.exec_handler = handler
    code, task = await papi.post(url, json={**BASE, "command": "rm -v /tmp/*.old", "timeout": 42})
    assert code == 201

    code, run = await papi.post(f"{url}/{task['id']}/run")
    assert code == 202 and run["status"] == "running" and run["trigger"] == "manual"
    run = await _wait_run(papi, app["id"], task["id"], run["id"])
    assert run["status"] == "succeeded" and run["exit_code"] == 0 and run["output"] == "cleaned 3 files\n"
    assert run["finished_at"] and run["duration_ms"] is not None and run["command"] == "rm -v /tmp/*.old"
    cmd, env = seen[-1]
    assert cmd[:2] == ["sh", "-c"] and env["RIVETR_TASK_COMMAND"] == "rm -v /tmp/*.old"
    assert env["RIVETR_TASK_TIMEOUT"] == "42"
    assert not [e for e in events.events if e.type == "task_failed"]

    # The scheduler's run of the job: the same, trigger schedule; a failure raises (the job's run says failed),
    # keeps the tail of a long output and raises task_failed.
    outcome.update(code=3, output="x" * (OUTPUT_LIMIT + 100) + "disk full\n")
    kind = get_kind("app_task")
    assert kind is not None
    try:
        await kind(papi.ctx, {"task_id": task["id"]})
        raise AssertionError("a failed run must raise")
    except RuntimeError as exc:
        assert "exited with code 3" in str(exc)
    code, runs = await papi.get(f"{url}/{task['id']}/runs")
    latest = runs["items"][0]
    assert [r["trigger"] for r in runs["items"]] == ["schedule", "manual"]
    assert latest["status"] == "failed" and latest["exit_code"] == 3 and latest["output_truncated"]
    assert latest["output"].endswith("disk full\n") and len(latest["output"].encode()) <= OUTPUT_LIMIT
    failed = [e for e in events.events if e.type == "task_failed"]
    assert len(failed) == 1 and failed[0].app_id == app["id"] and failed[0].level == "failure"
    assert failed[0].data["task_name"] == "cleanup" and failed[0].data["exit_code"] == 3
    code, listed = await papi.get(url)
    assert listed["items"][0]["last_run"]["id"] == latest["id"]


async def test_run_now_conflicts_while_running_and_fails_without_a_container(papi, git_server, fake_runtime):
    app = await _app(papi, git_server)
    url = f"/api/apps/{app['id']}/tasks"
    code, task = await papi.post(url, json=BASE)
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(container_id: str, cmd: list[str], env: dict[str, str]) -> ExecResult:
        return ExecResult(0, "done")

    async def gated_exec(container_id: str, cmd: list[str], env: dict[str, str] | None = None) -> ExecResult:
        await gate.wait()
        return slow(container_id, cmd, env or {})

    fake_runtime.exec = gated_exec  # type: ignore[method-assign]
    code, run = await papi.post(f"{url}/{task['id']}/run")
    assert code == 202
    code, answer = await papi.post(f"{url}/{task['id']}/run")
    assert code == 409 and answer["error"]["code"] == "task_running"
    loop.call_soon(gate.set)
    assert (await _wait_run(papi, app["id"], task["id"], run["id"]))["status"] == "succeeded"

    # An app with nothing running: the run fails and says why.
    other = await _app(papi, git_server, deployed=False, name="idle")
    code, task2 = await papi.post(f"/api/apps/{other['id']}/tasks", json=BASE)
    code, run2 = await papi.post(f"/api/apps/{other['id']}/tasks/{task2['id']}/run")
    run2 = await _wait_run(papi, other["id"], task2["id"], run2["id"])
    assert run2["status"] == "failed" and run2["error"] == "the app has no running container"


async def test_scheduled_deployment_validation(papi, git_server):
    app = await _app(papi, git_server, deployed=False)
    url = f"/api/apps/{app['id']}/scheduled-deployments"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for bad, field in [
        ({}, "at"),
        ({"at": "2030-01-01T00:00:00Z", "schedule": "0 3 * * *"}, "at"),
        ({"at": "tomorrow"}, "at"),
        ({"at": past}, "at"),
        ({"schedule": "0 3 * *"}, "schedule"),
    ]:
        code, answer = await papi.post(url, json=bad)
        assert code == 422 and answer["error"]["details"][0]["field"] == field, (bad, answer)


async def test_recurring_scheduled_deployment_is_listed_with_its_next_run_and_cancelled(papi, git_server):
    app = await _app(papi, git_server, deployed=False)
    url = f"/api/apps/{app['id']}/scheduled-deployments"
    code, sd = await papi.post(url, json={"schedule": "0 2 * * *", "no_cache": True})
    assert code == 201 and sd["kind"] == "cron" and sd["no_cache"] and sd["status"] == "scheduled"
    expected = await cron.next_run("0 2 * * *", "UTC", datetime.now(UTC))
    assert sd["next_run_at"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (await _jobs(papi))[f"scheduled-deploy:{sd['id']}"]["kind"] == "scheduled_deploy"
    code, page = await papi.get(url)
    assert [s["id"] for s in page["items"]] == [sd["id"]]
    assert (await papi.delete(f"{url}/{sd['id']}"))[0] == 204
    assert f"scheduled-deploy:{sd['id']}" not in await _jobs(papi)
    assert (await papi.get(url))[1]["items"] == []


async def test_one_off_deployment_fires_through_the_scheduler_with_trigger_schedule(papi, git_server):
    app = await _app(papi, git_server, deployed=False)
    url = f"/api/apps/{app['id']}/scheduled-deployments"
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    code, sd = await papi.post(url, json={"at": at.isoformat().replace("+00:00", "Z")})
    assert code == 201 and sd["kind"] == "once" and sd["next_run_at"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # The scheduler's test hook, as the scheduler tests use it: make the job due now, let a tick claim it.
    scheduler = papi.ctx.services.scheduler
    async with papi.ctx.db.session() as session:
        await session.exec(
            sa.update(ScheduledJob)
            .where(ScheduledJob.name == f"scheduled-deploy:{sd['id']}")
            .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    await scheduler.tick()
    await asyncio.gather(*list(scheduler.running.values()))
    code, sd = await papi.get(f"{url}/{sd['id']}")
    assert sd["status"] == "done" and sd["last_deployment_id"] and sd["next_run_at"] is None
    code, dep = await papi.get(f"/api/deployments/{sd['last_deployment_id']}")
    assert code == 200 and dep["trigger"] == "schedule" and dep["app_id"] == app["id"]
    await wait_status(papi, dep["id"], ("running", "failed"))
    job = (await _jobs(papi))[f"scheduled-deploy:{sd['id']}"]
    assert job["enabled"] is False and job["last_status"] == "succeeded"
