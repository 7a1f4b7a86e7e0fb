"""Load balancing over a route's upstreams (issue 23): ``round_robin`` (default) takes the upstreams in turn,
``least_conn`` sends each request to the upstream with the fewest requests in flight (ties in turn).

With real sockets: two upstreams, one kept busy by a slow request held open; the requests that follow go to
the idle one under least_conn, and alternate over both (the busy one included) under round robin. No timing:
"busy" is a request the slow upstream has received and not answered, which the test waits for by count."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from rivetr_proxy_builtin.routing import RouteTable
from rivetr_proxy_builtin.server import _balancer

from tests.support.proxy import HttpBackend, SyncProxy, http_get, wait_until

DOMAIN = "lb.test"


def _backend_of(port: int) -> str:
    status, headers, _ = http_get(port, DOMAIN)
    assert status == 200, status
    return headers["x-backend"]


@pytest.fixture
def pair(backend_factory: Any) -> tuple[HttpBackend, HttpBackend]:
    return backend_factory("a"), backend_factory("b")


@pytest.fixture
def busy_request() -> Iterator[Any]:
    """Open a slow request through the proxy (held until the test ends): ``hold(port)``."""
    socks: list[socket.socket] = []

    def hold(port: int) -> None:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(f"GET /sleep?s=60 HTTP/1.1\r\nHost: {DOMAIN}\r\n\r\n".encode())
        socks.append(s)

    yield hold
    for s in socks:
        s.close()


def _route_with_one_busy(
    proxy: SyncProxy, pair: tuple[HttpBackend, HttpBackend], hold: Any, **flags: Any
) -> HttpBackend:
    """Route DOMAIN over both backends, hold one slow request, and return the backend holding it."""
    a, b = pair
    proxy.set_route(DOMAIN, a.address, b.address, **flags)
    hold(proxy.port)
    wait_until(lambda: a.requests + b.requests == 1)  # the proxy counted it in flight before forwarding it
    return a if a.requests else b


def test_least_conn_sends_requests_to_the_idle_upstream(
    proxy_factory: Any, pair: tuple[HttpBackend, HttpBackend], busy_request: Any
) -> None:
    proxy = proxy_factory()
    busy = _route_with_one_busy(proxy, pair, busy_request, load_balancer="least_conn")
    idle = pair[1] if busy is pair[0] else pair[0]
    assert [_backend_of(proxy.port) for _ in range(6)] == [idle.name] * 6
    assert busy.requests == 1  # nothing more went to the busy one


def test_round_robin_alternates_even_over_a_busy_upstream(
    proxy_factory: Any, pair: tuple[HttpBackend, HttpBackend], busy_request: Any
) -> None:
    proxy = proxy_factory()
    busy = _route_with_one_busy(proxy, pair, busy_request)  # the default
    picks = [_backend_of(proxy.port) for _ in range(6)]
    assert picks.count(busy.name) == 3 and picks[0] != picks[1], picks


def test_least_conn_alternates_when_idle_and_can_be_switched_back(
    proxy_factory: Any, pair: tuple[HttpBackend, HttpBackend]
) -> None:
    a, b = pair
    proxy = proxy_factory()
    proxy.set_route(DOMAIN, a.address, b.address, load_balancer="least_conn")
    picks = [_backend_of(proxy.port) for _ in range(4)]
    assert picks in (["a", "b", "a", "b"], ["b", "a", "b", "a"]), picks  # ties go in turn
    proxy.set_route(DOMAIN, a.address, b.address, load_balancer="round_robin")
    assert sorted(_backend_of(proxy.port) for _ in range(4)) == ["a", "a", "b", "b"]


def test_a_bad_load_balancer_is_refused() -> None:
    assert _balancer({"load_balancer": "least_conn"}) == {"load_balancer": "least_conn"}
    assert _balancer({"load_balancer": "round_robin"}) == {} == _balancer({})  # the default stays implicit
    with pytest.raises(ValueError, match="load_balancer"):
        _balancer({"load_balancer": "random"})


def test_least_conn_pick_counts_skips_unhealthy_and_keeps_single_upstreams_plain() -> None:
    counts: dict[str, int] = {}
    ups = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    table = RouteTable(
        [
            {"domain": "lc.test", "upstreams": ups, "load_balancer": "least_conn"},
            {"domain": "one.test", "upstreams": ["127.0.0.1:9"], "load_balancer": "least_conn"},
            {"domain": "rr.test", "upstreams": ups},
        ],
        counts,
    )
    entry = table.lookup(b"lc.test")
    assert entry is not None and entry.counts is counts
    rr = table.lookup(b"rr.test")
    assert rr is not None and rr.counts is None  # round robin never reads the counts
    counts.update({"127.0.0.1:1": 3, "127.0.0.1:2": 1, "127.0.0.1:3": 2})
    assert [entry.pick(frozenset()).addr for _ in range(3)] == ["127.0.0.1:2"] * 3  # type: ignore[union-attr]
    assert entry.pick(frozenset({"127.0.0.1:2"})).addr == "127.0.0.1:3"  # type: ignore[union-attr]
    counts["127.0.0.1:2"] = 2  # a tie of :2 and :3: they take turns
    picks = [entry.pick(frozenset()).addr for _ in range(4)]  # type: ignore[union-attr]
    assert sorted(set(picks)) == ["127.0.0.1:2", "127.0.0.1:3"] and picks[0] != picks[1], picks
    assert entry.pick(frozenset(ups)) is None
    one = table.lookup(b"one.test")
    assert one is not None and one.pick(frozenset()).addr == "127.0.0.1:9"  # type: ignore[union-attr]
