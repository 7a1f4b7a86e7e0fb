"""The GitLab provider: ``X-Gitlab-Token`` shared-secret check (constant time) and payload parsing."""

from __future__ import annotations

from collections.abc import Mapping

from rivetr_core.types import PluginContext, WebhookEvent
from rivetr_core.webhooks.signing import header, verify_token

from . import webhooks
from .api import GitLabApi


class GitLabProvider(GitLabApi):
    name = "gitlab"

    @classmethod
    def from_context(cls, ctx: PluginContext) -> GitLabProvider:
        return cls()

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        # GitLab sends the configured secret token verbatim (no HMAC): compare it in constant time.
        return verify_token(header(headers, "X-Gitlab-Token"), secret)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event, delivery = webhooks.delivery(headers)
        return webhooks.parse(self.name, event, delivery, body)
