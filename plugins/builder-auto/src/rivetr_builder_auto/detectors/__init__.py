"""The detectors, in the order they are asked (the first that matches plans the build).

Each module has ``NAME``, ``LOOKS_FOR`` (what it looks at, for the "nothing detected" message), ``matches(repo)``
(cheap) and ``plan(repo, settings) -> Plan``. Go first (``go.mod`` is unambiguous), Python, Ruby and PHP before Node (a
Django, Rails or Laravel project often has a ``package.json`` for its assets), static last (a Vite project has an
``index.html`` at its root but needs its build).
"""

from __future__ import annotations

from types import ModuleType

from . import golang, node, php, python, ruby, static

DETECTORS: tuple[ModuleType, ...] = (golang, python, ruby, php, node, static)
