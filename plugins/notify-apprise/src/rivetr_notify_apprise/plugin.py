"""Registers the ``apprise`` notifier."""

from pydantic import BaseModel, ConfigDict

from rivetr_core import hookimpl
from rivetr_core.contract import ConfigModelRegistration, NotifierRegistration, PluginContext

from .notifier import AppriseNotifier


def _factory(ctx: PluginContext) -> AppriseNotifier:
    return AppriseNotifier(logger=ctx.logger)


@hookimpl
def rivetr_notifiers() -> list[NotifierRegistration]:
    return [
        NotifierRegistration(
            name="apprise",
            factory=_factory,
            description="Any apprise URL: Slack, Discord, e-mail, Telegram, ntfy, JSON…",
        )
    ]


class AppriseSettings(BaseModel):
    """``[plugins.notify-apprise]``: no keys yet (channels are configured per notification in the API), so
    any key there is a typo and an error."""

    model_config = ConfigDict(extra="forbid")


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="notify-apprise", model=AppriseSettings)]
