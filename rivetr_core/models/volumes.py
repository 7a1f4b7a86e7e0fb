"""Volumes area: an app's named volumes and bind mounts (see docs/volumes.md).

A named volume (``kind="volume"``) is an engine volume named from the app's id (:func:`engine_volume_name`), so it
outlives every container of the app and survives redeploys, rollbacks and crash restarts; a bind mount
(``kind="bind"``) mounts ``host_path`` from the server, allowed only under ``[volumes] allowed_bind_roots``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

VOLUME_KINDS = ("volume", "bind")


def engine_volume_name(app_id: str, name: str) -> str:
    """The engine's name of an app's named volume: by app id (stable across renames, unique per instance
    since ids are random), so a PR preview (another app) never gets production's volume."""
    return f"rivetr-{app_id}-{name}"


class Volume(SQLModel, table=True):
    __tablename__ = "volumes"
    __table_args__ = (
        UniqueConstraint("app_id", "name", name="uq_volumes_app_name"),
        UniqueConstraint("app_id", "mount_path", name="uq_volumes_app_mount_path"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(max_length=63)
    mount_path: str = Field(max_length=1000)
    kind: str = Field(default="volume", max_length=10)
    host_path: str | None = Field(default=None, max_length=1000)
    read_only: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
