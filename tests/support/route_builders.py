"""Werkzeug's URL builders compiled once per test process instead of once per in-process app.

Every in-process app a test starts (``create_app``) adds Rivetr's ~340 URL rules, and werkzeug compiles two
builder functions for each from a generated syntax tree (``Rule._compile_builder``): 85 of the 125 ms of CPU a
``create_app`` takes, and ~1,800 apps start in a CI run. The function it compiles depends only on the rule's
text, parsed trace, defaults and ``append_unknown`` (the rule itself comes in as its bound ``self``), so the
same rule in the next app gets the function compiled for the first. Without the private method (another
werkzeug) nothing is patched and the apps compile their own, as before.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import rules as _rules

_original = getattr(_rules.Rule, "_compile_builder", None)
_compiled: dict[tuple[Any, ...], Any] = {}


def _compile_builder(self: Any, append_unknown: bool = True) -> Any:
    key = (
        self.rule,
        self.host,
        self.subdomain,
        tuple(self._trace),
        repr(sorted((self.defaults or {}).items())),
        tuple((name, type(conv).__name__) for name, conv in self._converters.items()),
        append_unknown,
    )
    built = _compiled.get(key)
    if built is None:
        built = _compiled[key] = _original(self, append_unknown)  # type: ignore[misc]
    return built


if _original is not None:
    _rules.Rule._compile_builder = _compile_builder  # type: ignore[method-assign]
