"""``GET /api/tags``: the tags in use on apps, managed services and stacks, with counts (docs/tags.md).

Tags themselves are set through each resource's ``POST``/``PUT`` (``tags``) and filter each list (``?tag=``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint
from quart_schema import document_response, tag

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import envelope, page_model

bp = Blueprint("tags_api", __name__, url_prefix="/api/tags")


class TagCountOut(ApiModel):
    tag: str
    apps: int = Field(description="Apps holding it (preview apps left out).")
    services: int = Field(description="Managed services holding it.")
    stacks: int = Field(description="Stacks holding it (preview stacks left out).")
    total: int


@bp.get("")
@tag(["tags"])
@document_response(page_model(TagCountOut, "TagPage"))
async def list_tags() -> dict[str, Any]:
    """Every tag a resource you can see holds, by name, with how many of each kind (one page: ``next`` is
    always null)."""
    from rivetr_core.readmodels.tags import tag_counts

    items = await tag_counts(rivetr().db)
    return envelope([TagCountOut(**i).model_dump(mode="json") for i in items], None)
