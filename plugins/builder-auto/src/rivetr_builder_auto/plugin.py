"""Registers the ``autodetect`` builder.

The builder module and its detectors are imported by the factory, on first use: the server loads every plugin's
``plugin.py`` at start-up and idle memory has no headroom for code only a build needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, PluginContext

if TYPE_CHECKING:
    from .builder import AutoBuilder

NAME = "autodetect"
#: After the Dockerfile builder (100): a repository with a Dockerfile keeps being built from it under "auto".
PRIORITY = 200


def _factory(ctx: PluginContext) -> AutoBuilder:
    from .builder import AutoBuilder

    return AutoBuilder(logger=ctx.logger)


@hookimpl
def rivetr_builders() -> list[BuilderRegistration]:
    return [
        BuilderRegistration(
            name=NAME,
            factory=_factory,
            description="Zero-config: detects Go (go.mod), Python (requirements.txt, pyproject.toml, Pipfile), "
            "Node (package.json) and static sites (index.html) and builds a generated Dockerfile",
            priority=PRIORITY,
        )
    ]
