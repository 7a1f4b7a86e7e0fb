"""PR/MR previews: ``GET /api/apps/{id}/previews``, ``POST /api/previews/{id}/approve`` and
``DELETE /api/previews/{id}``.

A preview is created by a pull/merge-request webhook and removed when the PR closes or merges; deleting it
here removes its containers, route and images at once (a later push to the PR deploys it again). A fork's PR
waits as ``awaiting_approval`` under ``[previews] forks = "approve"`` until approved here, once per head commit.

Thin handlers over :class:`~rivetr_core.webhooks.previews.PreviewService` (``ctx.services.previews``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.webhooks.previews import PreviewOut, PreviewService

bp = Blueprint("previews_api", __name__)


class ApprovedOut(ApiModel):
    preview: PreviewOut
    deployment_id: str = Field(description="The deployment building the approved commit (202: queued).")


def previews() -> PreviewService:
    return rivetr().services.previews


@bp.get("/api/apps/<app_id>/previews")
@tag(["previews"])
@validate_querystring(PageQuery)
@document_response(page_model(PreviewOut, "PreviewPage"))
async def list_previews(app_id: str, query_args: PageQuery) -> dict[str, Any]:
    """Previews of an app, newest PR first (keyed on the PR number, then id), removed and held ones included
    with their ``status``, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    service = previews()
    rows, next_cursor = await service.page(app_id, query_args)
    return envelope([service.json(row) for row in rows], next_cursor)


@bp.post("/api/previews/<preview_id>/approve")
@tag(["previews"])
@validate_response(ApprovedOut, 202)
async def approve_preview(preview_id: str) -> tuple[dict[str, Any], int]:
    """Approve the head commit of a fork's pull request and build its preview (202 with the deployment).

    The approval covers that commit only: a later push waits for approval again. 404 for an unknown preview;
    409 when it is not ``awaiting_approval`` (``not_awaiting_approval``), the app already has
    ``[previews] max_per_app`` live previews (``limit_reached``) or fork previews are off."""
    service = previews()
    row, deployment_id = await service.approve(preview_id)
    return {"preview": service.json(row), "deployment_id": deployment_id}, 202


@bp.delete("/api/previews/<preview_id>")
@tag(["previews"])
async def delete_preview(preview_id: str) -> Response:
    """Remove a preview now: containers, route, images and the record."""
    await previews().delete(preview_id)
    return Response(status=204)
