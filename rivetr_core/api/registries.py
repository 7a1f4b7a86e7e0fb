"""``/api/registries``: container registry credentials for pulls of pre-built images (and, later, pushes).

Creation logs in to the registry first (422 naming the field when it refuses or cannot be reached); the
password is encrypted at rest and answered as ``"********"``. Thin handlers over
:class:`~rivetr_core.services.registries.RegistryService` (``ctx.services.registries``, built on first use).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.registries import MASK, RegistryOut, check_server, registry_json
from rivetr_core.validation import check_name

from .appschema import _Strict

bp = Blueprint("registries_api", __name__, url_prefix="/api/registries")
RegistryPage = page_model(RegistryOut, "RegistryPage")


class RegistryIn(_Strict):
    name: str = Field(description="DNS-safe, unique.")
    server: str = Field(
        max_length=253,
        description="Registry host[:port] as image references name it: ghcr.io, 127.0.0.1:5443.",
    )
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=4096, description=f"Write-only (answered as {MASK!r}).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        return check_server(v)


@bp.get("")
@tag(["registries"])
@validate_querystring(PageQuery)
@document_response(RegistryPage)
async def list_registries(query_args: PageQuery) -> dict[str, Any]:
    """Registries in creation order, a page at a time (``{"items", "next"}``); passwords masked."""
    rows, next_cursor = await rivetr().services.registries.page(query_args)
    return envelope([registry_json(r) for r in rows], next_cursor)


@bp.post("")
@tag(["registries"])
@validate_request(RegistryIn)
@document_response(RegistryOut, 201)
async def create_registry(data: RegistryIn) -> tuple[dict[str, Any], int]:
    """Log in to the registry's ``/v2/`` with the credentials, then store them: 422 naming ``password`` when
    the registry refuses them (``server`` when it cannot be reached), 409 for a taken name or server."""
    row = await rivetr().services.registries.create(data.name, data.server, data.username, data.password)
    return registry_json(row), 201


@bp.get("/<registry_id>")
@tag(["registries"])
@document_response(RegistryOut)
async def get_registry(registry_id: str) -> dict[str, Any]:
    """One registry; the password masked."""
    return registry_json(await rivetr().services.registries.get(registry_id))


@bp.delete("/<registry_id>")
@tag(["registries"])
async def delete_registry(registry_id: str) -> Response:
    """Forget the credentials; later pulls from that server go without them."""
    await rivetr().services.registries.delete(registry_id)
    return Response(status=204)
