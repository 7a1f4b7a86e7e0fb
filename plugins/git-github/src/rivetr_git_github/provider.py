"""The GitHub and Gitea providers: webhook verification + parsing (pure) and the REST API mix-in."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from rivetr_core.contract import PluginContext, WebhookEvent
from rivetr_core.contract.signing import header, verify_hmac_sha256

from . import webhooks
from .api import GiteaApi, GitHubApi


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() or None if secret is not None else None


class GitHubProvider(GitHubApi):
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; events from ``X-GitHub-Event``."""

    name = "github"
    #: The instance-wide webhook secret (``[plugins.git-github] github_webhook_secret``); core verifies with it.
    webhook_secret: str | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> GitHubProvider:
        from .plugin import GitHubSettings

        provider = cls()
        provider.webhook_secret = _reveal(ctx.settings_as(GitHubSettings, "git-github").github_webhook_secret)
        return provider

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return verify_hmac_sha256(header(headers, "X-Hub-Signature-256"), secret, body, prefix="sha256=")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event, delivery = webhooks.github_delivery(headers)
        return webhooks.parse(self.name, event, delivery, body)


class GiteaProvider(GiteaApi):
    """``X-Gitea-Signature: <hex HMAC-SHA256 of the body>`` (no prefix); GitHub-shaped payloads."""

    name = "gitea"
    #: ``[plugins.git-github] gitea_webhook_secret``.
    webhook_secret: str | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> GiteaProvider:
        from .plugin import GitHubSettings

        provider = cls()
        provider.webhook_secret = _reveal(ctx.settings_as(GitHubSettings, "git-github").gitea_webhook_secret)
        return provider

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        signature = header(headers, "X-Gitea-Signature") or header(headers, "X-Gogs-Signature")
        return verify_hmac_sha256(signature, secret, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event, delivery = webhooks.gitea_delivery(headers)
        return webhooks.parse(self.name, event, delivery, body)
