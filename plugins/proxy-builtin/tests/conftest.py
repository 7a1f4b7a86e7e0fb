"""proxy-builtin tests use the shared fixtures of tests/support/proxy.py (real proxy process, real backends)."""

from tests.support.proxy import backend_factory, proxy_factory, ws_backend_factory

__all__ = ["backend_factory", "proxy_factory", "ws_backend_factory"]
