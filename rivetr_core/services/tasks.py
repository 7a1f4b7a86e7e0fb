"""``TaskService``: an app's scheduled tasks (``/api/apps/{id}/tasks``) and their runs; see docs/tasks.md.

A task is a shell command run in the app's running container (through the runtime contract's ``exec``, so it
sees the container's environment and volumes) on a cron schedule, or at once by "Run now". Each enabled task has
one scheduler job ``app-task:<id>`` of kind ``app_task`` (:mod:`rivetr_core.scheduler.app_jobs`), created,
changed and removed with it; the shared scheduler's claim guarantees one run per slot.

Timeouts: the contract's ``exec`` cannot be cancelled from outside the container, so the command runs under a
small ``sh`` wrapper (:data:`WRAPPER`) that starts it in its own session and kills that whole process group
once ``timeout`` seconds pass; the server also stops waiting a little later (:data:`TIMEOUT_GRACE`) should the
engine hang. A run ends ``succeeded`` (exit 0), ``failed`` (another exit code, or no running container),
``timed_out`` or ``interrupted`` (the server stopped during it). Failures raise the ``task_failed`` event.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.schedules import ScheduledJob
from rivetr_core.models.tasks import OUTPUT_LIMIT, RUNS_KEPT, AppTask, AppTaskRun, task_job_name

from .task_responses import MAX_TIMEOUT, TaskOut, TaskRunOut, run_json

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.scheduler.service import Scheduler

log = logging.getLogger("rivetr.tasks")

T = TypeVar("T")

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
#: Seconds past ``timeout`` after which the server stops waiting for an exec the wrapper failed to end.
TIMEOUT_GRACE = 15.0
#: The exit code of a process killed by SIGKILL, as a shell reports it.
KILLED = 137

#: Runs ``$RIVETR_TASK_COMMAND`` with ``sh -c`` in its own session (``setsid`` where the image has it, so its
#: children die with it), and kills that process group after ``$RIVETR_TASK_TIMEOUT`` seconds; the guard's own
#: ``sleep`` is killed when the command ends first, so nothing is left behind in the container. Plain POSIX sh:
#: works with busybox, dash and bash (checked on busybox and Debian images).
WRAPPER = (
    'if command -v setsid >/dev/null 2>&1; then setsid sh -c "$RIVETR_TASK_COMMAND" & '
    'else sh -c "$RIVETR_TASK_COMMAND" & fi\n'
    "pid=$!\n"
    '( trap \'kill "$s" 2>/dev/null; exit 0\' TERM; sleep "$RIVETR_TASK_TIMEOUT" & s=$!; wait "$s"; '
    'kill -KILL -"$pid" 2>/dev/null || kill -KILL "$pid" ) >/dev/null 2>&1 </dev/null &\n'
    "guard=$!\n"
    'wait "$pid"\n'
    "code=$?\n"
    'kill "$guard" 2>/dev/null\n'
    'exit "$code"\n'
)


def cap_output(text: str) -> tuple[str, bool]:
    """The last :data:`OUTPUT_LIMIT` bytes of ``text`` (the end is where a failure says why)."""
    data = text.encode("utf-8", "replace")
    if len(data) <= OUTPUT_LIMIT:
        return text, False
    return data[-OUTPUT_LIMIT:].decode("utf-8", "ignore"), True


async def unrestricted(coro: Awaitable[T]) -> T:
    """Await ``coro`` outside the request's team restriction: the scheduler's ``scheduled_jobs`` rows of tasks
    are not team-visible rows (only backup schedules' are), and the task itself was found through its app,
    which the restriction did check."""
    from rivetr_core.authz.visibility import background_context

    async def call() -> T:
        return await coro

    return await asyncio.get_running_loop().create_task(call(), context=background_context())


async def check_cron(expr: str, tz: str, field: str = "schedule") -> None:
    """422 naming ``field`` (or ``timezone``) when the expression or the time zone does not parse."""
    from rivetr_core.scheduler.cron import CronError, next_run

    try:
        await next_run(expr, tz, utcnow())
    except CronError as exc:
        raise ValidationFailed.on("timezone" if "time zone" in str(exc) else field, str(exc)) from None


class TaskService:
    """Stateless over the context: build one where needed (``TaskService(ctx)``)."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    def _scheduler(self) -> Scheduler | None:
        scheduler: Scheduler | None = self.ctx.services.get("scheduler")
        return scheduler

    async def app(self, app_id: str) -> App:
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
        if app is None:
            raise NotFound.of("app", app_id)
        return app

    async def get(self, app_id: str, task_id: str) -> AppTask:
        await self.app(app_id)  # the team check: a task of an invisible app is not found
        async with self.ctx.db.session() as session:
            task = await session.get(AppTask, task_id)
        if task is None or task.app_id != app_id:
            raise NotFound.of("task", task_id)
        return task

    # -- reading ---------------------------------------------------------------------------------------------

    async def _jobs(self, names: list[str]) -> dict[str, ScheduledJob]:
        async def read() -> dict[str, ScheduledJob]:
            async with self.ctx.db.session() as session:
                rows = (
                    await session.exec(select(ScheduledJob).where(col(ScheduledJob.name).in_(names)))
                ).all()
            return {j.name: j for j in rows}

        return await unrestricted(read()) if names else {}

    async def _last_runs(self, task_ids: list[str]) -> dict[str, AppTaskRun]:
        out: dict[str, AppTaskRun] = {}
        async with self.ctx.db.session() as session:
            for task_id in task_ids:
                run = (
                    await session.exec(
                        select(AppTaskRun)
                        .where(AppTaskRun.task_id == task_id)
                        .order_by(col(AppTaskRun.started_at).desc())
                        .limit(1)
                    )
                ).first()
                if run is not None:
                    out[task_id] = run
        return out

    async def task_json(self, task: AppTask) -> dict[str, Any]:
        return (await self.tasks_json([task]))[0]

    async def tasks_json(self, tasks: list[AppTask]) -> list[dict[str, Any]]:
        jobs = await self._jobs([task_job_name(t.id) for t in tasks])
        last = await self._last_runs([t.id for t in tasks])
        out = []
        for t in tasks:
            job = jobs.get(task_job_name(t.id))
            run = last.get(t.id)
            out.append(
                TaskOut(
                    id=t.id,
                    app_id=t.app_id,
                    name=t.name,
                    command=t.command,
                    schedule=t.schedule,
                    timezone=t.timezone,
                    timeout=t.timeout,
                    enabled=t.enabled,
                    next_run_at=isoformat(job.next_run_at) if job and job.enabled and t.enabled else None,
                    last_run=TaskRunOut.model_validate(run_json(run)) if run else None,
                    created_at=isoformat(t.created_at),
                    updated_at=isoformat(t.updated_at),
                ).model_dump(mode="json")
            )
        return out

    async def list_tasks(self, app_id: str) -> list[AppTask]:
        await self.app(app_id)
        async with self.ctx.db.session() as session:
            stmt = select(AppTask).where(AppTask.app_id == app_id).order_by(col(AppTask.name))
            return list((await session.exec(stmt)).all())

    async def runs(self, app_id: str, task_id: str, *, limit: int = 50) -> list[AppTaskRun]:
        """The task's ``limit`` latest runs, newest first."""
        await self.get(app_id, task_id)
        async with self.ctx.db.session() as session:
            stmt = (
                select(AppTaskRun)
                .where(AppTaskRun.task_id == task_id)
                .order_by(col(AppTaskRun.started_at).desc())
                .limit(limit)
            )
            return list((await session.exec(stmt)).all())

    async def get_run(self, app_id: str, task_id: str, run_id: str) -> AppTaskRun:
        await self.get(app_id, task_id)
        async with self.ctx.db.session() as session:
            run = await session.get(AppTaskRun, run_id)
        if run is None or run.task_id != task_id:
            raise NotFound.of("task run", run_id)
        return run

    # -- changing --------------------------------------------------------------------------------------------

    async def _check(self, values: dict[str, Any]) -> None:
        name = values["name"]
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValidationFailed.on(
                "name",
                "1-63 lower-case letters, digits, '-' or '_', starting and ending with a letter or digit",
            )
        command = values["command"]
        if not isinstance(command, str) or not command.strip():
            raise ValidationFailed.on("command", "must not be empty")
        if len(command) > 4000:
            raise ValidationFailed.on("command", "at most 4000 characters")
        timeout = values["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT:
            raise ValidationFailed.on("timeout", f"whole seconds from 1 to {MAX_TIMEOUT}")
        if not isinstance(values["schedule"], str) or not values["schedule"].strip():
            raise ValidationFailed.on("schedule", "a cron expression (five fields) is required")
        values["schedule"] = " ".join(values["schedule"].split())
        await check_cron(values["schedule"], values["timezone"])

    async def _ensure_job(self, task: AppTask) -> None:
        scheduler = self._scheduler()
        if scheduler is None:
            return  # not serving (a command-line tool's context): the server creates it at its next change
        await unrestricted(
            scheduler.ensure_job(
                task_job_name(task.id),
                "app_task",
                task.schedule,
                timezone=task.timezone,
                args={"task_id": task.id},
                catch_up=False,  # a slot missed while the server was down is skipped, not run late
                enabled=task.enabled,
            )
        )

    async def create(self, app_id: str, fields: Mapping[str, Any]) -> AppTask:
        await self.app(app_id)
        values: dict[str, Any] = {
            "timezone": "UTC",
            "timeout": 300,
            "enabled": True,
            **{k: v for k, v in fields.items() if v is not None},
        }
        for required in ("name", "command", "schedule"):
            values.setdefault(required, None)
        await self._check(values)
        task = AppTask(app_id=app_id, **values)
        async with self.ctx.db.session() as session:
            if await self._name_taken(session, app_id, task.name, None):
                raise Conflict.on("name", f"the app has a task named {task.name!r} already")
            session.add(task)
            try:
                await session.commit()
            except IntegrityError:
                raise Conflict.on("name", f"the app has a task named {task.name!r} already") from None
            await session.refresh(task)
        await self._ensure_job(task)
        return task

    async def _name_taken(self, session: Any, app_id: str, name: str, except_id: str | None) -> bool:
        stmt = select(AppTask.id).where(AppTask.app_id == app_id, AppTask.name == name)
        found = (await session.exec(stmt)).first()
        return found is not None and found != except_id

    async def update(
        self, app_id: str, task_id: str, fields: Mapping[str, Any], *, managed_ok: bool = False
    ) -> AppTask:
        """Change the ``fields`` given (partial: a field absent or null stays as it is). 409 ``managed_by_file``
        for a task the app's repository file declares, unless ``managed_ok`` (that file's deployment, or
        ``rivetr apply`` once it checked its plan)."""
        await self._refuse_managed(app_id, task_id, managed_ok)
        fields = {k: v for k, v in fields.items() if v is not None}
        task = await self.get(app_id, task_id)
        values = {
            "name": task.name,
            "command": task.command,
            "schedule": task.schedule,
            "timezone": task.timezone,
            "timeout": task.timeout,
            "enabled": task.enabled,
            **fields,
        }
        await self._check(values)
        async with self.ctx.db.session() as session:
            if await self._name_taken(session, app_id, values["name"], task_id):
                raise Conflict.on("name", f"the app has a task named {values['name']!r} already")
            row = await session.get(AppTask, task_id)
            if row is None:
                raise NotFound.of("task", task_id)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
            await session.refresh(row)
        await self._ensure_job(row)
        return row

    async def delete(self, app_id: str, task_id: str, *, managed_ok: bool = False) -> None:
        """The task, its runs and its job go; a run going on finishes (its record goes with the task). 409
        ``managed_by_file`` as :meth:`update`."""
        await self._refuse_managed(app_id, task_id, managed_ok)
        await self.get(app_id, task_id)
        async with self.ctx.db.session() as session:
            row = await session.get(AppTask, task_id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        scheduler = self._scheduler()
        if scheduler is not None:
            await unrestricted(scheduler.delete_job(task_job_name(task_id)))

    async def _refuse_managed(self, app_id: str, task_id: str, managed_ok: bool) -> None:
        """A task the app's repository file declares by name is the file's: changing or removing it here would
        be undone by the next deployment (rivetr_core.iac.managed, loaded on first use)."""
        if managed_ok:
            return
        from rivetr_core.iac.managed import refuse_managed_row

        await refuse_managed_row(self.ctx.db, app_id, "tasks", task_id)

    # -- running ---------------------------------------------------------------------------------------------

    async def _running(self, task_id: str) -> AppTaskRun | None:
        async with self.ctx.db.session() as session:
            stmt = select(AppTaskRun).where(AppTaskRun.task_id == task_id, AppTaskRun.status == "running")
            return (await session.exec(stmt)).first()

    async def _start(self, task: AppTask, trigger: str) -> AppTaskRun:
        if await self._running(task.id) is not None:
            raise Conflict("a run of this task is in progress; wait for it to finish", code="task_running")
        from rivetr_core.engine.planes import plane_id_of

        run = AppTaskRun(
            task_id=task.id,
            app_id=task.app_id,
            trigger=trigger,
            command=task.command,
            plane_id=plane_id_of(self.ctx),
        )
        async with self.ctx.db.session() as session:
            session.add(run)
            await session.commit()
            await session.refresh(run)
        return run

    async def run_now(self, app_id: str, task_id: str) -> AppTaskRun:
        """Start a run at once (also of a disabled task) and return it ``running``; the command goes on in the
        background. 409 ``task_running`` while a run of the task goes on."""
        task = await self.get(app_id, task_id)
        run = await self._start(task, "manual")
        self.ctx.spawn(self._execute(task, run), f"task:{task.id}")
        return run

    async def run_scheduled(self, task_id: str) -> dict[str, Any]:
        """The ``app_task`` job: one run, awaited. Raises when the run did not succeed, so the scheduler's own
        record of the slot says failed too."""
        async with self.ctx.db.session() as session:
            task = await session.get(AppTask, task_id)
        if task is None:  # deleted with its app (the job outlived it): the job removes itself
            scheduler = self._scheduler()
            if scheduler is not None:
                await scheduler.delete_job(task_job_name(task_id))
            return {"skipped": "the task no longer exists"}
        try:
            run = await self._start(task, "schedule")
        except Conflict:
            return {"skipped": "a run of this task was still in progress"}
        done = await self._execute(task, run)
        if done.status != "succeeded":
            raise RuntimeError(done.error or f"the task ended {done.status}")
        return {"run_id": done.id, "exit_code": done.exit_code}

    async def _execute(self, task: AppTask, run: AppTaskRun) -> AppTaskRun:
        started = time.monotonic()
        status, exit_code, output, error = "failed", None, "", None
        try:
            container_id = await self.ctx.services.deployments.running_container(task.app_id)
            runtime = await self.ctx.runtime()
            env = {"RIVETR_TASK_COMMAND": task.command, "RIVETR_TASK_TIMEOUT": str(task.timeout)}
            result = await asyncio.wait_for(
                runtime.exec(container_id, ["sh", "-c", WRAPPER], env=env), task.timeout + TIMEOUT_GRACE
            )
            exit_code, output = result.exit_code, result.output
            elapsed = time.monotonic() - started
            if exit_code == 0:
                status = "succeeded"
            elif exit_code == KILLED and elapsed >= task.timeout:
                status, error = "timed_out", f"killed after its timeout of {task.timeout} s"
            else:
                error = f"exited with code {exit_code}"
        except TimeoutError:
            status, error = "timed_out", f"no answer from the engine {task.timeout} s after the timeout"
        except asyncio.CancelledError:
            status, error = "interrupted", "the server stopped before the run finished"
            await asyncio.shield(self._finish(task, run, status, exit_code, output, error, started))
            raise
        except RivetrError as exc:
            error = exc.message if exc.code != "no_container" else "the app has no running container"
        except Exception as exc:  # an engine error of a plugin: recorded on the run, never silent
            error = f"{type(exc).__name__}: {exc}"
        return await self._finish(task, run, status, exit_code, output, error, started)

    async def _finish(
        self,
        task: AppTask,
        run: AppTaskRun,
        status: str,
        exit_code: int | None,
        output: str,
        error: str | None,
        started: float,
    ) -> AppTaskRun:
        kept, truncated = cap_output(output)
        async with self.ctx.db.session() as session:
            row = await session.get(AppTaskRun, run.id)
            if row is None:  # the task was deleted meanwhile
                return run
            row.status, row.exit_code, row.error = status, exit_code, (error or None) and error[:2000]
            row.output, row.output_truncated = kept, truncated
            row.finished_at = utcnow()
            row.duration_ms = int((time.monotonic() - started) * 1000)
            session.add(row)
            await session.commit()
            await session.refresh(row)
            await self._prune(session, task.id)
            app = await session.get(App, task.app_id)
        if status != "succeeded":
            self._emit_failure(task, row, app.name if app else None)
        return row

    async def _prune(self, session: Any, task_id: str) -> None:
        """Keep the task's :data:`RUNS_KEPT` latest runs."""
        old = (
            await session.exec(
                select(AppTaskRun.id)
                .where(AppTaskRun.task_id == task_id)
                .order_by(col(AppTaskRun.started_at).desc())
                .offset(RUNS_KEPT)
            )
        ).all()
        for run_id in old:
            row = await session.get(AppTaskRun, run_id)
            if row is not None:
                await session.delete(row)
        if old:
            await session.commit()

    def _emit_failure(self, task: AppTask, run: AppTaskRun, app_name: str | None) -> None:
        from rivetr_core.contract.events import RivetrEvent

        self.ctx.emit(
            RivetrEvent(
                type="task_failed",
                message=f"task {task.name!r} {run.status.replace('_', ' ')}: {run.error or ''}".strip(),
                level="failure",
                app_id=task.app_id,
                app_name=app_name,
                data={
                    "task_id": task.id,
                    "task_name": task.name,
                    "run_id": run.id,
                    "status": run.status,
                    "exit_code": run.exit_code,
                    "trigger": run.trigger,
                    "output_tail": run.output[-500:],
                },
            )
        )
