"""Registers the ``nixpacks`` builder, whether or not the ``nixpacks`` CLI is installed (unavailable with the
reason when it is not: :class:`rivetr_core.contract.cliproc.CliTool`). The builder module is imported by the
factory, on first use: the server loads every plugin's ``plugin.py`` at start-up and idle memory has no headroom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, PluginContext
from rivetr_core.contract.cliproc import CliTool

if TYPE_CHECKING:
    from .builder import NixpacksBuilder

TOOL = CliTool(builder="nixpacks", cli="nixpacks", install_url="https://nixpacks.com")
NAME = TOOL.builder
unavailable = TOOL.unavailable
#: After the Dockerfile builder (100) and autodetect (200): a repository either of them builds keeps being
#: built by it under "auto".
PRIORITY = 300
DESCRIPTION = "Nixpacks: the nixpacks CLI detects the app's language and builds its image"


def _factory(ctx: PluginContext) -> NixpacksBuilder:
    from .builder import NixpacksBuilder

    return NixpacksBuilder(logger=ctx.logger)


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    return [TOOL.registration(_factory, priority=PRIORITY, description=DESCRIPTION)]
