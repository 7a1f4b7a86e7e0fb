"""``/api/apps/{id}/links``: an app's links to managed services (see docs/services.md).

Thin handlers over :class:`~rivetr_core.services.service_links.ServiceLinkService`, which owns the rules. The
service module (and the services tables it loads) is feature code: it is imported with the first links request,
not when the server starts. Links apply at the app's next deploy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr

if TYPE_CHECKING:
    from rivetr_core.services.service_links import ServiceLinkService

bp = Blueprint("links_api", __name__, url_prefix="/api/apps/<app_id>/links")

#: The service's ``PREFIX_RE`` (kept here so the document says it without loading the feature at start-up).
_PREFIX_PATTERN = r"^[A-Z][A-Z0-9_]{0,40}$"


class LinkIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(min_length=1, max_length=32)
    env_prefix: str | None = Field(
        None,
        max_length=41,
        pattern=_PREFIX_PATTERN,
        description="Prefix of the variables (``<P>_URL``, ``<P>_HOST``...): upper-case letters, digits, "
        "underscores. Default: the service type's (DATABASE for SQL databases, REDIS for Redis). One per app.",
    )


class LinkOut(ApiModel):
    id: str
    app_id: str
    service_id: str
    service_name: str
    service_type: str
    env_prefix: str
    env_keys: list[str] = Field(
        description="Names of the variables the app gets at its next deploy (no values)."
    )
    created_at: str


class LinkPage(ApiModel):
    items: list[LinkOut]
    next: str | None = Field(description="Always null: an app's links fit on one page.")


def links() -> ServiceLinkService:
    from rivetr_core.services.service_links import ServiceLinkService

    return ServiceLinkService(rivetr())


@bp.get("")
@tag(["links"])
@document_response(LinkPage)
async def list_links(app_id: str) -> dict[str, Any]:
    """The app's links by prefix, with the names of the variables each gives it."""
    return {"items": await links().listing(app_id), "next": None}


@bp.post("")
@tag(["links"])
@validate_request(LinkIn)
@document_response(LinkOut, 201)
async def create_link(app_id: str, data: LinkIn) -> tuple[dict[str, Any], int]:
    """Link a service (applies at the next deploy). 404 an unknown app or service, 409 a prefix the app already
    uses, 422 a service of another project (or one that offers nothing to link)."""
    return await links().create(app_id, data.service_id, data.env_prefix), 201


@bp.delete("/<link_id>")
@tag(["links"])
async def delete_link(app_id: str, link_id: str) -> Response:
    """Remove a link; the app's next deploy runs without its variables. 409 ``managed_by_file`` for a link the
    repository's rivetr.toml declares."""
    await links().delete(app_id, link_id)
    return Response(status=204)
