"""Zero-downtime switching: a route moves from an old upstream to a new one under continuous load."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter

import pytest


class Load:
    """Keep-alive clients hammering the proxy from threads; every failure is recorded."""

    def __init__(self, port: int, host: str, clients: int = 8) -> None:
        self.port, self.host = port, host
        self.stop = threading.Event()
        self.bodies: Counter[bytes] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/", headers={"Host": self.host})
                r = conn.getresponse()
                body = r.read()
                with self.lock:
                    if r.status == 200:
                        self.bodies[body] += 1
                    else:
                        self.failures.append(f"{r.status} {body[:80]!r}")
            except Exception as exc:
                with self.lock:
                    self.failures.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def total(self) -> int:
        with self.lock:
            return sum(self.bodies.values())


@pytest.mark.slow
def test_switch_under_load_fails_no_request(proxy_factory, backend_factory):
    old, new = backend_factory("old"), backend_factory("new")
    p = proxy_factory(workers=2)
    p.set_route("app.test", old.address)
    slow_results: list[tuple[int, bytes]] = []

    def slow_request() -> None:
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        c.request("GET", "/sleep?s=1.0", headers={"Host": "app.test"})
        r = c.getresponse()
        slow_results.append((r.status, r.read()))
        c.close()

    with Load(p.port, "app.test") as load:
        time.sleep(0.7)
        slow = [threading.Thread(target=slow_request) for _ in range(3)]
        for t in slow:
            t.start()
        time.sleep(0.2)  # the slow requests are in flight on the old upstream
        p.set_route("app.test", new.address)
        t0 = time.monotonic()
        assert p.call("wait_drained", old.address, 10) is True
        drained_after = time.monotonic() - t0
        for t in slow:
            t.join()
        old.stop()  # the pipeline stops the old container once drained
        n = load.total()
        time.sleep(0.7)
        assert load.total() > n  # still serving after the old side is gone
    assert load.failures == [], load.failures[:5]
    assert load.bodies[b"old"] > 0 and load.bodies[b"new"] > 0
    assert slow_results == [(200, b"old")] * 3  # in-flight requests finished on the old upstream
    assert 0.3 < drained_after < 5  # wait_drained waited for them


@pytest.mark.slow
def test_switch_back_and_forth_repeatedly(proxy_factory, backend_factory):
    a, b = backend_factory("a"), backend_factory("b")
    p = proxy_factory()
    p.set_route("flip.test", a.address)
    with Load(p.port, "flip.test", clients=4) as load:
        for i in range(20):
            time.sleep(0.05)
            p.set_route("flip.test", (b if i % 2 == 0 else a).address)
    assert load.failures == []
    assert load.bodies[b"a"] and load.bodies[b"b"]
