"""Pure helpers of :mod:`.pull`, imported on the first pull (the server loads the runtime at start; only
managed services pull): the pull request's reference split, human progress lines, failure classification."""

from __future__ import annotations

import re
from typing import Any

#: Engine messages meaning the registry does not have the image, or the image cannot be fetched from it at all
#: (unknown repository or tag, no access, registry unreachable): the user's reference cannot be obtained.
NOT_FOUND = re.compile(
    r"manifest unknown|not found|does not exist|pull access denied|name unknown|unauthorized|"
    r"no such host|connection refused|dial tcp|i/o timeout|pinging container registry|"
    r"repository name must|invalid reference format",
    re.I,
)
_PROGRESSING = ("Downloading", "Extracting")


def split_reference(image: str) -> tuple[str, str]:
    """``(repository, tag or digest)`` for the pull request; an untagged reference means ``latest`` (an
    empty tag would ask the engine for every tag of the repository)."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, "latest"


def human_size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"  # pragma: no cover - the loop returns


class ProgressLines:
    """Turns pull events into throttled human lines (one object per pull)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, tuple[str, float]] = {}  # layer id -> (status, time of its last line)

    def line(self, event: dict[str, Any], now: float) -> str | None:
        status = str(event.get("status") or "").strip()
        if not status:
            return None
        layer = str(event.get("id") or "")
        if not layer:
            return status
        detail = event.get("progressDetail") or {}
        current, total = detail.get("current"), detail.get("total")
        previous = self._last.get(layer)
        if previous is not None and previous[0] == status:
            finished = bool(total) and current == total
            if status not in _PROGRESSING or (now - previous[1] < self.interval and not finished):
                return None
        self._last[layer] = (status, now)
        if status in _PROGRESSING and current is not None and total:
            return f"{layer}: {status} {human_size(current)} / {human_size(total)}"
        return f"{layer}: {status}"
