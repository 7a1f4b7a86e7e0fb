"""Job kinds of apps' scheduled tasks and scheduled deployments (docs/tasks.md).

* ``app_task`` (args ``{"task_id"}``): one run of a task in the app's running container
  (:meth:`rivetr_core.services.tasks.TaskService.run_scheduled`); job ``app-task:<id>``.
* ``scheduled_deploy`` (args ``{"scheduled_id"}``): queue a deployment with trigger ``schedule``
  (:meth:`rivetr_core.services.scheduled_deployments.ScheduledDeploymentService.run_scheduled`); job
  ``scheduled-deploy:<id>``.

The services load on a job's first run, never at start-up (idle memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


async def run_app_task(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    from rivetr_core.services.tasks import TaskService

    return await TaskService(ctx).run_scheduled(str(args["task_id"]))


async def run_scheduled_deploy(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    from rivetr_core.services.scheduled_deployments import ScheduledDeploymentService

    return await ScheduledDeploymentService(ctx).run_scheduled(str(args["scheduled_id"]))


def register() -> None:
    from .kinds import register_kind

    register_kind("app_task", run_app_task)
    register_kind("scheduled_deploy", run_scheduled_deploy)


async def recover(ctx: RivetrContext) -> None:
    """Task runs a stop of the server cut short end ``interrupted`` (one UPDATE, no service loaded). With control
    planes (PostgreSQL) only the runs of dead planes (and those without a plane): a live plane's go on
    (engine/adoption.py; its lease rounds end a plane's runs when it dies later)."""
    from rivetr_core.engine.adoption import interrupt_task_runs

    await interrupt_task_runs(ctx, at_start=True)
