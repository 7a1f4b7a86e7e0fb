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
    name: str
    factory: Callable[[PluginContext], Notifier]
    description: str = ""
