"""Registers the ``apprise`` notifier."""

from rivetr_core import hookimpl
from rivetr_core.types import NotifierRegistration, PluginContext

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
