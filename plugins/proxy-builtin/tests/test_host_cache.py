"""The worker remembers Host values it routed (raw, as clients send them: case and port included) to skip
normalising them on every request; a route change must never be answered from that memory (real processes)."""

from __future__ import annotations

from typing import Any

from tests.support.proxy import http_get


def test_a_remembered_host_follows_route_changes(proxy_factory: Any, backend_factory: Any) -> None:
    a, b = backend_factory("a"), backend_factory("b")
    proxy = proxy_factory()
    proxy.set_route("cache.test", a.address)
    for _ in range(3):  # the first request normalises and remembers "Cache.TEST:8080"; the others use it
        status, headers, _ = http_get(proxy.port, "Cache.TEST:8080")
        assert status == 200 and headers["x-backend"] == "a"
    proxy.set_route("cache.test", b.address)
    status, headers, _ = http_get(proxy.port, "Cache.TEST:8080")
    assert status == 200 and headers["x-backend"] == "b"
    proxy.call("remove_route", "cache.test")
    assert http_get(proxy.port, "Cache.TEST:8080")[0] == 404
