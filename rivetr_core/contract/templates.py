"""Service templates (``rivetr_templates``): one-click databases and apps a plugin adds to the catalogue
(``GET /api/templates``, ``rivetr templates list``, ``POST /api/services`` with ``"type": <name>``).

A template is a TOML file (schema: docs/templates.md). Core reads it on first use of the catalogue, not at start,
and reports a broken one (``GET /api/templates`` ``errors``, the log) without failing anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TemplateRegistration:
    """One template: give ``path`` (a TOML file, usually shipped as package data beside the plugin module) or
    ``text`` (the TOML itself), not both.

    Example: ``TemplateRegistration(name="plausible", path=Path(__file__).with_name("plausible.toml"))``.
    """

    #: What users type (``"type": "plausible"``); DNS-safe, unique across core and every plugin. The file's own
    #: ``name`` key, if it has one, must agree.
    name: str
    #: The TOML file; read when the catalogue first loads.
    path: str | Path | None = None
    #: The TOML text itself, for a template built in code.
    text: str | None = None
