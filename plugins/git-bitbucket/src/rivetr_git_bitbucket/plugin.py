"""Registers the ``bitbucket`` git provider (webhooks, OAuth connect, repositories, PR comments) and the
``[plugins.git-bitbucket]`` settings."""

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rivetr_core import hookimpl
from rivetr_core.contract import ConfigModelRegistration, GitProviderRegistration

from .provider import BitbucketProvider


class BitbucketSettings(BaseModel):
    """``[plugins.git-bitbucket]``."""

    model_config = ConfigDict(extra="forbid")

    webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC secret of Bitbucket webhooks, for every app (apps may also have their own). Replaces "
        "the deprecated [webhooks] bitbucket_secret.",
    )


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [
        GitProviderRegistration(
            name="bitbucket",
            factory=BitbucketProvider.from_context,
            description="Bitbucket Cloud (and Server webhooks)",
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="git-bitbucket", model=BitbucketSettings)]
