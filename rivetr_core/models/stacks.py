"""Compose stacks area: stacks (a compose file from git or pasted), their domains, deployments and build logs;
see docs/compose.md.

A stack runs the services of one compose file as containers on its own networks (compose's ``default`` and any it
declares) and on its project's private network, where another app or stack of the project reaches a service as
``<stack>-<service>``. Each deployment records what it ran per service (image, config hash, containers) so a
redeploy touches only what changed and a rollback replays an earlier deployment's file and images. The stack's
variables (``${VAR}`` of the file) are stored only as :class:`~rivetr_core.secrets.SecretBox` ciphertext. The
server loads this module with the feature (first request or start-up recovery that finds a stack).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

#: ``created`` (never deployed), ``deploying``, ``running`` (a deployment is live; each service's containers
#: report their own state), ``failed`` (the first deployment failed: nothing runs), ``deleting``.
STACK_STATUSES = ("created", "deploying", "running", "failed", "deleting")
#: A stack deployment moves ``queued → cloning → building → starting → health_checking → switching → running``
#: like an app's; ``running`` becomes ``superseded`` when a newer one replaces it.
STACK_ACTIVE_STATUSES = ("queued", "cloning", "building", "starting", "health_checking", "switching")
STACK_DEPLOYMENT_STATUSES = (*STACK_ACTIVE_STATUSES, "running", "failed", "cancelled", "superseded")


class Stack(SQLModel, table=True):
    __tablename__ = "stacks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    #: DNS-safe, unique among apps, services and stacks: ``<name>-<service>`` is a host name on the project network.
    name: str = Field(max_length=40, unique=True)
    project_id: str | None = Field(
        default=None,
        sa_column=Column(
            String(32), ForeignKey("projects.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    #: ``inline`` (the pasted ``compose`` text) or ``git`` (``repo_url`` at ``branch``, file ``compose_path``).
    source: str = Field(default="inline", max_length=10)
    compose: str | None = None
    repo_url: str | None = Field(default=None, max_length=500)
    branch: str = Field(default="main", max_length=255)
    #: Path of the compose file in the repository; None: ``compose.yaml``, ``compose.yml``,
    #: ``docker-compose.yml`` or ``docker-compose.yaml``, the first found (compose's own order).
    compose_path: str | None = Field(default=None, max_length=500)
    #: Credentials of a private repository, as an app's: a deploy key (``ssh_keys``; an SSH URL needs one) and/or
    #: an HTTPS token (SecretBox ciphertext, never returned) sent as ``git_token_user`` (None: ``x-access-token``).
    #: Migration 0025 adds it without a foreign key on SQLite (plain ADD COLUMN, as 0020 did for a project's team):
    #: the SSH key service refuses to delete a key a stack uses, and a deploy names a key that is gone.
    ssh_key_id: str | None = Field(default=None, max_length=32, index=True)
    git_token_enc: str | None = None
    git_token_user: str | None = Field(default=None, max_length=100)
    #: The stack's own webhook secret (SecretBox ciphertext): a push signed with it deploys this stack without
    #: the provider's instance-wide secret, and authorises nothing else.
    webhook_secret_enc: str | None = None
    profiles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Encrypted JSON object: the variables the file interpolates (``${DB_PASSWORD}``).
    env_enc: str | None = None
    #: Deploy a preview stack for each pull/merge request to ``branch`` (same repository only).
    previews: bool = False
    #: Set on a preview stack: the stack it previews and the pull/merge request number.
    preview_of: str | None = Field(
        default=None,
        sa_column=Column(String(32), ForeignKey("stacks.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    pr_number: int | None = None
    status: str = Field(default="created", max_length=10)
    current_deployment_id: str | None = Field(default=None, max_length=32)
    error: str | None = None
    #: Labels to organise and filter by (rivetr_core.tags): lower-case, deduplicated, sorted.
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class StackDomain(SQLModel, table=True):
    """A domain the proxy routes to one service and container port of a stack (unique across the instance, like
    an app's domain)."""

    __tablename__ = "stack_domains"

    domain: str = Field(primary_key=True, max_length=253)
    stack_id: str = Field(
        sa_column=Column(String(32), ForeignKey("stacks.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    service: str = Field(max_length=63)
    port: int
    created_at: datetime = Field(default_factory=utcnow)


class StackDeployment(SQLModel, table=True):
    """One attempt to bring a stack to a version of its compose file.

    ``compose`` is the file as this deployment read it (a rollback replays it with ``images``); ``services`` maps a
    service to what runs for it: ``{"image", "hash", "routed", "containers": [{"id", "name", "upstream"}]}``.
    """

    __tablename__ = "stack_deployments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    stack_id: str = Field(
        sa_column=Column(String(32), ForeignKey("stacks.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    status: str = Field(default="queued", max_length=20, index=True)
    trigger: str = Field(default="api", max_length=40)
    commit_sha: str | None = Field(default=None, max_length=64)
    commit_message: str | None = Field(default=None, max_length=2000)
    rollback_of: str | None = Field(default=None, max_length=32)
    compose: str | None = None
    services: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The compose network keys of the file (their engine networks go with the stack).
    networks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Old containers this deployment stopped to recreate their services: started again if it fails, also
    #: by start-up recovery when the server stopped in the middle.
    stopped: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    error: str | None = None
    log_tail: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    steps: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: PostgreSQL with several control planes: the plane that queued it, then the one that claimed it
    #: (engine/planes.py); a live plane adopts a dead one's. Null on SQLite.
    plane_id: str | None = Field(default=None, max_length=32)


class StackDeploymentLog(SQLModel, table=True):
    __tablename__ = "stack_deployment_logs"

    id: int | None = Field(default=None, primary_key=True)
    deployment_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("stack_deployments.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    ts: datetime = Field(default_factory=utcnow)
    line: str
