"""Backups area: destinations, one row per backup run and per restore, and backup schedules.

A destination's non-secret settings live in ``config`` (JSON); its secrets (S3 ``secret_key``, the archive
``passphrase``) only in ``secret_enc``, :class:`~rivetr_core.secrets.SecretBox` ciphertext of a JSON object. A
backup row outlives its app (``app_id`` is set NULL, ``app_name`` stays) so its archive can still be restored
into another app; a schedule of an app's volumes goes with the app. The same holds for a compose stack's named
volumes (``what="stack"``, ``stack_id``/``stack_name``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

from . import services as _services  # noqa: F401  (the tables backups reference by foreign key)
from . import stacks as _stacks  # noqa: F401

DESTINATION_KINDS = ("local", "s3")
BACKUP_WHATS = ("volumes", "state", "service", "stack")
RUN_STATUSES = ("running", "succeeded", "failed")
CONSISTENCY_MODES = ("pause", "command", "none")


def _fk(target: str, *, ondelete: str, nullable: bool = True) -> Any:
    return Column(String(32), ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class BackupDestination(SQLModel, table=True):
    __tablename__ = "backup_destinations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    kind: str = Field(max_length=10)
    #: local: ``{"path"}``; s3: ``{"endpoint_url", "bucket", "region", "prefix", "access_key"}``.
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: Encrypted JSON ``{"secret_key"?, "passphrase"?}``; None when there is no secret.
    secret_enc: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Backup(SQLModel, table=True):
    """One backup run: ``running`` → ``succeeded`` | ``failed``."""

    __tablename__ = "backups"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    what: str = Field(default="volumes", max_length=10)
    app_id: str | None = Field(default=None, sa_column=_fk("apps.id", ondelete="SET NULL"))
    app_name: str | None = Field(default=None, max_length=63)
    #: ``what="service"``: the managed service whose data (a logical dump) the archive holds.
    service_id: str | None = Field(default=None, sa_column=_fk("services.id", ondelete="SET NULL"))
    service_name: str | None = Field(default=None, max_length=63)
    #: ``what="stack"``: the compose stack whose named volumes the archive holds.
    stack_id: str | None = Field(default=None, sa_column=_fk("stacks.id", ondelete="SET NULL"))
    stack_name: str | None = Field(default=None, max_length=40)
    destination_id: str | None = Field(
        default=None, sa_column=_fk("backup_destinations.id", ondelete="CASCADE")
    )
    schedule_id: str | None = Field(default=None, sa_column=_fk("backup_schedules.id", ondelete="SET NULL"))
    trigger: str = Field(default="manual", max_length=10)
    status: str = Field(default="running", max_length=10, index=True)
    key: str | None = Field(default=None, max_length=1000)
    codec: str | None = Field(default=None, max_length=10)
    encrypted: bool = False
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    sha256: str | None = Field(default=None, max_length=64)
    duration_ms: int | None = None
    #: ``[{"name", "mount_path", "kind"}]`` of the volumes archived.
    volumes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    consistency: str | None = Field(default=None, max_length=10)
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class BackupRestore(SQLModel, table=True):
    """One restore of a backup into an app: ``running`` → ``succeeded`` | ``failed``."""

    __tablename__ = "backup_restores"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    backup_id: str = Field(sa_column=_fk("backups.id", ondelete="CASCADE", nullable=False))
    app_id: str | None = Field(default=None, sa_column=_fk("apps.id", ondelete="SET NULL"))
    #: A stack backup's restore: the stack restored into.
    stack_id: str | None = Field(default=None, sa_column=_fk("stacks.id", ondelete="SET NULL"))
    status: str = Field(default="running", max_length=10)
    volumes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class BackupSchedule(SQLModel, table=True):
    """A cron schedule of backups with its retention; its scheduler job is ``backup-schedule:<id>``."""

    __tablename__ = "backup_schedules"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    what: str = Field(default="volumes", max_length=10)
    app_id: str | None = Field(default=None, sa_column=_fk("apps.id", ondelete="CASCADE"))
    service_id: str | None = Field(default=None, sa_column=_fk("services.id", ondelete="CASCADE"))
    stack_id: str | None = Field(default=None, sa_column=_fk("stacks.id", ondelete="CASCADE"))
    destination_id: str = Field(sa_column=_fk("backup_destinations.id", ondelete="CASCADE", nullable=False))
    cron: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


def schedule_job_name(schedule_id: str) -> str:
    """The scheduler job of a backup schedule."""
    return f"backup-schedule:{schedule_id}"
