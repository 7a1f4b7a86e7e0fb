"""Registers the ``gitlab`` git provider (webhooks, OAuth connect, projects, MR notes)."""

from rivetr_core import hookimpl
from rivetr_core.types import GitProviderRegistration

from .provider import GitLabProvider


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [
        GitProviderRegistration(
            name="gitlab",
            factory=GitLabProvider.from_context,
            description="GitLab.com and self-managed GitLab",
        )
    ]
