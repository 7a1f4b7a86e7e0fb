"""Managed services area: databases and one-click services (``services``) and the links that hand their
connection settings to apps (``service_links``); see docs/services.md.

A service runs one container of an image named by its template (``postgres``, ``redis``, a plugin's template)
on its project's private network, reachable by its name; its data lives on named engine volumes
(:func:`service_volume_name`) that outlive every container. Generated credentials and the user's environment
are stored only as :class:`~rivetr_core.secrets.SecretBox` ciphertext of a JSON object. The server loads this
module with the feature (first request, start-up reconcile), not at import time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow
from rivetr_core.projectnet import project_network_name

__all__ = [
    "ManagedService",
    "ServiceLink",
    "project_network_name",
    "service_container_name",
    "service_volume_name",
]

#: ``created`` (never started), ``starting``, ``running`` (ready), ``stopped`` (by the user), ``failed`` (did not
#: become ready, or crashed), ``deleting``.
SERVICE_STATUSES = ("created", "starting", "running", "stopped", "failed", "deleting")


def service_volume_name(service_id: str, name: str) -> str:
    """The engine volume of a service's ``name`` volume: by id, so a rename or a new service of the same name
    never gets another one's data."""
    return f"rivetr-svc-{service_id}-{name}"


def service_container_name(name: str) -> str:
    return f"rivetr-svc-{name}"


class ManagedService(SQLModel, table=True):
    __tablename__ = "services"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    project_id: str | None = Field(
        default=None,
        sa_column=Column(
            String(32), ForeignKey("projects.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    #: The template's name (``postgres``, ``mysql``, ``mariadb``, ``redis`` or a catalogue/plugin template).
    type: str = Field(max_length=63)
    version: str = Field(max_length=64)
    #: The image reference last run, after ``[runtime] image_map`` (``docker.io/library/postgres:16``).
    image: str = Field(max_length=500)
    cpu_limit: float | None = None
    memory_limit: int | None = None
    #: A TCP port on every host interface forwarded to the service's port; None: private network only.
    public_port: int | None = Field(default=None, unique=True)
    #: Encrypted JSON object: the user's extra environment.
    environment_enc: str | None = None
    #: Encrypted JSON object: generated credentials and secrets (``user``, ``password``, ``database``, and any
    #: ``${password:N}`` the template asks for, by variable name).
    credentials_enc: str
    #: What the user asked for: ``running`` or ``stopped`` (start-up and the monitor bring the engine there).
    desired_state: str = Field(default="running", max_length=10)
    status: str = Field(default="created", max_length=10)
    container_id: str | None = Field(default=None, max_length=128)
    error: str | None = None
    #: Labels to organise and filter by (rivetr_core.tags): lower-case, deduplicated, sorted.
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ServiceLink(SQLModel, table=True):
    """An app's link to a service: the service's connection settings as ``<env_prefix>_*`` env vars at the
    app's next deploy, and the app's containers on the service's private network."""

    __tablename__ = "service_links"
    __table_args__ = (UniqueConstraint("app_id", "env_prefix", name="uq_service_links_app_prefix"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(
        sa_column=Column(String(32), ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    service_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("services.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    env_prefix: str = Field(max_length=63)
    created_at: datetime = Field(default_factory=utcnow)
