"""GitHub provider. NOT BUILT YET (issue 7): every method says so instead of pretending to work."""

from collections.abc import Mapping

from rivetr_core.types import WebhookEvent


class GitHubProvider:
    name = "github"

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
        # Fail closed: an unbuilt provider never accepts a webhook.
        return False

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise NotImplementedError("the github git provider is not built yet (issue 7)")
