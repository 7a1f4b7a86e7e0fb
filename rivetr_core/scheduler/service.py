"""The scheduler loop: claim due jobs atomically, run them, record each run; recover after a crash.

No double runs. A run starts only after one UPDATE, in the same transaction as the run's row, moved the job's
``next_run_at`` from the due time to the next slot and took its lock::

    UPDATE scheduled_jobs SET next_run_at=:next, locked_until=:lease, lock_owner=:me
     WHERE id=:id AND next_run_at=:due AND (locked_until IS NULL OR locked_until < :now)

Two schedulers on one database both try; one row changes, the other's UPDATE matches nothing. A restarted
server finds the slot already moved on, so the run a ``kill -9`` cut short is not repeated: at start-up a
``running`` run whose owner process is gone (owner = host:pid:process start time) is marked ``interrupted`` and
its lock freed. The lock is a lease renewed while the run goes on, so a run of a process that vanished another
way (another host, a pid reused) is also declared interrupted once the lease lapses.

Missed slots (the server was down at ``next_run_at``): a job with ``catch_up`` runs once at start (all missed
slots fold into that one run), a job without skips to its next slot (recorded as a ``skipped`` run).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.models.schedules import JobRun, ScheduledJob

from . import cron
from .kinds import get_kind

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext
    from rivetr_core.db.engine import Database

log = logging.getLogger("rivetr.scheduler")


def _utc(value: datetime) -> datetime:
    """Times are aware UTC everywhere (the columns store UTC; the claim compares stored values exactly)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def process_owner() -> str:
    """This process, in a form a later process on the same host can check: host:pid:start time."""
    import psutil

    proc = psutil.Process()
    return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.2f}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by :func:`process_owner` still runs; None when it is on another host."""
    import psutil

    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return None
    try:
        proc = psutil.Process(int(pid_text))
        return f"{proc.create_time():.2f}" == started and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


class Scheduler:
    def __init__(
        self,
        ctx: RivetrContext,
        *,
        lease_seconds: float = 60.0,
        misfire_grace_seconds: float = 60.0,
        max_sleep: float = 60.0,
        owner: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.db: Database = ctx.db
        self.lease = timedelta(seconds=lease_seconds)
        self.misfire_grace = timedelta(seconds=misfire_grace_seconds)
        self.max_sleep = max_sleep
        self.owner = owner or process_owner()
        self._wake = asyncio.Event()
        self.running: dict[str, asyncio.Task[None]] = {}  # run id → its task

    # -- jobs ---------------------------------------------------------------------------------------------

    async def next_time(self, job: ScheduledJob, after: datetime) -> datetime:
        """The job's next slot after ``after`` plus its jitter (spreads jobs sharing a slot; keep it shorter
        than the interval)."""
        slot = await cron.next_run(
            job.cron, job.timezone, after.replace(tzinfo=UTC) if not after.tzinfo else after
        )
        jitter = random.randint(0, job.jitter_seconds) if job.jitter_seconds > 0 else 0
        return _utc(slot) + timedelta(seconds=jitter)

    async def ensure_job(
        self,
        name: str,
        kind: str,
        cron_expr: str,
        *,
        timezone: str = "UTC",
        args: dict[str, Any] | None = None,
        catch_up: bool = False,
        jitter_seconds: int = 0,
        enabled: bool = True,
    ) -> ScheduledJob:
        """Create or update the job called ``name``; its next run is recomputed when its timing changed.
        Raises :class:`~.cron.CronError` for a bad expression or time zone."""
        async with self.db.session() as session:
            job = (await session.exec(select(ScheduledJob).where(ScheduledJob.name == name))).first()
            timing_changed = (
                job is None
                or job.cron != cron_expr
                or job.timezone != timezone
                or job.jitter_seconds != jitter_seconds
                or job.next_run_at is None
                or (enabled and not job.enabled)  # re-enabled: from now on, not the slot it stopped at
            )
            if (
                job is not None
                and not timing_changed
                and (job.kind, job.args, job.catch_up, job.enabled) == (kind, args or {}, catch_up, enabled)
            ):
                return job  # every start calls this: no write when nothing changed
            if job is None:
                job = ScheduledJob(name=name, kind=kind, cron=cron_expr)
            job.kind, job.cron, job.timezone = kind, cron_expr, timezone
            job.args = args or {}
            job.catch_up, job.jitter_seconds, job.enabled = catch_up, jitter_seconds, enabled
            if timing_changed:
                job.next_run_at = await self.next_time(job, _now())
            job.updated_at = _now()
            session.add(job)
            await session.commit()
            await session.refresh(job)
        self._wake.set()
        return job

    async def delete_job(self, name: str) -> bool:
        """Remove the job called ``name`` and its runs' history; False when there is none. A run of it that is
        going on finishes (its record goes with the job)."""
        async with self.db.session() as session:
            job = (await session.exec(select(ScheduledJob).where(ScheduledJob.name == name))).first()
            if job is None:
                return False
            await session.delete(job)
            await session.commit()
        self._wake.set()
        return True

    async def list_jobs(self) -> list[ScheduledJob]:
        async with self.db.session() as session:
            return list((await session.exec(select(ScheduledJob).order_by(ScheduledJob.name))).all())

    # -- start-up ------------------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Mark ``running`` runs whose process is gone (or whose lease lapsed) ``interrupted`` and free their
        job. Returns how many."""
        now = _now()
        count = 0
        async with self.db.session() as session:
            rows = (await session.exec(select(JobRun).where(JobRun.status == "running"))).all()
            for run in rows:
                if run.owner == self.owner and run.id in self.running:
                    continue
                job = await session.get(ScheduledJob, run.job_id)
                alive = owner_alive(run.owner)
                lease_lapsed = job is None or job.locked_until is None or job.locked_until < now
                if alive is False or (alive is None and lease_lapsed) or (alive and run.owner == self.owner):
                    run.status, run.finished_at = "interrupted", now
                    run.error = "the process running it stopped (killed or crashed) before it finished"
                    session.add(run)
                    if job is not None and job.lock_owner == run.owner:
                        job.locked_until, job.lock_owner = None, None
                        job.last_status, job.last_error = "interrupted", run.error
                        session.add(job)
                    count += 1
            await session.commit()
        if count:
            log.warning("scheduler: %d run(s) were interrupted by a stop of the server", count)
        return count

    async def skip_missed(self) -> int:
        """Jobs whose slot passed while the server was down: ``catch_up`` ones stay due (run once now), the
        others move to their next slot (a ``skipped`` run records the slot)."""
        now = _now()
        skipped = 0
        for job in await self.list_jobs():
            due = job.next_run_at
            if not job.enabled or due is None or due >= now - self.misfire_grace or job.catch_up:
                continue
            nxt = await self.next_time(job, now)
            async with self.db.session() as session:
                result = await session.exec(  # type: ignore[call-overload]
                    sa.update(ScheduledJob)
                    .where(ScheduledJob.id == job.id, ScheduledJob.next_run_at == due)  # type: ignore[arg-type]
                    .values(next_run_at=nxt, last_status="skipped")
                )
                if result.rowcount == 1:
                    session.add(
                        JobRun(
                            job_id=job.id,
                            status="skipped",
                            scheduled_for=due,
                            started_at=now,
                            finished_at=now,
                            owner=self.owner,
                            error="missed while the server was down (catch_up is off)",
                        )
                    )
                    skipped += 1
                await session.commit()
        return skipped

    # -- the loop ------------------------------------------------------------------------------------------

    async def tick(self) -> list[str]:
        """Claim and start every due job; returns the ids of the runs started (``self.running`` holds them)."""
        now = _now()
        async with self.db.session() as session:
            due_jobs = (
                await session.exec(
                    select(ScheduledJob).where(
                        ScheduledJob.enabled == True,  # noqa: E712
                        ScheduledJob.next_run_at <= now,  # type: ignore[operator]
                    )
                )
            ).all()
        started: list[str] = []
        for job in due_jobs:
            if job.locked_until is not None and job.locked_until >= now:
                continue  # its previous run still goes on: the slot waits
            run_id = await self._claim(job, now)
            if run_id is not None:
                started.append(run_id)
                self.running[run_id] = asyncio.get_running_loop().create_task(
                    self._execute(job, run_id), name=f"job:{job.name}"
                )
        return started

    async def _claim(self, job: ScheduledJob, now: datetime) -> str | None:
        due = job.next_run_at
        assert due is not None
        try:
            nxt = await self.next_time(job, max(now, due))
        except cron.CronError as exc:
            nxt = None  # a job whose expression no longer parses runs no more; the error says why
            log.error("scheduler: job %s: %s", job.name, exc)
        run = JobRun(job_id=job.id, scheduled_for=due, started_at=_now(), owner=self.owner)
        async with self.db.session() as session:
            result = await session.exec(  # type: ignore[call-overload]
                sa.update(ScheduledJob)
                .where(
                    ScheduledJob.id == job.id,  # type: ignore[arg-type]
                    ScheduledJob.next_run_at == due,  # type: ignore[arg-type]
                    sa.or_(ScheduledJob.locked_until == None, ScheduledJob.locked_until < now),  # type: ignore[arg-type,operator]  # noqa: E711
                )
                .values(
                    next_run_at=nxt,
                    locked_until=now + self.lease,
                    lock_owner=self.owner,
                    last_run_at=now,
                    last_status="running",
                    last_error=None,
                )
            )
            if result.rowcount != 1:
                await session.rollback()
                return None  # another scheduler (or an earlier tick) took this slot
            session.add(run)
            await session.commit()
        return run.id

    async def _heartbeat(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.db.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    sa.update(ScheduledJob)
                    .where(ScheduledJob.id == job_id, ScheduledJob.lock_owner == self.owner)  # type: ignore[arg-type]
                    .values(locked_until=_now() + self.lease)
                )
                await session.commit()

    async def _execute(self, job: ScheduledJob, run_id: str) -> None:
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(job.id))
        status, error, result = "succeeded", None, {}
        try:
            fn = get_kind(job.kind)
            if fn is None:
                raise LookupError(f"no job kind {job.kind!r} is registered (a plugin or feature not loaded?)")
            result = await fn(self.ctx, dict(job.args)) or {}
        except asyncio.CancelledError:
            status, error = "interrupted", "the server stopped before the run finished"
            raise
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            log.error("scheduler: job %s failed: %s", job.name, error)
        finally:
            heartbeat.cancel()
            await asyncio.shield(self._finish(job.id, run_id, status, error, result))
            self.running.pop(run_id, None)

    async def _finish(
        self, job_id: str, run_id: str, status: str, error: str | None, result: dict[str, Any]
    ) -> None:
        now = _now()
        async with self.db.session() as session:
            run = await session.get(JobRun, run_id)
            if run is not None:
                run.status, run.error, run.finished_at, run.result = status, error, now, result
                session.add(run)
            await session.exec(  # type: ignore[call-overload]
                sa.update(ScheduledJob)
                .where(ScheduledJob.id == job_id, ScheduledJob.lock_owner == self.owner)  # type: ignore[arg-type]
                .values(locked_until=None, lock_owner=None, last_status=status, last_error=error)
            )
            await session.commit()

    async def _sleep_seconds(self) -> float:
        async with self.db.session() as session:
            earliest = (
                await session.exec(
                    select(sa.func.min(ScheduledJob.next_run_at)).where(ScheduledJob.enabled == True)  # noqa: E712
                )
            ).first()
        if earliest is None:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (earliest - _now()).total_seconds()))

    async def run_forever(self) -> None:
        try:
            await self._loop()
        finally:  # shutdown: runs in progress end as interrupted, recorded
            await self.stop()

    async def _loop(self) -> None:
        await self.recover()
        await self.skip_missed()
        while True:
            # Cleared before the tick reads the jobs, not after: a wake() (run_now) landing while the tick or
            # _sleep_seconds awaits the database must end the coming wait, not be cleared and lost until the
            # next due job, hours away for a daily one.
            self._wake.clear()
            try:
                await self.tick()
                await self.recover()  # leases that lapsed (a run of a process gone elsewhere)
                delay = await self._sleep_seconds()
            except Exception:
                log.exception("scheduler: tick failed; retrying")
                delay = 5.0
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.05))
            except TimeoutError:
                pass

    async def runs(self, job_id: str, *, limit: int = 50) -> list[JobRun]:
        """The job's ``limit`` most recent runs, newest first; ``NotFound`` for an unknown job."""
        async with self.db.session() as session:
            if await session.get(ScheduledJob, job_id) is None:
                raise NotFound.of("schedule", job_id)
            stmt = select(JobRun).where(JobRun.job_id == job_id).order_by(col(JobRun.started_at).desc())
            return list((await session.exec(stmt.limit(limit))).all())

    async def run_now(self, job_id: str) -> ScheduledJob:
        """Make a job due now and wake the loop (the claim still guards it). ``NotFound`` for an unknown job;
        ``Conflict`` while a run of it holds the lock or when it is off."""
        now = _now()
        async with self.db.session() as session:
            job = await session.get(ScheduledJob, job_id)
            if job is None:
                raise NotFound.of("schedule", job_id)
            if not job.enabled:
                raise Conflict("this schedule is disabled")
            if job.locked_until is not None and job.locked_until >= now:
                raise Conflict("a run of this schedule is in progress; wait for it to finish")
            job.next_run_at = now
            session.add(job)
            await session.commit()
            await session.refresh(job)
        self._wake.set()
        return job

    def wake(self) -> None:
        """Re-read the jobs now (a job was added or changed)."""
        self._wake.set()

    async def stop(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        for task in list(self.running.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


STATE_BACKUP_JOB = "rivetr-state-backup"


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: ``ctx.services.scheduler``, the default state-backup job from ``[backup]``, the
    loop."""
    from rivetr_core.backup import register

    from . import app_jobs

    register()
    app_jobs.register()
    await app_jobs.recover(ctx)
    scheduler = Scheduler(ctx)
    ctx.services["scheduler"] = scheduler
    config = ctx.config.backup
    try:
        await scheduler.ensure_job(
            STATE_BACKUP_JOB,
            "state_backup",
            config.schedule or "0 3 * * *",
            timezone=config.timezone,
            args={"keep_last": config.keep_last},
            catch_up=True,
            jitter_seconds=0,
            enabled=bool(config.schedule),
        )
    except cron.CronError as exc:
        log.error("[backup] schedule: %s; the scheduled backup of Rivetr's state is off", exc)
    ctx.spawn(scheduler.run_forever(), "scheduler")
