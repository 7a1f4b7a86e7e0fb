"""``POST /api/services/{service_id}/backups/import``, ``POST /api/apps/{app_id}/backups/import`` and ``POST
/api/stacks/{stack_id}/backups/import``: a backup another server made, recorded here so it can be restored (a project
moved to a new server with its data: docs/backups.md, "A backup made on another server"). Thin handlers over
:mod:`rivetr_core.services.backup_import`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.services.backup_responses import BackupOut, backup_json

bp = Blueprint("service_backup_import_api", __name__)


class ServiceBackupImportIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    destination_id: str = Field(
        min_length=1, max_length=32, description="This server's destination that holds the archive."
    )
    key: str = Field(
        min_length=1,
        max_length=1000,
        description="The archive's key at the destination (the first server's GET /api/backups/{id} shows it): "
        "services/<service>-<id>/<file>.<sql|rdb|tar>.<zst|gz>[.enc].",
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The archive's sha256 as the first server recorded it: the import is refused if the object "
        "differs.",
    )


@bp.post("/api/services/<service_id>/backups/import")
@tag(["backups"])
@responds(404, 409, 502)
@validate_request(ServiceBackupImportIn)
@document_response(BackupOut, 201)
async def import_service_backup(service_id: str, data: ServiceBackupImportIn) -> tuple[dict[str, Any], int]:
    """Record an archive of the destination (made by another server, or before this server's data was lost) as
    a succeeded backup of the service (``trigger: "import"``), then restore it with ``POST
    /api/backups/{id}/restore-service``. The archive is read once for its size and sha256; 422 on ``key`` when it
    is not a service archive of this service's method, or encrypted while the destination has no passphrase;
    409 when it is already a backup of the service; 502 ``archive_not_found`` when the destination lacks it."""
    from rivetr_core.services.backup_import import import_service_backup as run

    row = await run(rivetr(), service_id, data.destination_id, data.key, data.sha256)
    return backup_json(row), 201


class AppBackupImportIn(ServiceBackupImportIn):
    key: str = Field(
        min_length=1,
        max_length=1000,
        description="The archive's key at the destination (the first server's GET /api/backups/{id} shows it): "
        "apps/<app>-<id>/<file>.tar.<zst|gz>[.enc].",
    )
    volumes: list[str] | None = Field(
        None,
        max_length=100,
        description="The app's named volumes the archive holds; default all of them (a project file re-creates "
        "them by name).",
    )


@bp.post("/api/apps/<app_id>/backups/import")
@tag(["backups"])
@responds(404, 409, 502)
@validate_request(AppBackupImportIn)
@document_response(BackupOut, 201)
async def import_app_backup(app_id: str, data: AppBackupImportIn) -> tuple[dict[str, Any], int]:
    """Record a volume archive of the destination (made by another server) as a succeeded backup of the app's
    volumes (``trigger: "import"``), then restore it with ``POST /api/backups/{id}/restore``. 422 on ``key`` for
    a key that is not an app's volume archive or an encrypted one without the passphrase, on ``volumes`` for a
    volume the app lacks; 409 when already imported; 502 ``archive_not_found``."""
    from rivetr_core.services.backup_import import import_app_backup as run

    row = await run(rivetr(), app_id, data.destination_id, data.key, data.sha256, data.volumes)
    return backup_json(row), 201


class StackBackupImportIn(ServiceBackupImportIn):
    key: str = Field(
        min_length=1,
        max_length=1000,
        description="The archive's key at the destination (the first server's GET /api/backups/{id} shows it): "
        "stacks/<stack>-<id>/<file>.tar.<zst|gz>[.enc].",
    )
    volumes: list[str] | None = Field(
        None,
        max_length=100,
        description="The stack's named volumes the archive holds; default every named volume its compose file "
        "declares.",
    )


@bp.post("/api/stacks/<stack_id>/backups/import")
@tag(["backups"])
@responds(404, 409, 502)
@validate_request(StackBackupImportIn)
@document_response(BackupOut, 201)
async def import_stack_backup(stack_id: str, data: StackBackupImportIn) -> tuple[dict[str, Any], int]:
    """Record a compose stack's volume archive of the destination (made by another server) as a succeeded
    backup of the stack's volumes (``trigger: "import"``), then restore it with ``POST
    /api/backups/{id}/restore-stack``. 422 on ``key`` for a key that is not a stack's volume archive or an
    encrypted one without the passphrase, on ``volumes`` for a volume the stack's compose file does not declare;
    409 when already imported; 502 ``archive_not_found``."""
    from rivetr_core.services.backup_import import import_stack_backup as run

    row = await run(rivetr(), stack_id, data.destination_id, data.key, data.sha256, data.volumes)
    return backup_json(row), 201
