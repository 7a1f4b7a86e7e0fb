"""The Bitbucket provider: ``X-Hub-Signature: sha256=<hex HMAC-SHA256>`` check and payload parsing."""

from __future__ import annotations

from collections.abc import Mapping

from rivetr_core.contract import PluginContext, WebhookEvent
from rivetr_core.contract.signing import header, verify_hmac_sha256

from . import webhooks
from .api import BitbucketApi


class BitbucketProvider(BitbucketApi):
    name = "bitbucket"
    #: The instance-wide webhook secret (``[plugins.git-bitbucket] webhook_secret``); core verifies with it.
    webhook_secret: str | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> BitbucketProvider:
        from .plugin import BitbucketSettings

        provider = cls()
        secret = ctx.settings_as(BitbucketSettings, "git-bitbucket").webhook_secret
        provider.webhook_secret = secret.get_secret_value() or None if secret is not None else None
        return provider

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        return verify_hmac_sha256(header(headers, "X-Hub-Signature"), secret, body, prefix="sha256=")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        event, delivery = webhooks.delivery(headers)
        return webhooks.parse(self.name, event, delivery, body)
