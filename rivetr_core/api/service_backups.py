"""Backups of managed services (see docs/backups.md, "Databases"): a logical dump made in the service's
container and streamed to a destination, restored into the same service or another of the same type.

Thin handlers over :class:`~rivetr_core.services.backups.BackupService` (``ctx.services.backups``, feature code
loaded with the first request). Runs and restores answer 202 with their row (``status: running``); follow them
with ``GET /api/backups/{id}`` and ``GET /api/restores/{id}``. Schedules: ``POST /api/backup-schedules`` with
``service_id``.
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

bp = Blueprint("service_backups_api", __name__)


class _Strict(ApiModel):
    model_config = ConfigDict(extra="forbid")


class ServiceBackupIn(_Strict):
    destination_id: str = Field(min_length=1, max_length=32)
    codec: Literal["zst", "gz"] = Field("zst", description="Compression: zstd (default) or gzip.")


class ServiceBackupsQuery(PageQuery):
    status: Literal["running", "succeeded", "failed"] | None = None


class ServiceRestoreIn(_Strict):
    service_id: str | None = Field(
        None,
        max_length=32,
        description="Target service; default the backed-up one. Must be of the same type (422 otherwise).",
    )


ServiceBackupPage = page_model(BackupOut, "ServiceBackupPage")


@bp.post("/api/services/<service_id>/backups")
@tag(["backups"])
@responds(404)
@validate_request(ServiceBackupIn)
@document_response(BackupOut, 202)
async def backup_service(service_id: str, data: ServiceBackupIn) -> tuple[dict[str, Any], int]:
    """Back up the service's data now (202, status ``running``; follow ``GET /api/backups/{id}``): its
    template's method (``pg_dumpall``, ``mysqldump``, ``redis_rdb`` run in its container and streamed out, or
    ``volume``). 409 while another backup or restore of the service runs, or when it is not running."""
    row = await rivetr().services.backups.start_service_backup(
        service_id, data.destination_id, codec=data.codec
    )
    return backup_json(row), 202


@bp.get("/api/services/<service_id>/backups")
@tag(["backups"])
@validate_querystring(ServiceBackupsQuery)
@document_response(ServiceBackupPage)
async def list_service_backups(service_id: str, query_args: ServiceBackupsQuery) -> dict[str, Any]:
    """The service's backups, newest first."""
    rows, nxt = await rivetr().services.backups.list_service_backups(
        service_id, query_args, status=query_args.status
    )
    return envelope([backup_json(r) for r in rows], nxt)


@bp.post("/api/backups/<backup_id>/restore-service")
@tag(["backups"])
@document_request(ServiceRestoreIn)
@optional_body
@document_response(RestoreOut, 202)
async def restore_service(backup_id: str) -> tuple[dict[str, Any], int]:
    """Restore a service backup into its service or ``service_id`` (same type; 422 otherwise), replacing that
    service's data (202, status ``running``; follow ``GET /api/restores/{id}``). The archive is checked against
    its sha256 before anything reaches the service."""
    data = await optional_json(ServiceRestoreIn)
    row = await rivetr().services.backups.start_service_restore(backup_id, data.service_id)
    return restore_json(row), 202
