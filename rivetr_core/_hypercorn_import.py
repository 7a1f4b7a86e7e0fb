"""Hypercorn, loaded without its HTTP/2 protocol until a connection speaks HTTP/2.

``hypercorn.protocol`` imports its HTTP/2 protocol (``h2.connection``, ``hpack``'s tables, ``priority``) for
every server, ~1.1 MB of the control plane's idle RSS. The API is plain HTTP/1.1 behind Rivetr's own proxy
(which speaks HTTP/2 to browsers itself) and a client asking for h2c is rare, so while ``hypercorn.protocol``
loads, a stand-in answers ``from .h2 import H2Protocol`` with a class that imports the real protocol the first
time it is built. The stand-in leaves ``sys.modules`` right after, so ``import hypercorn.protocol.h2`` anywhere
else gets the real module; behaviour is unchanged.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any

_NAME = "hypercorn.protocol.h2"


class H2Protocol:
    """Builds the real ``hypercorn.protocol.h2.H2Protocol`` (imported on first use)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return import_module(_NAME).H2Protocol(*args, **kwargs)


def load_hypercorn() -> None:
    """Import ``hypercorn.protocol`` with the stand-in (no-op when hypercorn's protocols are loaded already)."""
    if "hypercorn.protocol" in sys.modules or _NAME in sys.modules:
        return
    stand_in = types.ModuleType(_NAME)
    stand_in.H2Protocol = H2Protocol  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
    try:
        import hypercorn.protocol  # noqa: F401
    finally:
        if sys.modules.get(_NAME) is stand_in:
            del sys.modules[_NAME]
        package = sys.modules.get("hypercorn.protocol")
        if package is not None and getattr(package, "h2", None) is stand_in:
            delattr(package, "h2")  # a later import of the submodule binds the real one here
