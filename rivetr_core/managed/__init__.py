"""Managed services: databases and one-click services run from a template (see docs/services.md and
docs/templates.md).

A lazily loaded feature: nothing in this package is imported when the server starts; the API handlers, the CLI
and the service layer (``ctx.services.lazy("managed", ...)``) import it on first use.

* :mod:`~rivetr_core.managed.template` — :class:`Template`: one parsed, validated template (image, versions,
  env with generated secrets, volumes, health, link, backup, rotation) and its substitutions.
* :mod:`~rivetr_core.managed.catalog` — :class:`Catalog`: the built-in templates (``rivetr_core/templates/``) and
  the plugins' (hook ``rivetr_templates``), loaded once; broken ones are reported, never fatal.
"""
