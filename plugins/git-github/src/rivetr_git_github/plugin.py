"""Registers the ``github`` and ``gitea`` git providers (webhooks, OAuth connect, repositories, comments) and
the ``[plugins.git-github]`` settings."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rivetr_core import hookimpl
from rivetr_core.contract import ConfigModelRegistration, GitProviderRegistration

from .provider import GiteaProvider, GitHubProvider


class GitHubSettings(BaseModel):
    """``[plugins.git-github]``."""

    model_config = ConfigDict(extra="forbid")

    github_webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC secret of GitHub webhooks, for every app (apps may also have their own). Replaces "
        "the deprecated [webhooks] github_secret.",
    )
    gitea_webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC secret of Gitea / Forgejo webhooks. Replaces the deprecated [webhooks] gitea_secret.",
    )


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


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="git-github", model=GitHubSettings)]
