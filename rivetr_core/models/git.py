"""Git area tables: webhook deliveries, per-app git settings, OAuth accounts and states, previews.

Secrets (webhook secrets, OAuth access/refresh tokens, PKCE verifiers) are stored only as
:class:`~rivetr_core.secrets.SecretBox` ciphertext (``*_enc`` columns).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel, col, select

from rivetr_core.db.engine import new_id, utcnow
from rivetr_core.models.apps import App


def _app_fk(*, primary_key: bool = False) -> Any:
    return Column(
        String(32),
        ForeignKey("apps.id", ondelete="CASCADE"),
        nullable=False,
        index=not primary_key,
        primary_key=primary_key,
    )


class WebhookDelivery(SQLModel, table=True):
    """One received webhook and what came of it.

    ``dedupe_key`` (``<provider>:<delivery id>``) and ``digest_key`` (``<provider>:<sha256 of the body>``) are
    set only once the signature verified, and are unique: the database itself refuses to process one delivery
    twice, a captured body resent under a fresh delivery id is still the same body, and an unsigned request
    cannot burn the id of a real delivery. ``body_sha256`` stays for display after a failure releases the keys.
    A rejected (unverified) attempt keeps only provider, truncated event and delivery id, ``remote_addr``,
    reason and time: nothing from its payload. ``outcome``: deployed, ignored, skipped, duplicate, rejected,
    error, pong.
    """

    __tablename__ = "git_webhook_deliveries"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    provider: str = Field(max_length=40, index=True)
    event: str | None = Field(default=None, max_length=100)
    kind: str | None = Field(default=None, max_length=20)
    delivery_id: str | None = Field(default=None, max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=250, unique=True)
    digest_key: str | None = Field(default=None, max_length=120, unique=True)
    body_sha256: str | None = Field(default=None, max_length=64)
    remote_addr: str | None = Field(default=None, max_length=64)
    outcome: str = Field(default="received", max_length=20, index=True)
    reason: str | None = Field(default=None, max_length=1000)
    status_code: int = 200
    repository: str | None = Field(default=None, max_length=500)
    ref: str | None = Field(default=None, max_length=255)
    commit_sha: str | None = Field(default=None, max_length=64)
    deployments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    app_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, index=True)


class GitAccount(SQLModel, table=True):
    """A connected account (OAuth): whose token it is, and the token itself, encrypted."""

    __tablename__ = "git_accounts"
    __table_args__ = (UniqueConstraint("provider", "remote_id", name="uq_git_accounts_provider_remote"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    provider: str = Field(max_length=40, index=True)
    remote_id: str = Field(max_length=100)
    login: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    avatar_url: str | None = Field(default=None, max_length=1000)
    access_token_enc: str
    refresh_token_enc: str | None = None
    token_type: str = Field(default="bearer", max_length=40)
    scope: str | None = Field(default=None, max_length=1000)
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OAuthState(SQLModel, table=True):
    """A pending OAuth authorisation: single use, short-lived; holds the PKCE verifier (encrypted)."""

    __tablename__ = "git_oauth_states"

    state: str = Field(primary_key=True, max_length=100)
    provider: str = Field(max_length=40)
    code_verifier_enc: str
    return_to: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class AppGitSettings(SQLModel, table=True):
    """Git-related settings of an app the apps table does not carry.

    ``webhook_secret_enc``: a per-app webhook secret (HMAC key / GitLab token), besides ``[webhooks]``.
    ``follow_tags`` + ``tag_pattern``: tag pushes deploy this app (glob, empty = every tag).
    ``auto_deploy``: branch/tag pushes deploy the app (off: webhooks still run previews, never the app).
    ``previews_enabled``: PR/MR previews; ``preview_secrets``: previews of same-repo PRs get secret env vars
    (a fork's never does). ``account_id``: the connected account whose token clones and comments.
    """

    __tablename__ = "git_app_settings"

    app_id: str = Field(sa_column=_app_fk(primary_key=True))
    webhook_secret_enc: str | None = None
    follow_tags: bool = False
    tag_pattern: str | None = Field(default=None, max_length=255)
    auto_deploy: bool = True
    previews_enabled: bool = True
    preview_secrets: bool = False
    account_id: str | None = Field(
        default=None,
        sa_column=Column(
            String(32), ForeignKey("git_accounts.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    repo_full_name: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


class Preview(SQLModel, table=True):
    """A pull/merge-request preview of ``app_id``: deployed as its own hidden app ``preview_app_id``.

    ``status``: deploying, running, failed, removed; ``awaiting_approval`` (a fork's head commit waits for
    ``POST /api/previews/{id}/approve``), ``rejected`` (fork previews are off: ``[previews] forks = "never"``),
    ``limit_reached`` (``[previews] max_per_app``); ``reason`` says why in words. ``approved_sha`` is the fork
    head commit last approved: a new push needs a new approval. ``head_repo_url`` is where the head is cloned
    from (the fork's repository), kept so an approval can build without the webhook.
    ``app_id`` has no foreign key on purpose: deleting the base app must not be refused, and must not silently
    drop the row that says which preview app to remove (the preview sweeper removes previews whose base app is
    gone).
    """

    __tablename__ = "git_previews"
    __table_args__ = (UniqueConstraint("app_id", "pr_number", name="uq_git_previews_app_pr"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(max_length=32, index=True)
    preview_app_id: str | None = Field(default=None, max_length=32, index=True)
    provider: str = Field(max_length=40)
    pr_number: int
    repo_full_name: str | None = Field(default=None, max_length=500)
    head_ref: str | None = Field(default=None, max_length=255)
    head_sha: str | None = Field(default=None, max_length=64)
    is_fork: bool = False
    head_repo_url: str | None = Field(default=None, max_length=1000)
    approved_sha: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    domain: str = Field(max_length=253)
    status: str = Field(default="deploying", max_length=20)
    deployment_id: str | None = Field(default=None, max_length=32)
    comment_id: str | None = Field(default=None, max_length=100)
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


def not_a_preview_app() -> ColumnElement[bool]:
    """A WHERE clause on ``apps`` keeping only real apps: listings (``GET /api/apps``, the dashboard's app
    lists and counts) hide the preview apps of pull requests unless asked for them; those stay reachable by
    id. Use it everywhere apps are listed, so the API and the dashboard agree."""
    previews = select(Preview.preview_app_id).where(col(Preview.preview_app_id).is_not(None))
    return col(App.id).not_in(previews)
