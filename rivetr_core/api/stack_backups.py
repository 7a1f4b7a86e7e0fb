"""A compose stack's named volumes and their backups (see docs/backups.md, "Stacks"): the volumes its compose
file declares with the services mounting them, a backup of them now (all, some, or one), the stack's runs, and
a restore into the same stack or another declaring the same volumes.

Thin handlers over :class:`~rivetr_core.services.backups.BackupService` (``ctx.services.backups``, feature code
loaded with the first request). Runs and restores answer 202 with their row (``status: running``); follow them
with ``GET /api/backups/{id}`` and ``GET /api/restores/{id}``. Schedules: ``POST /api/backup-schedules`` with
``stack_id``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_request, document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import optional_body, responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.backup_responses import BackupOut, RestoreOut, backup_json, restore_json

from .bodies import optional_json

bp = Blueprint("stack_backups_api", __name__)

_ID = Field(min_length=1, max_length=32)
_CODEC_HELP = "Compression: zstd (default) or gzip."


class _Strict(ApiModel):
    model_config = ConfigDict(extra="forbid")


class StackVolumeMount(ApiModel):
    service: str
    target: str = Field(description="The path in the service's containers.")
    read_only: bool


class StackVolumeOut(ApiModel):
    name: str = Field(description="The volume's key in the compose file's top-level `volumes`.")
    engine_name: str = Field(description="The engine volume holding its data (rivetr-stk-<stack id>-<name>).")
    services: list[str] = Field(
        description="The services mounting it: paused for a backup, stopped for a restore."
    )
    mounts: list[StackVolumeMount]
    exists: bool | None = Field(
        description="Whether its data exists on the engine yet (made by the first deployment mounting it); null "
        "while the engine does not answer."
    )
    size_bytes: int | None = Field(description="Bytes used, where the engine tells cheaply.")


class StackVolumePage(ApiModel):
    items: list[StackVolumeOut]
    next: str | None = Field(description="Always null: a stack's volumes fit on one page.")


class StackBackupIn(_Strict):
    destination_id: str = _ID
    volumes: list[str] | None = Field(
        None, max_length=100, description="Names of the stack's volumes; omitted: every named volume."
    )
    codec: Literal["zst", "gz"] = Field("zst", description=_CODEC_HELP)


class StackVolumeBackupIn(_Strict):
    destination_id: str = _ID
    codec: Literal["zst", "gz"] = Field("zst", description=_CODEC_HELP)


class StackBackupsQuery(PageQuery):
    status: Literal["running", "succeeded", "failed"] | None = None


class StackRestoreIn(_Strict):
    stack_id: str | None = Field(
        None,
        max_length=32,
        description="Target stack; default the backed-up one. Its compose file must declare the volumes.",
    )
    volumes: list[str] | None = Field(None, max_length=100, description="Subset of the backup's volumes.")


StackBackupPage = page_model(BackupOut, "StackBackupPage")


@bp.get("/api/stacks/<stack_id>/volumes")
@tag(["backups"])
@document_response(StackVolumePage)
async def list_stack_volumes(stack_id: str) -> dict[str, Any]:
    """The stack's named volumes (its live deployment's compose file; the pasted file before a first deploy),
    each with the services mounting it and the bytes it uses."""
    _stack, items = await rivetr().services.backups.stack_volume_listing(stack_id)
    return {"items": items, "next": None}


@bp.get("/api/stacks/<stack_id>/volumes/<volume>")
@tag(["backups"])
@document_response(StackVolumeOut)
async def get_stack_volume(stack_id: str, volume: str) -> dict[str, Any]:
    """One named volume of the stack; 404 when its compose file declares no such volume."""
    detail: dict[str, Any] = await rivetr().services.backups.stack_volume_detail(stack_id, volume)
    return detail


@bp.post("/api/stacks/<stack_id>/backups")
@tag(["backups"])
@responds(404)
@validate_request(StackBackupIn)
@document_response(BackupOut, 202)
async def backup_stack(stack_id: str, data: StackBackupIn) -> tuple[dict[str, Any], int]:
    """Back up the stack's named volumes now, into one archive (202, status ``running``; follow
    ``GET /api/backups/{id}``). The containers of the services mounting them are paused for the copy. 422 names
    an unknown volume; 409 while another backup or restore of the stack runs, when a volume has no data yet (the
    stack was never deployed) or the runtime cannot reach volume data on this host."""
    row = await rivetr().services.backups.start_stack_backup(
        stack_id, data.destination_id, data.volumes, codec=data.codec
    )
    return backup_json(row), 202


@bp.post("/api/stacks/<stack_id>/volumes/<volume>/backups")
@tag(["backups"])
@responds(404)
@validate_request(StackVolumeBackupIn)
@document_response(BackupOut, 202)
async def backup_stack_volume(
    stack_id: str, volume: str, data: StackVolumeBackupIn
) -> tuple[dict[str, Any], int]:
    """Back up one named volume of the stack now (as ``POST /api/stacks/{id}/backups`` with that volume); 404
    when the stack declares no such volume."""
    backups = rivetr().services.backups
    await backups.stack_volume_detail(stack_id, volume)
    row = await backups.start_stack_backup(stack_id, data.destination_id, [volume], codec=data.codec)
    return backup_json(row), 202


@bp.get("/api/stacks/<stack_id>/backups")
@tag(["backups"])
@validate_querystring(StackBackupsQuery)
@document_response(StackBackupPage)
async def list_stack_backups(stack_id: str, query_args: StackBackupsQuery) -> dict[str, Any]:
    """The stack's backups, newest first."""
    rows, nxt = await rivetr().services.backups.list_stack_backups(
        stack_id, query_args, status=query_args.status
    )
    return envelope([backup_json(r) for r in rows], nxt)


@bp.post("/api/backups/<backup_id>/restore-stack")
@tag(["backups"])
@document_request(StackRestoreIn)
@optional_body
@document_response(RestoreOut, 202)
async def restore_stack(backup_id: str) -> tuple[dict[str, Any], int]:
    """Restore a stack backup's volumes into its stack or ``stack_id`` (202, status ``running``; follow
    ``GET /api/restores/{id}``): the archive is checked and unpacked beside the live data while the stack runs,
    then the services mounting the volumes are stopped, the files swapped in, the containers started again (and
    must run, healthy when they have a healthcheck). Any failure before the swap leaves the live data untouched.
    422 when the target's compose file does not declare a volume of the backup."""
    data = await optional_json(StackRestoreIn)
    row = await rivetr().services.backups.start_stack_restore(backup_id, data.stack_id, data.volumes)
    return restore_json(row), 202
