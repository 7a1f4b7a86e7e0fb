"""Per-app git settings (:class:`~rivetr_core.models.git.AppGitSettings`): webhook secret, tag following,
preview policy, linked connected account. Secrets are encrypted with the context's SecretBox."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import Database, isoformat, utcnow
from rivetr_core.models.git import AppGitSettings
from rivetr_core.secrets import SecretBox

_UNSET: Any = object()


class AppGitSettingsStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def get(self, app_id: str) -> AppGitSettings:
        """The app's settings, or the defaults (not stored) when it never set any."""
        async with self.db.session() as session:
            row = await session.get(AppGitSettings, app_id)
        return row or AppGitSettings(app_id=app_id)

    async def many(self, app_ids: list[str]) -> dict[str, AppGitSettings]:
        if not app_ids:
            return {}
        async with self.db.session() as session:
            rows = (
                await session.exec(select(AppGitSettings).where(col(AppGitSettings.app_id).in_(app_ids)))
            ).all()
        found = {row.app_id: row for row in rows}
        return {app_id: found.get(app_id) or AppGitSettings(app_id=app_id) for app_id in app_ids}

    async def update(
        self, app_id: str, *, webhook_secret: str | None = _UNSET, **fields: Any
    ) -> AppGitSettings:
        """Change some settings; ``webhook_secret=None`` removes the secret, leaving it out keeps it."""
        async with self.db.session() as session:
            row = await session.get(AppGitSettings, app_id) or AppGitSettings(app_id=app_id)
            if webhook_secret is not _UNSET:
                row.webhook_secret_enc = self.box.encrypt(webhook_secret) if webhook_secret else None
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
        return row

    def secret_of(self, row: AppGitSettings) -> str | None:
        return self.box.decrypt(row.webhook_secret_enc) if row.webhook_secret_enc else None


class GitSettingsOut(ApiModel):
    app_id: str
    has_webhook_secret: bool = Field(description="A per-app webhook secret is set (it is never returned).")
    follow_tags: bool = Field(description="Tag pushes deploy this app.")
    tag_pattern: str | None = Field(description="Glob of the tags followed; null: every tag.")
    auto_deploy: bool = Field(description="Branch (and followed tag) pushes deploy this app.")
    previews_enabled: bool = Field(description="PR/MR previews of this app are deployed.")
    preview_secrets: bool = Field(description="Previews of same-repository PRs get secret env vars.")
    account_id: str | None = Field(description="Connected account whose token clones and comments on PRs.")
    repo_full_name: str | None = Field(description="owner/name (GitLab: project path) on the provider.")
    updated_at: str | None


def settings_json(row: AppGitSettings) -> dict[str, Any]:
    """API form: the webhook secret is never returned, only whether one is set."""
    return GitSettingsOut(
        app_id=row.app_id,
        has_webhook_secret=bool(row.webhook_secret_enc),
        follow_tags=row.follow_tags,
        tag_pattern=row.tag_pattern,
        auto_deploy=row.auto_deploy,
        previews_enabled=row.previews_enabled,
        preview_secrets=row.preview_secrets,
        account_id=row.account_id,
        repo_full_name=row.repo_full_name,
        updated_at=isoformat(row.updated_at) if row.updated_at else None,
    ).model_dump(mode="json")
