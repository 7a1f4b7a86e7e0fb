"""Registers the ``nixpacks`` builder, whether or not the ``nixpacks`` CLI is installed.

It registers even without the CLI so ``rivetr plugins list`` and ``GET /api/plugins`` show it as unavailable
(with the reason), and an app that selects it gets a 422 naming the reason instead of a failed deploy; its
``detect()`` then says no, so ``auto`` never picks it. The builder module is imported by the factory, on first
use: the server loads every plugin's ``plugin.py`` at start-up and idle memory has no headroom.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, PluginContext

if TYPE_CHECKING:
    from .builder import NixpacksBuilder

NAME = "nixpacks"
CLI = "nixpacks"
INSTALL_URL = "https://nixpacks.com"
#: After the Dockerfile builder (100) and autodetect (200): a repository either of them builds keeps being
#: built by it under "auto".
PRIORITY = 300
DESCRIPTION = "Nixpacks: the nixpacks CLI detects the app's language and builds its image"


def unavailable() -> str | None:
    """Why this builder cannot run here (the CLI is not on PATH), or None. A PATH lookup: cheap enough for
    every selection and plugin listing, and it notices a CLI installed after the server started."""
    if shutil.which(CLI) is None:
        return f"`{CLI}` not on PATH (install from {INSTALL_URL})"
    return None


def _factory(ctx: PluginContext) -> NixpacksBuilder:
    from .builder import NixpacksBuilder

    return NixpacksBuilder(logger=ctx.logger)


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    reason = unavailable()
    return [
        BuilderRegistration(
            name=NAME,
            factory=_factory,
            description=f"unavailable: {reason}" if reason else DESCRIPTION,
            priority=PRIORITY,
            unavailable=unavailable,
        )
    ]
