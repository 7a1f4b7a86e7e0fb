"""Read-only view of a checkout for the detectors, through core's confined reader.

A repository is untrusted: a ``package.json`` may be a link to ``/dev/zero`` or to a host file. Every read goes
through :func:`rivetr_core.contract.repofiles.read_repo_text` (confined to the checkout, regular files only,
size-capped); a file it refuses counts as absent for detection and fails the build if a plan needs it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rivetr_core.contract.repofiles import UnsafeRepoFile, read_repo_text

#: Manifests are small; a bigger one is not worth parsing to guess a start command.
MAX_MANIFEST_BYTES = 512 * 1024
#: Source files scanned for ``FastAPI(`` / ``Flask(__name__)``: a bounded walk, so a huge repository stays cheap.
MAX_SCANNED_FILES = 300
MAX_SCAN_DEPTH = 3
SKIPPED_DIRS = frozenset(
    {"node_modules", "venv", "env", "site-packages", "__pycache__", "tests", "test", "docs", "dist", "build"}
)


class Repo:
    """The checkout at ``root``: existence checks and parsed manifests (cached)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._text: dict[str, str | None] = {}

    def is_file(self, rel: str) -> bool:
        """A regular file inside the checkout (a link out of it, a FIFO or a directory is not)."""
        path = self.root / rel
        if not os.path.lexists(path):
            return False
        resolved = path.resolve()
        return resolved.is_relative_to(self.root) and resolved.is_file()

    def is_dir(self, rel: str) -> bool:
        path = self.root / rel
        return not path.is_symlink() and path.is_dir()

    def text(self, rel: str) -> str | None:
        """The file's text, or None when it is absent or unsafe to read."""
        if rel not in self._text:
            try:
                self._text[rel] = read_repo_text(
                    self.root, rel, max_bytes=MAX_MANIFEST_BYTES, missing_ok=True
                )
            except UnsafeRepoFile:
                self._text[rel] = None
        return self._text[rel]

    def json(self, rel: str) -> dict[str, Any] | None:
        text = self.text(rel)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def toml(self, rel: str) -> dict[str, Any] | None:
        text = self.text(rel)
        if text is None:
            return None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None

    def files(self, suffix: str) -> Iterator[str]:
        """Relative paths of ``*<suffix>`` files, the root's first, skipping hidden, vendored and test trees."""
        count = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel_dir = os.path.relpath(dirpath, self.root)
            depth = 0 if rel_dir == "." else rel_dir.count(os.sep) + 1
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and d not in SKIPPED_DIRS and depth < MAX_SCAN_DEPTH
            )
            for name in sorted(filenames):
                if not name.endswith(suffix):
                    continue
                count += 1
                if count > MAX_SCANNED_FILES:
                    return
                yield name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
