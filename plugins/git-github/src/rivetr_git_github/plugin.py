"""Registers the ``github`` and ``gitea`` git providers (webhooks, OAuth connect, repositories, comments)."""

from rivetr_core import hookimpl
from rivetr_core.types import GitProviderRegistration

from .provider import GiteaProvider, GitHubProvider


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [
        GitProviderRegistration(
            name="github", factory=GitHubProvider.from_context, description="GitHub and GitHub Enterprise"
        ),
        GitProviderRegistration(
            name="gitea",
            factory=GiteaProvider.from_context,
            description="Gitea / Forgejo (GitHub-shaped webhooks)",
        ),
    ]
