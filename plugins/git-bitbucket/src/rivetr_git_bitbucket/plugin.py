"""Registers the ``bitbucket`` git provider (webhooks, OAuth connect, repositories, PR comments)."""

from rivetr_core import hookimpl
from rivetr_core.types import GitProviderRegistration

from .provider import BitbucketProvider


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [
        GitProviderRegistration(
            name="bitbucket",
            factory=BitbucketProvider.from_context,
            description="Bitbucket Cloud (and Server webhooks)",
        )
    ]
