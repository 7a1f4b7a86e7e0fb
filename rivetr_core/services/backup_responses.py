"""Backup destinations, runs, restores and schedules as the API and the dashboard show them.

Each ``*_json`` of the backup service builds its JSON through the matching model here, so ``/openapi.json``
(which documents these models) and what the server answers cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.backups import Backup, BackupRestore

Status = Literal["running", "succeeded", "failed"]


class DestinationOut(ApiModel):
    id: str
    name: str
    kind: Literal["local", "s3"]
    path: str | None = Field(description="local: the directory archives go under.")
    endpoint_url: str | None
    bucket: str | None
    region: str | None
    prefix: str | None
    access_key: str | None
    secret_key: str | None = Field(description="Masked; null for a local destination.")
    target: str = Field(
        description="Where archives go, for people: the directory, or s3://bucket/prefix (endpoint)."
    )
    has_passphrase: bool = Field(
        description="Archives written here are encrypted (the passphrase is write-only)."
    )
    created_at: str
    updated_at: str


class VolumeEntry(ApiModel):
    name: str
    mount_path: str
    kind: str = Field(description="volume (named) or bind.")
    services: list[str] | None = Field(
        None, description="A stack's volume: the compose services that mount it (paused or stopped with it)."
    )


class BackupOut(ApiModel):
    id: str
    what: Literal["volumes", "state", "service", "stack"]
    app_id: str | None = Field(
        description="Null for a state, service or stack backup, or once the app was deleted."
    )
    app_name: str | None
    service_id: str | None = Field(
        None, description="what=service: the managed service (null once it was deleted)."
    )
    service_name: str | None = None
    stack_id: str | None = Field(
        None, description="what=stack: the compose stack whose named volumes (null once it was deleted)."
    )
    stack_name: str | None = None
    destination_id: str | None
    schedule_id: str | None
    trigger: Literal["manual", "schedule", "import"] = Field(
        description="import: an archive another server made, imported (POST /api/services/{id}/backups/import)."
    )
    status: Status
    key: str | None = Field(description="The archive's key at the destination.")
    codec: str | None
    encrypted: bool
    size_bytes: int | None
    sha256: str | None = Field(description="Of the stored bytes; checked before a restore.")
    duration_ms: int | None
    volumes: list[VolumeEntry]
    consistency: str | None = Field(
        description="pause, command or none (the app's setting at the time); for a service, its backup method "
        "(pg_dumpall, mysqldump, redis_rdb, volume); a stack's: pause (its services using the volumes)."
    )
    error: str | None
    started_at: str | None
    finished_at: str | None


class RestoreOut(ApiModel):
    id: str
    backup_id: str
    app_id: str | None
    service_id: str | None = Field(None, description="A service backup's restore: the service restored into.")
    stack_id: str | None = Field(None, description="A stack backup's restore: the stack restored into.")
    status: Status
    volumes: list[VolumeEntry]
    error: str | None
    started_at: str | None
    finished_at: str | None


class BackupScheduleOut(ApiModel):
    id: str
    what: Literal["volumes", "state", "service", "stack"]
    app_id: str | None
    service_id: str | None = None
    stack_id: str | None = None
    destination_id: str
    cron: str
    timezone: str
    keep_last: int
    keep_daily: int
    keep_weekly: int
    retention: str = Field(description='The rules in use, for people: "last 7, daily 14" ("-": none).')
    enabled: bool
    job_name: str = Field(description="Its job in GET /api/schedules.")
    next_run_at: str | None
    last_run_at: str | None
    last_status: str | None
    created_at: str
    updated_at: str


def _without_absent_services(out: dict[str, Any]) -> dict[str, Any]:
    """``services`` appears on a stack volume's entry only: an app's or a service's keeps its shape."""
    for entry in out["volumes"]:
        if entry.get("services") is None:
            entry.pop("services", None)
    return out


def backup_json(row: Backup) -> dict[str, Any]:
    return _without_absent_services(
        BackupOut(
            id=row.id,
            what=row.what,  # type: ignore[arg-type]
            app_id=row.app_id,
            app_name=row.app_name,
            service_id=row.service_id,
            service_name=row.service_name,
            stack_id=row.stack_id,
            stack_name=row.stack_name,
            destination_id=row.destination_id,
            schedule_id=row.schedule_id,
            trigger=row.trigger,  # type: ignore[arg-type]
            status=row.status,  # type: ignore[arg-type]
            key=row.key,
            codec=row.codec,
            encrypted=row.encrypted,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            duration_ms=row.duration_ms,
            volumes=row.volumes or [],  # type: ignore[arg-type]
            consistency=row.consistency,
            error=row.error,
            started_at=isoformat(row.started_at),
            finished_at=isoformat(row.finished_at),
        ).model_dump(mode="json")
    )


def restore_json(row: BackupRestore) -> dict[str, Any]:
    return _without_absent_services(
        RestoreOut(
            id=row.id,
            backup_id=row.backup_id,
            app_id=row.app_id,
            service_id=next(
                (v.get("service_id") for v in row.volumes or [] if v.get("kind") == "service"), None
            ),
            stack_id=row.stack_id,
            status=row.status,  # type: ignore[arg-type]
            volumes=row.volumes or [],  # type: ignore[arg-type]
            error=row.error,
            started_at=isoformat(row.started_at),
            finished_at=isoformat(row.finished_at),
        ).model_dump(mode="json")
    )


def retention_text(keep_last: int, keep_daily: int, keep_weekly: int) -> str:
    """``last 7, daily 14, weekly 8``: the retention rules in use, for people."""
    rules = (("last", keep_last), ("daily", keep_daily), ("weekly", keep_weekly))
    return ", ".join(f"{rule} {n}" for rule, n in rules if n) or "-"
