"""Per-route request counters (``status()["route_stats"]``) through a real proxy process and real backends:
counted per matched route key, upstream errors are the proxy's own 502/503/504, summed over workers, and a
killed worker never makes a total go backwards."""

from __future__ import annotations

import os
import signal

from tests.support.proxy import free_port, http_get, wait_until


def stats(p) -> dict[str, dict[str, int]]:
    return p.status()["route_stats"]


def test_requests_are_counted_per_route_key(proxy_factory, backend_factory):
    a, w = backend_factory("a"), backend_factory("wild")
    p = proxy_factory(workers=1)
    assert stats(p) == {}
    p.set_route("a.test", a.address)
    p.set_route("*.apps.test", w.address)
    for _ in range(5):
        assert http_get(p.port, "a.test")[0] == 200
    for host in ("x.apps.test", "y.z.apps.test", "X.Apps.Test:8080"):
        assert http_get(p.port, host)[2] == b"wild"
    # Any status counts as a request; an app's own 5xx is not an upstream error.
    assert http_get(p.port, "a.test", "/status?code=404")[0] == 404
    assert http_get(p.port, "a.test", "/status?code=502")[0] == 502
    assert http_get(p.port, "nope.test")[0] == 404
    st = stats(p)
    assert st["a.test"] == {"requests": 7, "upstream_errors": 0}
    assert st["*.apps.test"] == {"requests": 3, "upstream_errors": 0}
    assert st["_unmatched"] == {"requests": 1, "upstream_errors": 0}
    assert "x.apps.test" not in st
    # Monotonic: a route removed and added again continues from where it was.
    p.call("remove_route", "a.test")
    assert stats(p)["a.test"]["requests"] == 7
    p.set_route("a.test", a.address)
    assert http_get(p.port, "a.test")[0] == 200
    assert stats(p)["a.test"]["requests"] == 8


def test_upstream_errors_count_502_503_504(proxy_factory, backend_factory):
    b = backend_factory("slow")
    p = proxy_factory(workers=1, upstream_read_timeout=0.6, upstream_connect_timeout=1)
    p.set_route("refused.test", f"127.0.0.1:{free_port()}")
    p.set_route("empty.test")
    p.set_route("slow.test", b.address)
    for _ in range(3):
        assert http_get(p.port, "refused.test")[0] == 502
    for _ in range(2):
        assert http_get(p.port, "empty.test")[0] == 503
    assert http_get(p.port, "slow.test", "/sleep?s=3")[0] == 504
    assert http_get(p.port, "slow.test")[0] == 200
    st = stats(p)
    assert st["refused.test"] == {"requests": 3, "upstream_errors": 3}
    assert st["empty.test"] == {"requests": 2, "upstream_errors": 2}
    assert st["slow.test"] == {"requests": 2, "upstream_errors": 1}


def test_two_workers_add_up_and_a_killed_worker_keeps_its_counts(proxy_factory, backend_factory):
    a = backend_factory("a")
    p = proxy_factory(workers=2, upstream_connect_timeout=1)
    p.set_route("mw.test", a.address)
    p.set_route("down.test", f"127.0.0.1:{free_port()}")
    # Fresh connections: SO_REUSEPORT spreads them over both workers (2^-79 chance of one worker only).
    for _ in range(80):
        assert http_get(p.port, "mw.test")[0] == 200
    for _ in range(20):
        assert http_get(p.port, "down.test")[0] == 502
    st = p.status()
    assert st["route_stats"]["mw.test"] == {"requests": 80, "upstream_errors": 0}
    assert st["route_stats"]["down.test"] == {"requests": 20, "upstream_errors": 20}
    # kill -9 one worker: it is restarted, and what it had served (reported above) stays in the totals.
    pids = st["worker_pids"]
    os.kill(pids[0], signal.SIGKILL)
    seen = []

    def restarted() -> bool:
        s = p.status()
        seen.append(s["route_stats"])
        return s["workers_ready"] == 2 and pids[0] not in s["worker_pids"]

    wait_until(restarted, timeout=15)
    for s in seen:  # never backwards, also while the worker was dead or starting
        assert s["mw.test"]["requests"] == 80 and s["down.test"]["upstream_errors"] == 20
    for _ in range(40):
        assert http_get(p.port, "mw.test")[0] == 200
    for _ in range(4):
        assert http_get(p.port, "down.test")[0] == 502
    st2 = stats(p)
    assert st2["mw.test"] == {"requests": 120, "upstream_errors": 0}
    assert st2["down.test"] == {"requests": 24, "upstream_errors": 24}
    # The other worker too: killing it after its counts were reported loses nothing.
    other = p.worker_pids()[1]
    os.kill(other, signal.SIGKILL)
    wait_until(lambda: (s := p.status())["workers_ready"] == 2 and other not in s["worker_pids"], timeout=15)
    assert stats(p)["mw.test"]["requests"] == 120
