"""``GET /api/apps/{id}/build-plan``: what the app's next build would do (see docs/builds.md).

A thin handler over :class:`~rivetr_core.services.build_plan.BuildPlanService` (clone the branch, select the
builder as a deployment would, ask its ``plan()``), imported with the first request, not at start-up.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response, tag

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds

bp = Blueprint("build_plan_api", __name__, url_prefix="/api/apps/<app_id>/build-plan")


class BuildPlanOut(ApiModel):
    # Builders add their own keys (facts, commands, the generated Dockerfile): they pass through.
    model_config = ConfigDict(extra="allow")

    builder: str = Field(
        description="The builder a deployment would use now (``dockerfile``, ``autodetect``…)."
    )
    detector: str | None = Field(
        description="What the builder recognised (``python``, ``node``, ``go``, ``static``); null for a builder "
        "without a plan (the Dockerfile builder: the repository's Dockerfile is the plan)."
    )
    language: str | None = None
    framework: str | None = None
    facts: dict[str, Any] | None = Field(
        None, description="What detection found (manifests, lock file, app module…)."
    )
    base_image: str | None = None
    install_command: str | None = None
    build_command: str | None = None
    start_command: str | None = None
    port: str = Field(
        description="The container port a deployment uses (``PORT`` in its environment): the app's port, or for an "
        "app created without one what the builder detects (python 8000, node 3000, go and static 8080), else 3000."
    )
    port_source: Literal["app", "detected", "default"] = Field(
        description="Why that port: ``app`` (the app's port), ``detected`` (the builder's detection; the first "
        "deployment records it on the app), ``default`` (nothing detected one: 3000, recorded likewise)."
    )
    port_reason: str = Field(description="The same, as one human line.")
    dockerfile: str | None = Field(
        None, description="The Dockerfile a zero-config builder writes (not committed)."
    )


@bp.get("")
@responds(409)
@tag(["apps"])
@document_response(BuildPlanOut)
async def build_plan(app_id: str) -> dict[str, Any]:
    """Clone the app's branch into a temporary directory and say which builder would build it and how. 404 an
    unknown app; 422 ``no_builder`` when no installed builder can build it (``details.builders`` says what each
    looked for), ``build_failed`` when the builder cannot plan it; 409 ``clone_failed`` when the app's repository
    cannot be cloned (URL, branch or credentials), ``image_app`` for an app that runs a pre-built image."""
    from rivetr_core.services.build_plan import BuildPlanService

    return await BuildPlanService(rivetr()).for_app(app_id)
