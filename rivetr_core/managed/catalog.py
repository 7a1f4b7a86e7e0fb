"""The template catalogue: core's templates (``rivetr_core/templates/*.toml``) and the plugins' (hook
``rivetr_templates``), parsed once on first use (docs/templates.md).

A template that does not load (bad TOML, a missing key, an unknown substitution, a name already taken) is left
out and reported in :attr:`Catalog.errors` (``GET /api/templates``, ``rivetr templates list``, the log); it
never stops the rest. :func:`catalog_for` keeps one catalogue per plugin manager (one per app), so tests can
build apps with different plugins side by side.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rivetr_core.contract.errors import ValidationFailed

from .template import CATEGORIES, Template, TemplateInvalid, parse_template

log = logging.getLogger("rivetr.templates")

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class TemplateProblem:
    """A template left out of the catalogue: ``source`` says where it came from (file, plugin)."""

    source: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "message": self.message}


class Catalog:
    """Templates by name; core's first, then each plugin's in registration order."""

    def __init__(
        self,
        builtin: Iterable[tuple[str, str, str]],
        registrations: Iterable[tuple[str, Any]] = (),
    ) -> None:
        """``builtin``: ``(name, source label, TOML text)``; ``registrations``: ``(plugin name,
        TemplateRegistration)`` as the plugin manager collected them."""
        self._templates: dict[str, Template] = {}
        self._sources: dict[str, str] = {}
        self.errors: list[TemplateProblem] = []
        for name, label, text in builtin:
            self._add(name, label, "builtin", lambda text=text: text)
        for owner, registration in registrations:
            self._add_registration(owner, registration)
        for problem in self.errors:
            log.error("template from %s left out of the catalogue: %s", problem.source, problem.message)

    # ---------------------------------------------------------------------------------------------- loading
    def _add_registration(self, owner: str, registration: Any) -> None:
        name = getattr(registration, "name", None)
        path, text = getattr(registration, "path", None), getattr(registration, "text", None)
        label = f"plugin {owner}: " + (f"{path}" if path is not None else f"template {name!r}")
        if not isinstance(name, str) or not name:
            self.errors.append(TemplateProblem(label, "the registration has no name"))
            return
        if (path is None) == (text is None):
            self.errors.append(TemplateProblem(label, "give the registration a path or a text, not both"))
            return
        if path is not None:
            file = Path(path)

            def read() -> str:
                return file.read_text(encoding="utf-8")

            self._add(name, label, owner, read)
        else:
            self._add(name, label, owner, lambda: str(text))

    def _add(self, name: str, label: str, source: str, read: Any) -> None:
        if name in self._templates:
            taken = self._sources[name]
            self.errors.append(TemplateProblem(label, f"template name {name!r} is taken by {taken}"))
            return
        try:
            template = parse_template(read(), name=name, source=source)
        except OSError as exc:
            self.errors.append(TemplateProblem(label, f"cannot read it: {exc.strerror or exc}"))
            return
        except UnicodeDecodeError:
            self.errors.append(TemplateProblem(label, "not UTF-8 text"))
            return
        except TemplateInvalid as exc:
            self.errors.append(TemplateProblem(label, str(exc)))
            return
        self._templates[name] = template
        self._sources[name] = label

    # --------------------------------------------------------------------------------------------- reading
    def names(self) -> list[str]:
        return sorted(self._templates)

    def find(self, name: str) -> Template | None:
        return self._templates.get(name)

    def get(self, name: str, *, field: str = "type") -> Template:
        """The template called ``name``; :class:`ValidationFailed` on ``field`` listing the available names."""
        template = self._templates.get(name)
        if template is None:
            raise ValidationFailed.on(
                field,
                f"unknown template {name!r} (available: {', '.join(self.names()) or 'none'})",
                available=self.names(),
            )
        return template

    def resolve(self, name: str, version: str | None = None) -> tuple[Template, str]:
        """``(template, version)``: the version checked against the template's (default: its first);
        :class:`ValidationFailed` on ``type`` or ``version`` listing what is available."""
        template = self.get(name)
        if version is None:
            return template, template.default_version
        if version not in template.versions:
            raise ValidationFailed.on(
                "version",
                f"No version {version!r} of {template.name} (available: {', '.join(template.versions)})",
                available=list(template.versions),
            )
        return template, version

    def list(self, query: str | None = None, category: str | None = None) -> list[Template]:
        """Templates matching ``query`` (case-insensitive, in name, title, description or image) and
        ``category``; databases first, then by name."""
        needle = (query or "").strip().lower()
        found = [
            t
            for t in self._templates.values()
            if (category is None or t.category == category)
            and (
                not needle
                or any(needle in part.lower() for part in (t.name, t.title, t.description, t.image))
            )
        ]
        order = {c: i for i, c in enumerate(CATEGORIES)}
        return sorted(found, key=lambda t: (order.get(t.category, len(order)), t.name))

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __len__(self) -> int:
        return len(self._templates)


@functools.cache
def builtin_sources() -> tuple[tuple[str, str, str], ...]:
    """Core's template files: ``(name, label, text)`` by name (read once per process)."""
    return tuple(
        (path.stem, f"rivetr_core/templates/{path.name}", path.read_text(encoding="utf-8"))
        for path in sorted(BUILTIN_DIR.glob("*.toml"))
    )


_CATALOGS: weakref.WeakKeyDictionary[Any, Catalog] = weakref.WeakKeyDictionary()


def catalog_for(plugins: Any) -> Catalog:
    """The catalogue of a plugin manager (``ctx.plugins``): built on first use, then kept with it."""
    catalog = _CATALOGS.get(plugins)
    if catalog is None:
        catalog = Catalog(builtin_sources(), plugins.template_registrations())
        _CATALOGS[plugins] = catalog
    return catalog
