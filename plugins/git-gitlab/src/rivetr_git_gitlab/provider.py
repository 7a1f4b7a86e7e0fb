"""The GitLab provider: ``X-Gitlab-Token`` shared-secret check (constant time) and payload parsing."""

from __future__ import annotations

from collections.abc import Mapping

from rivetr_core.contract import PluginContext, WebhookEvent
from rivetr_core.contract.signing import header, verify_token

from . import webhooks
from .api import GitLabApi


class GitLabProvider(GitLabApi):
    name = "gitlab"
    #: The instance-wide webhook token (``[plugins.git-gitlab] webhook_token``); core verifies with it.
    webhook_secret: str | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> GitLabProvider:
        from .plugin import GitLabSettings

        provider = cls()
        token = ctx.settings_as(GitLabSettings, "git-gitlab").webhook_token
        provider.webhook_secret = token.get_secret_value() or None if token is not None else None
        return provider

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        # GitLab sends the configured secret token verbatim (no HMAC): compare it in constant time.
        return verify_token(header(headers, "X-Gitlab-Token"), secret)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event, delivery = webhooks.delivery(headers)
        return webhooks.parse(self.name, event, delivery, body)
