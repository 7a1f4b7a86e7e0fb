"""Entry point ``example-templates``: registers the ``cache-lru`` service template.

The TOML file ships beside this module as package data; core reads and validates it on the first use of the
catalogue (not at start-up), and reports it in ``GET /api/templates`` ``errors`` if it does not load.
"""

from __future__ import annotations

from pathlib import Path

from rivetr_core import hookimpl
from rivetr_core.contract import TemplateRegistration

HERE = Path(__file__).parent


@hookimpl
def rivetr_templates() -> list[TemplateRegistration]:
    return [TemplateRegistration(name="cache-lru", path=HERE / "cache-lru.toml")]
