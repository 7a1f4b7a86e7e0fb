"""The extra containers of a deployment that runs several replicas of an app (issue 23): replica 0 stays in
``Deployment.container_id/container_name/upstream`` (so every path that knows one container keeps working), the
replicas 1..N-1 have a row here each. Loaded with the replicas code (:mod:`rivetr_core.engine.replicas`) and by
the migrations' environment, not by an idle server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import utcnow


class DeploymentReplica(SQLModel, table=True):
    """Replica ``index`` (1..N-1) of a deployment: its container and where the proxy reaches it."""

    __tablename__ = "deployment_replicas"

    deployment_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    index: int = Field(primary_key=True)
    container_id: str | None = Field(default=None, max_length=128)
    container_name: str | None = Field(default=None, max_length=255)
    upstream: str | None = Field(default=None, max_length=300)
    #: Restarts of this replica by the crash watcher (replica 0's are ``Deployment.restart_count``).
    restart_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
