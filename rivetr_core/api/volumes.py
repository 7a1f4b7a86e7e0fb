"""``/api/apps/{id}/volumes``: an app's named volumes and bind mounts (see docs/volumes.md).

Thin handlers over :class:`~rivetr_core.services.volumes.VolumeService` (``ctx.services.volumes``), which owns
the rules. Changes apply at the app's next container start (deploy, rollback, crash restart).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.services.volumes import VolumeOut, new_volume_json, volume_json

bp = Blueprint("volumes_api", __name__, url_prefix="/api/apps/<app_id>/volumes")

_NAME_HELP = "DNS-safe (lower-case letters, digits, hyphens; 1-63), unique per app."
_PATH_HELP = "Absolute path in the container, one mount per path."
#: What JSON Schema can say; the service checks the rest (no "." or ".." segment, binds under the allowed roots).
_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_PATH_PATTERN = r"^/[^\x00]*[^/\x00][^\x00]*$"
_HOST_HELP = "Bind mounts only: absolute path on the server under [volumes] allowed_bind_roots."


class VolumeIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, pattern=_NAME_PATTERN, description=_NAME_HELP)
    mount_path: str = Field(max_length=1000, pattern=_PATH_PATTERN, description=_PATH_HELP)
    kind: Literal["volume", "bind"] = Field(
        "volume", description="volume: an engine volume kept across deployments; bind: a server directory."
    )
    host_path: str | None = Field(None, max_length=1000, pattern=_PATH_PATTERN, description=_HOST_HELP)
    read_only: bool = False


class VolumeUpdate(ApiModel):
    """Partial update: only the fields present change. A named volume keeps its name and kind."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=63, pattern=_NAME_PATTERN, description=_NAME_HELP)
    mount_path: str | None = Field(None, max_length=1000, pattern=_PATH_PATTERN, description=_PATH_HELP)
    kind: Literal["volume", "bind"] | None = None
    host_path: str | None = Field(None, max_length=1000, pattern=_PATH_PATTERN, description=_HOST_HELP)
    read_only: bool | None = None


class VolumePage(ApiModel):
    items: list[VolumeOut]
    next: str | None = Field(description="Always null: an app's volumes fit on one page.")


@bp.get("")
@tag(["volumes"])
@document_response(VolumePage)
async def list_volumes(app_id: str) -> dict[str, Any]:
    """The app's mounts by path, with the bytes each named volume uses."""
    return {"items": await rivetr().services.volumes.listing(app_id), "next": None}


@bp.post("")
@tag(["volumes"])
@responds(404)
@validate_request(VolumeIn)
@document_response(VolumeOut, 201)
async def create_volume(app_id: str, data: VolumeIn) -> tuple[dict[str, Any], int]:
    """Add a mount (applies at the next deployment). 422 names the field (path not absolute, bind outside
    the allowed roots...), 409 a name or mount path the app uses already."""
    row = await rivetr().services.volumes.create(app_id, data.model_dump())
    return new_volume_json(row), 201


@bp.get("/<volume_id>")
@tag(["volumes"])
@document_response(VolumeOut)
async def get_volume(app_id: str, volume_id: str) -> dict[str, Any]:
    return await rivetr().services.volumes.detail(app_id, volume_id)


@bp.put("/<volume_id>")
@tag(["volumes"])
@validate_request(VolumeUpdate)
@document_response(VolumeOut)
async def update_volume(app_id: str, volume_id: str, data: VolumeUpdate) -> dict[str, Any]:
    """Change a mount's path, read-only flag or (binds) host path; applies at the next deployment."""
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    row = await rivetr().services.volumes.update(app_id, volume_id, fields)
    return volume_json(row)


@bp.delete("/<volume_id>")
@tag(["volumes"])
async def delete_volume(app_id: str, volume_id: str) -> Response:
    """Remove a mount; the app's next container starts without it. A named volume's data is deleted with it:
    at once when no container mounts it, else once the app's next deployment has replaced the container."""
    await rivetr().services.volumes.delete(app_id, volume_id)
    return Response(status=204)
