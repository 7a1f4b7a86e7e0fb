"""Registers the ``buildpacks`` builder, whether or not the ``pack`` CLI is installed (unavailable with the
reason when it is not: :class:`rivetr_core.contract.cliproc.CliTool`). The builder module is imported by the
factory, on first use: the server loads every plugin's ``plugin.py`` at start-up and idle memory has no headroom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, PluginContext
from rivetr_core.contract.cliproc import CliTool

if TYPE_CHECKING:
    from .builder import BuildpacksBuilder

TOOL = CliTool(
    builder="buildpacks",
    cli="pack",
    install_url="https://buildpacks.io/docs/for-platform-operators/how-to/integrate-ci/pack/",
)
NAME = TOOL.builder
unavailable = TOOL.unavailable
#: Last: after the Dockerfile builder (100), autodetect (200) and nixpacks (300) under "auto".
PRIORITY = 400
DESCRIPTION = "Cloud Native Buildpacks: the pack CLI builds the image with a builder (default Paketo's)"


def _factory(ctx: PluginContext) -> BuildpacksBuilder:
    from .builder import BuildpacksBuilder

    return BuildpacksBuilder(logger=ctx.logger)


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    return [TOOL.registration(_factory, priority=PRIORITY, description=DESCRIPTION)]
