"""quart-schema, loaded without its optional attrs support.

quart-schema converts attrs classes when the ``attrs`` package is importable (it is, as a dependency of other
installed tools), and importing it costs ~1.3 MB of the server's idle RSS. Rivetr's schemas are pydantic
models only, so ``attrs`` is hidden while quart-schema loads (it catches the ImportError and leaves attrs
support off) and visible again right after, for any other code that wants it.
"""

from __future__ import annotations

import sys

_hide = "attrs" not in sys.modules
if _hide:
    sys.modules["attrs"] = None  # type: ignore[assignment]  # None in sys.modules makes the import fail
try:
    from quart_schema import QuartSchema
finally:
    if _hide:
        del sys.modules["attrs"]

__all__ = ["QuartSchema"]
