"""Unit tests of the worker's route table (no sockets)."""

import pytest
from rivetr_proxy_builtin.routing import RouteTable, normalize_domain, split_address


def table() -> RouteTable:
    return RouteTable(
        [
            {"domain": "app.example.com", "upstreams": ["127.0.0.1:1"]},
            {"domain": "*.example.com", "upstreams": ["127.0.0.1:2"]},
            {"domain": "*.b.example.com", "upstreams": ["127.0.0.1:3"]},
            {"domain": "rr.test", "upstreams": ["127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"]},
        ]
    )


def test_exact_beats_wildcard_and_most_specific_wildcard_wins():
    t = table()
    assert t.lookup(b"app.example.com").domain == "app.example.com"
    assert t.lookup(b"x.example.com").domain == "*.example.com"
    assert t.lookup(b"deep.x.example.com").domain == "*.example.com"
    assert t.lookup(b"c.b.example.com").domain == "*.b.example.com"
    assert t.lookup(b"example.com") is None  # *.example.com does not cover the apex
    assert t.lookup(b"other.test") is None


def test_round_robin_skips_unhealthy():
    entry = table().lookup(b"rr.test")
    picks = [entry.pick(frozenset()).addr for _ in range(6)]
    assert sorted(set(picks)) == ["127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"]
    assert picks[:3] != picks[1:4]  # it rotates
    picks = {entry.pick(frozenset({"127.0.0.1:5"})).addr for _ in range(6)}
    assert picks == {"127.0.0.1:4", "127.0.0.1:6"}
    assert entry.pick(frozenset({"127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"})) is None


def test_validation():
    assert normalize_domain("App.Example.COM.") == "app.example.com"
    assert split_address("[::1]:80") == ("::1", 80)
    for bad in ("a b", "*a.example.com", "x.*.example.com", ""):
        with pytest.raises(ValueError):
            normalize_domain(bad)
    for bad in ("nohost", ":80", "h:x"):
        with pytest.raises(ValueError):
            split_address(bad)


def test_host_cache_is_bounded_and_dies_with_the_table():
    from rivetr_proxy_builtin.routing import HOST_CACHE_MAX

    t = table()
    entry = t.lookup(b"app.example.com")
    for i in range(HOST_CACHE_MAX + 10):  # a flood of names: the cache stops growing
        t.remember(b"App.Example.com:%d" % i, b"app.example.com", entry)
    assert len(t.hosts) == HOST_CACHE_MAX
    assert t.hosts[b"App.Example.com:0"] == (b"app.example.com", entry)
    assert table().hosts == {}  # a new table (a route change) starts empty: no stale answer survives it
