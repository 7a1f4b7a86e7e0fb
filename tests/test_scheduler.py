"""The scheduler: cron times in time zones (croniter in a child process), the atomic claim (two schedulers on
one database), a run cut by ``kill -9`` (interrupted, never run twice), catch_up, and ``GET /api/schedules``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from rivetr_core.db.engine import Database
from rivetr_core.models.schedules import JobRun, ScheduledJob
from rivetr_core.scheduler import cron
from rivetr_core.scheduler.kinds import register_kind
from rivetr_core.scheduler.service import Scheduler

ROOT = Path(__file__).resolve().parents[1]


async def test_cron_next_runs_follow_the_time_zone_across_dst() -> None:
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    # 03:00 in Paris is 02:00Z in winter (CET) and 01:00Z from 29 March (CEST).
    paris = await cron.next_runs("0 3 * * *", "Europe/Paris", after, 3)
    assert [t.isoformat() for t in paris] == [
        "2026-03-28T02:00:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T01:00:00+00:00",
    ]
    assert await cron.next_run("30 9 * * 1", "America/New_York", after) == datetime(
        2026, 3, 30, 13, 30, tzinfo=UTC
    )
    assert await cron.next_run("0 3 * * *", "UTC", after) == datetime(2026, 3, 28, 3, 0, tzinfo=UTC)
    with pytest.raises(cron.CronError, match="invalid cron expression"):
        await cron.next_run("0 3 * *", "UTC", after)
    with pytest.raises(cron.CronError, match="unknown time zone"):
        await cron.next_run("0 3 * * *", "Mars/Olympus", after)


def test_the_server_process_never_imports_croniter() -> None:
    code = "import rivetr_core.app, rivetr_core.scheduler.service, rivetr_core.api.schedules, sys; print('croniter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


async def _db(path: Path) -> Database:
    db = Database.for_data_dir(path)
    await db.startup()
    return db


def _ctx(db: Database) -> Any:
    return SimpleNamespace(db=db)


async def _make_due(db: Database, name: str, when: datetime) -> None:
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.update(ScheduledJob).where(ScheduledJob.name == name).values(next_run_at=when)
        )
        await session.commit()


async def _runs(db: Database, name: str) -> list[JobRun]:
    async with db.session() as session:
        job = (await session.exec(select(ScheduledJob).where(ScheduledJob.name == name))).one()
        return list((await session.exec(select(JobRun).where(JobRun.job_id == job.id))).all())


async def _job(db: Database, name: str) -> ScheduledJob:
    async with db.session() as session:
        return (await session.exec(select(ScheduledJob).where(ScheduledJob.name == name))).one()


async def test_two_schedulers_on_one_database_run_a_slot_once(tmp_path: Path) -> None:
    calls: list[str] = []

    async def count(ctx: Any, args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args["tag"])
        await asyncio.sleep(0.3)
        return {"ok": True}

    register_kind("test_count", count)
    db_a, db_b = await _db(tmp_path), Database.for_data_dir(tmp_path)  # two engines: two "servers"
    a = Scheduler(_ctx(db_a), owner="host-a:1:1")
    b = Scheduler(_ctx(db_b), owner="host-b:2:2")
    await a.ensure_job("count", "test_count", "*/5 * * * *", args={"tag": "x"})
    await _make_due(db_a, "count", datetime.now(UTC) - timedelta(seconds=1))
    for _ in range(3):  # both race for the same slot, several times over
        started = await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
        assert sum(len(s) for s in started) <= 1
    await asyncio.gather(*a.running.values(), *b.running.values())
    assert calls == ["x"]
    runs = await _runs(db_a, "count")
    assert [r.status for r in runs] == ["succeeded"]
    job = await _job(db_a, "count")
    assert job.next_run_at is not None and job.next_run_at > datetime.now(UTC)
    assert job.last_status == "succeeded" and job.lock_owner is None
    await db_a.engine.dispose()
    await db_b.engine.dispose()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from types import SimpleNamespace
    import sqlalchemy as sa
    from rivetr_core.db.engine import Database
    from rivetr_core.models.schedules import ScheduledJob
    from rivetr_core.scheduler.kinds import register_kind
    from rivetr_core.scheduler.service import Scheduler

    data = Path(sys.argv[1])

    async def slow(ctx, args):
        (data / "started").write_text("1")
        await asyncio.sleep(120)

    async def main():
        db = Database.for_data_dir(data)
        await db.startup()
        register_kind("test_slow", slow)
        s = Scheduler(SimpleNamespace(db=db), lease_seconds=600)
        await s.ensure_job("slow", "test_slow", "*/10 * * * *", catch_up=True)
        async with db.session() as session:
            due = datetime.now(UTC) - timedelta(seconds=1)
            await session.exec(sa.update(ScheduledJob).values(next_run_at=due))
            await session.commit()
        await s.run_forever()

    asyncio.run(main())
    """
)


async def test_kill_9_mid_run_marks_it_interrupted_and_never_runs_the_slot_twice(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT)  # noqa: ASYNC220
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the child never started its run"
            await asyncio.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    db = await _db(tmp_path)
    before = await _runs(db, "slow")
    assert [r.status for r in before] == ["running"]
    slot = before[0].scheduled_for
    job = await _job(db, "slow")
    assert job.locked_until is not None  # the dead process's lease (600 s) is still on the job

    calls: list[int] = []

    async def slow(ctx: Any, args: dict[str, Any]) -> None:
        calls.append(1)

    register_kind("test_slow", slow)
    restarted = Scheduler(_ctx(db))
    task = asyncio.create_task(restarted.run_forever())  # what start-up does: recover, skip missed, loop
    await asyncio.sleep(1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    runs = await _runs(db, "slow")
    assert [(r.status, r.scheduled_for) for r in runs] == [("interrupted", slot)]
    assert "stopped" in (runs[0].error or "")
    assert calls == []  # the slot the killed process had claimed is not run again
    job = await _job(db, "slow")
    assert job.lock_owner is None and job.last_status == "interrupted"
    assert job.next_run_at is not None and job.next_run_at > slot
    await db.engine.dispose()


async def test_catch_up_runs_missed_slots_once_and_without_it_skips_them(tmp_path: Path) -> None:
    calls: list[str] = []

    async def record(ctx: Any, args: dict[str, Any]) -> None:
        calls.append(args["name"])

    register_kind("test_record", record)
    db = await _db(tmp_path)
    s = Scheduler(_ctx(db))
    await s.ensure_job("eager", "test_record", "* * * * *", args={"name": "eager"}, catch_up=True)
    await s.ensure_job("lazy", "test_record", "* * * * *", args={"name": "lazy"}, catch_up=False)
    missed = datetime.now(UTC) - timedelta(minutes=30)  # thirty slots passed while "the server was down"
    await _make_due(db, "eager", missed)
    await _make_due(db, "lazy", missed)

    assert await s.skip_missed() == 1
    started = await s.tick()
    await asyncio.gather(*s.running.values())
    assert len(started) == 1 and calls == ["eager"]  # once, not thirty times
    assert await s.tick() == []
    assert [r.status for r in await _runs(db, "eager")] == ["succeeded"]
    lazy_runs = await _runs(db, "lazy")
    assert [r.status for r in lazy_runs] == ["skipped"]
    now = datetime.now(UTC)
    for name in ("eager", "lazy"):
        job = await _job(db, name)
        assert job.next_run_at is not None and now < job.next_run_at <= now + timedelta(seconds=61)
    await db.engine.dispose()


async def test_jitter_delays_within_its_bound(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    s = Scheduler(_ctx(db))
    job = await s.ensure_job("spread", "test_record", "0 3 * * *", jitter_seconds=600)
    assert job.next_run_at is not None
    slot = job.next_run_at.replace(minute=0, second=0, microsecond=0)
    assert slot.hour == 3 and timedelta(0) <= job.next_run_at - slot <= timedelta(seconds=600)
    await db.engine.dispose()


async def test_api_lists_the_default_state_backup_schedule(api) -> None:
    status, body = await api.get("/api/schedules")
    assert status == 200, body
    assert body["next"] is None
    (job,) = [j for j in body["items"] if j["name"] == "rivetr-state-backup"]
    assert job["kind"] == "state_backup" and job["cron"] == "0 3 * * *" and job["timezone"] == "UTC"
    assert job["enabled"] is True and job["catch_up"] is True and job["last_run_at"] is None
    nxt = datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert nxt.hour == 3 and nxt.minute == 0 and now < nxt <= now + timedelta(days=1)
    status, runs = await api.get(f"/api/schedules/{job['id']}/runs")
    assert status == 200 and runs == {"items": [], "next": None}
    status, err = await api.get("/api/schedules/nope/runs")
    assert status == 404 and err["error"]["code"] == "not_found"
    status, _ = await api.get("/api/schedules", auth=False)
    assert status == 401


async def test_api_runs_the_state_backup_now_into_the_backup_dir(api) -> None:
    _, body = await api.get("/api/schedules")
    (job,) = [j for j in body["items"] if j["name"] == "rivetr-state-backup"]
    status, started = await api.post(f"/api/schedules/{job['id']}/run")
    assert status == 202, started
    deadline = time.monotonic() + 30
    while True:
        _, runs = await api.get(f"/api/schedules/{job['id']}/runs")
        if runs["items"] and runs["items"][0]["status"] != "running":
            break
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.1)
    (run,) = runs["items"]
    assert run["status"] == "succeeded", run
    archive = Path(run["result"]["path"])
    assert archive.parent == api.ctx.config.server.data_dir / "backups" and archive.is_file()
    assert len(run["result"]["sha256"]) == 64
    _, body = await api.get("/api/schedules")
    (job,) = [j for j in body["items"] if j["name"] == "rivetr-state-backup"]
    assert job["last_status"] == "succeeded" and job["last_run_at"] and not job["running"]
    nxt = datetime.fromisoformat(job["next_run_at"].replace("Z", "+00:00"))
    assert nxt.hour == 3 and nxt > datetime.now(UTC)  # back on its daily slot
    status, err = await api.post("/api/schedules/nope/run")
    assert status == 404 and err["error"]["code"] == "not_found"


async def test_ensure_job_writes_only_what_changed(tmp_path: Path) -> None:
    db = await _db(tmp_path)
    s = Scheduler(_ctx(db))
    first = await s.ensure_job("daily", "test_record", "0 3 * * *", timezone="Europe/Paris")
    again = await s.ensure_job("daily", "test_record", "0 3 * * *", timezone="Europe/Paris")
    assert (again.updated_at, again.next_run_at) == (
        first.updated_at,
        first.next_run_at,
    )  # each start: no write
    moved = await s.ensure_job("daily", "test_record", "30 4 * * *", timezone="Europe/Paris")
    assert moved.next_run_at is not None and moved.next_run_at.minute == 30
    off = await s.ensure_job("daily", "test_record", "30 4 * * *", timezone="Europe/Paris", enabled=False)
    assert off.enabled is False and (await s.tick()) == []
    await db.engine.dispose()


async def _run_state_backup_now(api) -> dict[str, Any]:
    _, body = await api.get("/api/schedules")
    (job,) = [j for j in body["items"] if j["name"] == "rivetr-state-backup"]
    _, runs = await api.get(f"/api/schedules/{job['id']}/runs")
    seen = len(runs["items"])
    status, _ = await api.post(f"/api/schedules/{job['id']}/run")
    assert status == 202
    deadline = time.monotonic() + 30
    while True:
        _, runs = await api.get(f"/api/schedules/{job['id']}/runs")
        if len(runs["items"]) > seen and runs["items"][0]["status"] != "running":
            return runs["items"][0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.1)


async def test_state_backup_outcomes_are_events_failure_included(api, monkeypatch) -> None:
    events: list[Any] = []
    monkeypatch.setattr(api.ctx, "emit", events.append)
    run = await _run_state_backup_now(api)
    assert run["status"] == "succeeded"
    assert [(e.type, e.level, e.data["sha256"]) for e in events] == [
        ("backup_succeeded", "success", run["result"]["sha256"])
    ]
    blocker = api.ctx.config.server.data_dir / "not-a-dir"
    blocker.write_text("a file where the backup directory should be")
    api.ctx.config.backup.directory = blocker
    run = await _run_state_backup_now(api)
    assert run["status"] == "failed" and "not-a-dir" in run["error"]
    assert [(e.type, e.level) for e in events[1:]] == [("backup_failed", "failure")]
    assert "not-a-dir" in events[1].message
    _, body = await api.get("/api/schedules")
    (job,) = [j for j in body["items"] if j["name"] == "rivetr-state-backup"]
    assert job["last_status"] == "failed" and "not-a-dir" in job["last_error"]


async def test_a_wake_during_a_tick_ends_the_coming_wait() -> None:
    """run_now() sets the wake while the loop may be inside tick() or _sleep_seconds() (both await the
    database): that wake must end the wait that follows, not be cleared and lost until max_sleep."""
    s = Scheduler(_ctx(SimpleNamespace()), max_sleep=3600)
    ticks: list[int] = []
    second_tick = asyncio.Event()

    async def tick() -> list[Any]:
        ticks.append(len(ticks))
        if len(ticks) == 2:
            second_tick.set()
        return []

    async def nothing() -> None:
        return None

    async def sleep_seconds() -> float:
        if len(ticks) == 1:
            s.wake()  # a run_now() landing while the loop reads the next due time
        return 3600.0

    s.tick = tick  # type: ignore[method-assign]
    s.recover = nothing  # type: ignore[method-assign]
    s.skip_missed = nothing  # type: ignore[method-assign]
    s._sleep_seconds = sleep_seconds  # type: ignore[method-assign]
    loop = asyncio.create_task(s._loop())
    try:
        # A hang guard, not a timing: without the wake the loop sleeps an hour.
        await asyncio.wait_for(second_tick.wait(), timeout=20)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
