"""Deployments as the API shows them: ``deployment_json`` builds every answer through :class:`DeploymentOut`,
the model ``/openapi.json`` documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.apps import Deployment


class DeploymentOut(ApiModel):
    """An app's deployment, or a compose stack's (``stack_id`` set, ``app_id`` null: its per-service containers
    are in ``services``)."""

    id: str
    app_id: str | None = Field(description="The app deployed; null for a stack's deployment.")
    stack_id: str | None = Field(None, description="The compose stack deployed; null for an app's.")
    status: str = Field(
        description="queued, cloning, building, starting, health_checking, switching (active); running; "
        "failed, cancelled, superseded (a newer request replaced it before it ran) or replaced (a newer "
        "deployment took over)."
    )
    trigger: str = Field(description="Who asked: api, webhook, dashboard, cli, rollback, crash restart...")
    started_by: str | None = Field(
        None,
        description="Who asked through the API, as the audit log names them: user:<name>, token:<owner>/<name> "
        "or admin; null when no one did (a webhook, a schedule, a crash restart: see trigger).",
    )
    requested_commit: str | None = Field(description="The commit asked for; null: the branch head.")
    commit_sha: str | None = Field(description="The commit built (known once cloned).")
    commit_message: str | None
    rollback_of: str | None = Field(description="The deployment whose image a rollback reuses.")
    image: str | None
    image_digest: str | None = Field(
        None, description="An image app's deployment: the digest the engine pulled (what a rollback runs)."
    )
    image_removed: bool = Field(description="The image was pruned: this deployment cannot be rolled back to.")
    no_cache: bool = Field(False, description="Built without the engine's layer cache.")
    container_id: str | None
    upstream: str | None = Field(description="host:port the proxy sends the app's traffic to.")
    error: str | None
    log_tail: list[str] = Field(description="The last lines of the build log (a failure's context).")
    steps: dict[str, Any] = Field(
        description='Per step (clone, build, start, health_check, switch): {"started_at", "finished_at", '
        '"duration_ms"}.'
    )
    restart_count: int = Field(description="Crash restarts of its container.")
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: float | None = Field(description="From start to finish; null until it finished.")
    services: dict[str, Any] | None = Field(
        None,
        description='A stack deployment\'s services: {"<service>": {"image", "hash", "routed", "action", '
        '"containers": [{"id", "name", "upstream"}]}}; null for an app\'s.',
    )
    plane_id: str | None = Field(
        None,
        description="PostgreSQL with several control planes: the plane (GET /api/system/control-planes) that "
        "queued it, then the one that runs it; a live plane adopts a dead one's. Null on SQLite.",
    )
    applied_config: dict[str, Any] | None = Field(
        None,
        description="What the commit's rivetr.toml applied to the app before the build: "
        '{"commit", "path", "file" (the settings it declares), "changes" (["port 8000 -> 8080", ...])}; a '
        "rollback to this deployment applies the file again. Null: the commit had no rivetr.toml.",
    )


def stack_deployment_json(dep: Any) -> dict[str, Any]:
    """A :class:`~rivetr_core.models.stacks.StackDeployment` in the shape of an app's deployment."""
    duration = None
    if dep.started_at and dep.finished_at:
        duration = round((dep.finished_at - dep.started_at).total_seconds() * 1000, 1)
    return DeploymentOut(
        id=dep.id,
        app_id=None,
        stack_id=dep.stack_id,
        status=dep.status,
        trigger=dep.trigger,
        requested_commit=None,
        commit_sha=dep.commit_sha,
        commit_message=dep.commit_message,
        rollback_of=dep.rollback_of,
        image=None,
        image_removed=False,
        container_id=None,
        upstream=None,
        error=dep.error,
        log_tail=dep.log_tail,
        steps=dep.steps,
        restart_count=0,
        created_at=isoformat(dep.created_at) or "",
        started_at=isoformat(dep.started_at),
        finished_at=isoformat(dep.finished_at),
        duration_ms=duration,
        services=dep.services,
        plane_id=dep.plane_id,
    ).model_dump(mode="json")


def deployment_json(dep: Deployment) -> dict[str, Any]:
    duration = None
    if dep.started_at and dep.finished_at:
        duration = round((dep.finished_at - dep.started_at).total_seconds() * 1000, 1)
    return DeploymentOut(
        id=dep.id,
        app_id=dep.app_id,
        status=dep.status,
        trigger=dep.trigger,
        started_by=dep.started_by,
        requested_commit=dep.requested_commit,
        commit_sha=dep.commit_sha,
        commit_message=dep.commit_message,
        rollback_of=dep.rollback_of,
        image=dep.image,
        image_digest=dep.image_digest,
        image_removed=dep.image_removed,
        no_cache=dep.no_cache,
        container_id=dep.container_id,
        upstream=dep.upstream,
        error=dep.error,
        log_tail=dep.log_tail,
        steps=dep.steps,
        restart_count=dep.restart_count,
        created_at=isoformat(dep.created_at) or "",
        started_at=isoformat(dep.started_at),
        finished_at=isoformat(dep.finished_at),
        duration_ms=duration,
        applied_config=dep.applied_config,
        plane_id=dep.plane_id,
    ).model_dump(mode="json")
