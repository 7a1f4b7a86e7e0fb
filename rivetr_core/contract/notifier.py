"""Notifiers (``rivetr_notifiers``): deliver lifecycle events to a channel URL (``<scheme>://...``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .events import RivetrEvent
from .plugin import PluginContext


@runtime_checkable
class Notifier(Protocol):
    name: str

    async def send(self, url: str, event: RivetrEvent) -> None:
        """Deliver one event to one channel URL; raise on failure (core retries and records)."""
        ...


@dataclass(frozen=True)
class NotifierRegistration:
    """A notifier channels can use: ``{"notifier": "<name>", "url": "..."}`` of a notification channel."""

    #: What a notification channel's ``notifier`` names (``apprise``).
    name: str
    #: Builds the notifier from this plugin's context; called on first use, once per server (one object serves every channel).
    factory: Callable[[PluginContext], Notifier]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
