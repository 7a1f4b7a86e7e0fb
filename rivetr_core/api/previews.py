"""PR/MR previews: ``GET /api/apps/{id}/previews``, ``POST /api/previews/{id}/approve`` and
``DELETE /api/previews/{id}``.

A preview is created by a pull/merge-request webhook and removed when the PR closes or merges; deleting it
here removes its containers, route and images at once (a later push to the PR deploys it again). A fork's PR
waits as ``awaiting_approval`` under ``[previews] forks = "approve"`` until approved here, once per head commit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_response

from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, list_page, page_model
from rivetr_core.webhooks.previews import PreviewService, preview_json

bp = Blueprint("previews_api", __name__)

PreviewStatus = Literal[
    "deploying", "running", "failed", "removed", "awaiting_approval", "rejected", "limit_reached"
]


class PreviewOut(BaseModel):
    id: str
    app_id: str
    preview_app_id: str | None = Field(description="The hidden app serving the preview (None while held).")
    provider: str
    pr_number: int
    repository: str | None
    head_ref: str | None
    head_sha: str | None = Field(description="The PR's head commit the preview builds (or waits to build).")
    is_fork: bool
    fork: bool = Field(description="The PR comes from a fork: its code is untrusted (approval, isolation).")
    approved_sha: str | None = Field(description="The fork head commit last approved.")
    reason: str | None = Field(description="Why a held preview is not built (awaiting_approval, ...).")
    domain: str
    url: str
    status: PreviewStatus = Field(
        description="awaiting_approval: a fork's head commit waits for POST /api/previews/{id}/approve; "
        'rejected: [previews] forks = "never"; limit_reached: [previews] max_per_app live previews exist.'
    )
    deployment_id: str | None
    comment_id: str | None
    error: str | None
    created_at: str | None
    updated_at: str | None


class ApprovedOut(BaseModel):
    preview: PreviewOut
    deployment_id: str = Field(description="The deployment building the approved commit (202: queued).")


def previews() -> PreviewService:
    service: PreviewService = rivetr().services["previews"]
    return service


@bp.get("/api/apps/<app_id>/previews")
@tag(["previews"])
@validate_querystring(PageQuery)
@document_response(page_model(PreviewOut, "PreviewPage"))
async def list_previews(app_id: str, query_args: PageQuery) -> dict[str, Any]:
    """Previews of an app, newest PR first (keyed on the PR number, then id), removed and held ones included
    with their ``status``, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    service = previews()
    rows = await service.list_for_app(app_id)
    page, next_cursor = list_page(
        rows, lambda r: (r.pr_number, r.id), (int, str), query_args, descending=True
    )
    return envelope([preview_json(row, service.url_of(row.domain)) for row in page], next_cursor)


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
    return {"preview": preview_json(row, service.url_of(row.domain)), "deployment_id": deployment_id}, 202


@bp.delete("/api/previews/<preview_id>")
@tag(["previews"])
async def delete_preview(preview_id: str) -> Response:
    """Remove a preview now: containers, route, images and the record."""
    service = previews()
    row = await service.get(preview_id)
    await service.remove(row, reason="deleted through the API", delete_row=True)
    return Response(status=204)
