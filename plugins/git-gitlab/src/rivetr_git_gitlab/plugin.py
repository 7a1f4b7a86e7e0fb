"""Registers the gitlab git provider. Placeholder until issue 7: webhooks, OAuth and previews are not built yet."""

from rivetr_core import hookimpl
from rivetr_core.types import GitProviderRegistration

from .provider import GitLabProvider


@hookimpl
def rivetr_git_providers() -> list[GitProviderRegistration]:
    return [GitProviderRegistration(name="gitlab", factory=lambda ctx: GitLabProvider())]
