"""Entry point ``example-jsonl``: registers the ``jsonl`` notifier and its ``[plugins.example-jsonl]`` settings.

This module is what the entry point names; it holds only hook implementations and is imported at start-up, so
it stays cheap: the notifier's work happens in :meth:`JsonLinesNotifier.send`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    NotifierRegistration,
    PluginContext,
    RivetrEvent,
)

PLUGIN_NAME = "example-jsonl"  # the entry-point name in pyproject.toml
SCHEME = "jsonl://"


class Settings(BaseModel):
    """``[plugins.example-jsonl]``; ``extra="forbid"`` makes a misspelt key a start-up error."""

    model_config = ConfigDict(extra="forbid")

    include_data: bool = Field(True, description="Write each event's data object into its line.")


class JsonLinesNotifier:
    """The ``jsonl`` notifier: ``jsonl:///abs/path.jsonl`` appends one JSON object per event."""

    name = "jsonl"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def validate(self, url: str) -> str | None:
        """Optional hook of notifiers: a message makes channel creation answer 422 instead of failing later."""
        if not url.startswith(SCHEME) or not url[len(SCHEME) :].startswith("/"):
            return "must be jsonl:// followed by an absolute path, e.g. jsonl:///var/log/rivetr.jsonl"
        return None

    async def send(self, url: str, event: RivetrEvent) -> None:
        problem = self.validate(url)
        if problem:
            raise ValueError(problem)  # raising tells core the delivery failed: it retries and records it
        line: dict[str, Any] = {
            "type": event.type,
            "app": event.app_name,
            "app_id": event.app_id,
            "deployment_id": event.deployment_id,
            "message": event.message,
            "level": event.level,
            "ts": event.ts.isoformat(),
        }
        if self.settings.include_data:
            line["data"] = event.data
        text = json.dumps(line, default=str) + "\n"
        # File I/O blocks: run it in a thread so the control plane's event loop never waits on a disk.
        await asyncio.to_thread(_append, Path(url[len(SCHEME) :]), text)


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def _factory(ctx: PluginContext) -> JsonLinesNotifier:
    # ctx.settings is this plugin's validated [plugins.example-jsonl] section (a Settings instance).
    return JsonLinesNotifier(ctx.settings_as(Settings, PLUGIN_NAME))


@hookimpl
def rivetr_notifiers() -> list[NotifierRegistration]:
    return [
        NotifierRegistration(name="jsonl", factory=_factory, description="Events as JSON lines in a file")
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name=PLUGIN_NAME, model=Settings)]
