"""Backups API (see docs/backups.md): destinations, backup runs of apps' volumes and of Rivetr's state,
restores and backup schedules (services' and stacks' own runs: :mod:`.service_backups`, :mod:`.stack_backups`).

Thin handlers over :class:`~rivetr_core.services.backups.BackupService` (``ctx.services.backups``), which owns
the rules; the response models are in :mod:`rivetr_core.services.backup_responses`, which the service's
serialisers build through. Runs and restores answer 202 with their row (``status: running``); follow them with
``GET /api/backups/{id}`` and ``GET /api/restores/{id}``. Lists are ``{"items", "next"}`` envelopes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint, Response
from quart_schema import document_request, document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import optional_body, responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.backup_responses import (
    BackupOut,
    BackupScheduleOut,
    DestinationOut,
    RestoreOut,
    backup_json,
    restore_json,
)

from .bodies import optional_json

if TYPE_CHECKING:  # the service is feature code, loaded with the first backup request
    from rivetr_core.services.backups import BackupService

bp = Blueprint("backups_api", __name__)

_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_VOLUMES_HELP = "Names of the app's volumes; omitted: every named volume and bind mount of the app."
_ID = Field(min_length=1, max_length=32)


class _Strict(ApiModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------ models
class DestinationIn(_Strict):
    """A local directory (``path``) or an S3-compatible bucket. A test write runs before it is saved."""

    name: str = Field(max_length=63, pattern=_NAME_PATTERN, description="DNS-safe, unique.")
    kind: Literal["local", "s3"]
    path: str | None = Field(
        None, max_length=1000, description="local: absolute directory on the server (archives go under it)."
    )
    endpoint_url: str | None = Field(None, max_length=1000, description="s3: http(s) URL of the service.")
    bucket: str | None = Field(None, max_length=63, description="s3: an existing bucket.")
    region: str | None = Field(None, max_length=64, description="s3: default us-east-1.")
    prefix: str | None = Field(None, max_length=500, description="s3: key prefix of every archive.")
    access_key: str | None = Field(None, max_length=500)
    secret_key: str | None = Field(None, max_length=1000, description="s3: write-only, encrypted at rest.")
    passphrase: str | None = Field(
        None,
        min_length=8,
        max_length=1024,
        description="Encrypts every archive written here (AES-256-GCM, key by scrypt); write-only, encrypted "
        "at rest. Lose it and the archives are lost.",
    )


class DeleteDestinationQuery(_Strict):
    force: bool = Field(
        False,
        description="Also delete the schedules and backup rows using it (never the archives themselves).",
    )


class OkOut(ApiModel):
    ok: bool


class AppBackupIn(_Strict):
    destination_id: str = _ID
    volumes: list[str] | None = Field(None, max_length=100, description=_VOLUMES_HELP)
    codec: Literal["zst", "gz"] = Field("zst", description="Compression: zstd (default) or gzip.")


class StateBackupIn(_Strict):
    what: Literal["state"] = Field(
        description="Rivetr's own state (app volumes: POST /api/apps/{id}/backups)."
    )
    destination_id: str = _ID


class BackupsQuery(PageQuery):
    app_id: str | None = Field(None, max_length=32)
    stack_id: str | None = Field(None, max_length=32)
    status: Literal["running", "succeeded", "failed"] | None = None


class AppBackupsQuery(PageQuery):
    status: Literal["running", "succeeded", "failed"] | None = None


class RestoreIn(_Strict):
    app_id: str | None = Field(
        None, max_length=32, description="Target app; default the backed-up app. Missing volumes are created."
    )
    volumes: list[str] | None = Field(None, max_length=100, description="Subset of the backup's volumes.")


_CRON_HELP = "Five-field cron expression, read in `timezone`."
_KEEP_HELP = "0: rule not used; at least one of keep_last, keep_daily, keep_weekly is above 0."


class ScheduleIn(_Strict):
    what: Literal["volumes", "state", "service", "stack"] = Field(
        "volumes",
        description="volumes (default; with service_id or stack_id instead of app_id: service or stack), state, "
        "service, stack.",
    )
    app_id: str | None = Field(None, max_length=32, description="The app whose volumes (what=volumes only).")
    service_id: str | None = Field(
        None,
        max_length=32,
        description="The managed service whose data (what=service; given alone, implies it).",
    )
    stack_id: str | None = Field(
        None,
        max_length=32,
        description="The compose stack whose named volumes (what=stack; given alone, implies it).",
    )
    destination_id: str = _ID
    cron: str = Field(min_length=1, max_length=200, description=_CRON_HELP)
    timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA time zone.")
    keep_last: int = Field(0, ge=0, le=10000, description="Keep the newest N. " + _KEEP_HELP)
    keep_daily: int = Field(0, ge=0, le=10000, description="Keep the newest per day, for N days.")
    keep_weekly: int = Field(0, ge=0, le=10000, description="Keep the newest per ISO week, for N weeks.")
    enabled: bool = True


class ScheduleUpdate(_Strict):
    """Partial update: only the fields present change (``what`` and ``app_id`` stay)."""

    destination_id: str | None = Field(None, min_length=1, max_length=32)
    cron: str | None = Field(None, min_length=1, max_length=200, description=_CRON_HELP)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    keep_last: int | None = Field(None, ge=0, le=10000)
    keep_daily: int | None = Field(None, ge=0, le=10000)
    keep_weekly: int | None = Field(None, ge=0, le=10000)
    enabled: bool | None = None


class SchedulesQuery(PageQuery):
    app_id: str | None = Field(None, max_length=32)
    service_id: str | None = Field(None, max_length=32)
    stack_id: str | None = Field(None, max_length=32)


DestinationPage = page_model(DestinationOut, "BackupDestinationPage")
BackupPage = page_model(BackupOut, "BackupPage")
RestorePage = page_model(RestoreOut, "RestorePage")
SchedulePage = page_model(BackupScheduleOut, "BackupSchedulePage")


def _service() -> BackupService:
    return rivetr().services.backups


# ---------------------------------------------------------------------------------------------- destinations
@bp.post("/api/backup-destinations")
@tag(["backups"])
@responds(404)
@validate_request(DestinationIn)
@document_response(DestinationOut, 201)
async def create_destination(data: DestinationIn) -> tuple[dict[str, Any], int]:
    """Add a destination. The test write (write, read back, delete a small file) runs first: 422
    ``destination_check_failed`` with ``details.problem`` (bucket_not_found, access_denied,
    endpoint_unreachable, not_a_directory, not_writable, disk_full...) when it fails; 409 for a taken name."""
    service = _service()
    row = await service.create_destination(data.model_dump(exclude_none=True))
    return service.destination_json(row), 201


@bp.get("/api/backup-destinations")
@tag(["backups"])
@validate_querystring(PageQuery)
@document_response(DestinationPage)
async def list_destinations(query_args: PageQuery) -> dict[str, Any]:
    """Destinations in creation order; secrets masked."""
    service = _service()
    rows, nxt = await service.list_destinations(query_args)
    return envelope([service.destination_json(r) for r in rows], nxt)


@bp.get("/api/backup-destinations/<destination_id>")
@tag(["backups"])
@document_response(DestinationOut)
async def get_destination(destination_id: str) -> dict[str, Any]:
    service = _service()
    return service.destination_json(await service.get_destination(destination_id))


@bp.post("/api/backup-destinations/<destination_id>/test")
@tag(["backups"])
@document_response(OkOut)
async def test_destination(destination_id: str) -> dict[str, Any]:
    """Run the test write again: ``{"ok": true}`` or 422 ``destination_check_failed`` naming the problem."""
    await _service().test_destination(destination_id)
    return {"ok": True}


@bp.delete("/api/backup-destinations/<destination_id>")
@tag(["backups"])
@validate_querystring(DeleteDestinationQuery)
async def delete_destination(destination_id: str, query_args: DeleteDestinationQuery) -> Response:
    """409 ``destination_in_use`` while schedules use it or backups reference it, unless ``?force=true`` (those
    rows go; archives at the destination are never deleted by this); always 409 while a backup writes there."""
    await _service().delete_destination(destination_id, force=query_args.force)
    return Response(status=204)


# ------------------------------------------------------------------------------------------------- backups
@bp.post("/api/apps/<app_id>/backups")
@tag(["backups"])
@validate_request(AppBackupIn)
@document_response(BackupOut, 202)
async def backup_app(app_id: str, data: AppBackupIn) -> tuple[dict[str, Any], int]:
    """Back up the app's volumes now (202, status ``running``; follow ``GET /api/backups/{id}``). The app's
    ``backup_consistency`` applies (pause its container, run its pre-backup command, or none). 409 while another
    backup or restore of the app runs, or when the runtime cannot reach volume data on this host."""
    row = await _service().start_app_backup(app_id, data.destination_id, data.volumes, codec=data.codec)
    return backup_json(row), 202


@bp.get("/api/apps/<app_id>/backups")
@tag(["backups"])
@validate_querystring(AppBackupsQuery)
@document_response(BackupPage)
async def list_app_backups(app_id: str, query_args: AppBackupsQuery) -> dict[str, Any]:
    """The app's backups, newest first."""
    ctx = rivetr()
    await ctx.services.apps.get(app_id)
    rows, nxt = await ctx.services.backups.list_backups(query_args, app_id=app_id, status=query_args.status)
    return envelope([backup_json(r) for r in rows], nxt)


@bp.get("/api/backups")
@tag(["backups"])
@validate_querystring(BackupsQuery)
@document_response(BackupPage)
async def list_backups(query_args: BackupsQuery) -> dict[str, Any]:
    """Every backup (app volumes, services, stacks and state), newest first; ``?app_id=``, ``?stack_id=`` and
    ``?status=`` filter."""
    rows, nxt = await _service().list_backups(
        query_args, app_id=query_args.app_id, status=query_args.status, stack_id=query_args.stack_id
    )
    return envelope([backup_json(r) for r in rows], nxt)


@bp.post("/api/backups")
@tag(["backups"])
@responds(404)
@validate_request(StateBackupIn)
@document_response(BackupOut, 202)
async def backup_state(data: StateBackupIn) -> tuple[dict[str, Any], int]:
    """Back up Rivetr's own state to a destination now (202, status ``running``). The secret key and admin
    token are included only when the destination has a passphrase (encrypted with it)."""
    row = await _service().state_backup_now(data.destination_id)
    return backup_json(row), 202


@bp.get("/api/backups/<backup_id>")
@tag(["backups"])
@document_response(BackupOut)
async def get_backup(backup_id: str) -> dict[str, Any]:
    return backup_json(await _service().get_backup(backup_id))


@bp.delete("/api/backups/<backup_id>")
@tag(["backups"])
@responds(502)
async def delete_backup(backup_id: str) -> Response:
    """Delete the archive at its destination, then the row; 409 while it runs or is restored, 502 when the
    destination refuses the deletion."""
    await _service().delete_backup(backup_id)
    return Response(status=204)


@bp.post("/api/backups/<backup_id>/restore")
@tag(["backups"])
@document_request(RestoreIn)
@optional_body
@document_response(RestoreOut, 202)
async def restore_backup(backup_id: str) -> tuple[dict[str, Any], int]:
    """Restore the backup's volumes into its app or ``app_id`` (202, status ``running``; follow
    ``GET /api/restores/{id}``): the archive is checked and unpacked beside the live data while the app runs,
    then the app's container is stopped, the files swapped in, the container started and health-checked. Any
    failure before the swap leaves the live data untouched."""
    data = await optional_json(RestoreIn)
    row = await _service().start_restore(backup_id, data.app_id, data.volumes)
    return restore_json(row), 202


@bp.get("/api/backups/<backup_id>/restores")
@tag(["backups"])
@validate_querystring(PageQuery)
@document_response(RestorePage)
async def list_restores(backup_id: str, query_args: PageQuery) -> dict[str, Any]:
    """The backup's restores, newest first."""
    rows, nxt = await _service().list_restores(backup_id, query_args)
    return envelope([restore_json(r) for r in rows], nxt)


@bp.get("/api/restores/<restore_id>")
@tag(["backups"])
@document_response(RestoreOut)
async def get_restore(restore_id: str) -> dict[str, Any]:
    return restore_json(await _service().get_restore(restore_id))


# ----------------------------------------------------------------------------------------------- schedules
@bp.post("/api/backup-schedules")
@tag(["backups"])
@responds(404)
@validate_request(ScheduleIn)
@document_response(BackupScheduleOut, 201)
async def create_schedule(data: ScheduleIn) -> tuple[dict[str, Any], int]:
    """A cron schedule of backups (an app's volumes, a service's data, a stack's named volumes or Rivetr's
    state) with its retention; its job
    ``backup-schedule:<id>`` shows in ``GET /api/schedules``. 422 names a bad cron expression or time zone."""
    service = _service()
    row = await service.create_schedule(data.model_dump())
    return await service.schedule_json(row), 201


@bp.get("/api/backup-schedules")
@tag(["backups"])
@validate_querystring(SchedulesQuery)
@document_response(SchedulePage)
async def list_schedules(query_args: SchedulesQuery) -> dict[str, Any]:
    service = _service()
    rows, nxt = await service.list_schedules(
        query_args, app_id=query_args.app_id, service_id=query_args.service_id, stack_id=query_args.stack_id
    )
    return envelope([await service.schedule_json(r) for r in rows], nxt)


@bp.get("/api/backup-schedules/<schedule_id>")
@tag(["backups"])
@document_response(BackupScheduleOut)
async def get_schedule(schedule_id: str) -> dict[str, Any]:
    service = _service()
    return await service.schedule_json(await service.get_schedule(schedule_id))


@bp.put("/api/backup-schedules/<schedule_id>")
@tag(["backups"])
@validate_request(ScheduleUpdate)
@document_response(BackupScheduleOut)
async def update_schedule(schedule_id: str, data: ScheduleUpdate) -> dict[str, Any]:
    service = _service()
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    row = await service.update_schedule(schedule_id, fields)
    return await service.schedule_json(row)


@bp.delete("/api/backup-schedules/<schedule_id>")
@tag(["backups"])
async def delete_schedule(schedule_id: str) -> Response:
    """The schedule and its job go; the backups it made (and their archives) stay. 409 ``managed_by_file`` for a
    schedule the app's rivetr.toml declares (remove it from the file)."""
    await _service().delete_schedule(schedule_id)
    return Response(status=204)
