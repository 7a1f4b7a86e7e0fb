"""requests (under the docker SDK), loaded without charset_normalizer until a response's encoding must be guessed.

requests imports charset_normalizer at import time only to have ``detect`` ready for ``Response.text`` on a body
that declares no charset; the docker SDK reads JSON and raw streams and never gets there, yet the import costs
the control plane ~1.3 MB of idle RSS (its tables and two C extensions). While requests loads, a stand-in module
answers its version check and keeps ``detect``, which imports the real library on first call, so behaviour is
unchanged; the stand-in leaves ``sys.modules`` right after, so any other ``import charset_normalizer`` gets the
real one.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any


class _DetectOnFirstUse(types.ModuleType):
    def detect(self, byte_str: bytes, *args: Any, **kwargs: Any) -> Any:
        return import_module("charset_normalizer").detect(byte_str, *args, **kwargs)


def load_requests() -> None:
    """Import requests (no-op when it is loaded already or charset_normalizer is not installed)."""
    if "requests" in sys.modules or "charset_normalizer" in sys.modules:
        return
    try:
        real_version = version("charset-normalizer")
    except PackageNotFoundError:
        return
    stand_in = _DetectOnFirstUse("charset_normalizer")
    stand_in.__version__ = real_version  # type: ignore[attr-defined]  # requests checks the supported range
    sys.modules["charset_normalizer"] = stand_in
    try:
        import requests  # noqa: F401
    finally:
        if sys.modules.get("charset_normalizer") is stand_in:
            del sys.modules["charset_normalizer"]


load_requests()
