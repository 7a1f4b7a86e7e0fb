"""PR/MR previews: ``GET /api/apps/{id}/previews`` and ``DELETE /api/previews/{id}``.

A preview is created by a pull/merge-request webhook and removed when the PR closes or merges; deleting it
here removes its containers, route and images at once (a later push to the PR deploys it again).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag

from rivetr_core.context import rivetr
from rivetr_core.webhooks.previews import PreviewService, preview_json

bp = Blueprint("previews_api", __name__)


def previews() -> PreviewService:
    service: PreviewService = rivetr().services["previews"]
    return service


@bp.get("/api/apps/<app_id>/previews")
@tag(["previews"])
async def list_previews(app_id: str) -> list[dict[str, Any]]:
    """Previews of an app (newest PR first), removed ones included with ``status: removed``."""
    service = previews()
    return [preview_json(row, service.url_of(row.domain)) for row in await service.list_for_app(app_id)]


@bp.delete("/api/previews/<preview_id>")
@tag(["previews"])
async def delete_preview(preview_id: str) -> Response:
    """Remove a preview now: containers, route, images and the record."""
    service = previews()
    row = await service.get(preview_id)
    await service.remove(row, reason="deleted through the API", delete_row=True)
    return Response(status=204)
