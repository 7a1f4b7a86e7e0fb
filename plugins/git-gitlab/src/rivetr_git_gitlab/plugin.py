"""Registers the ``gitlab`` git provider (webhooks, OAuth connect, projects, MR notes) and the
``[plugins.git-gitlab]`` settings."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rivetr_core import hookimpl
from rivetr_core.contract import ConfigModelRegistration, GitProviderRegistration

from .provider import GitLabProvider


class GitLabSettings(BaseModel):
    """``[plugins.git-gitlab]``."""

    model_config = ConfigDict(extra="forbid")

    webhook_token: SecretStr | None = Field(
        None,
        description="X-Gitlab-Token value of GitLab webhooks, for every app (apps may also have their own). "
        "Replaces the deprecated [webhooks] gitlab_token.",
    )


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [
        GitProviderRegistration(
            name="gitlab",
            factory=GitLabProvider.from_context,
            description="GitLab.com and self-managed GitLab",
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="git-gitlab", model=GitLabSettings)]
