"""Passive health (outlier ejection) and the one safe retry, through a real proxy process and real backends:
an upstream answering 503 is ejected (the other takes all traffic) and comes back after the backoff; the last
upstream of a route keeps serving; a refused upstream is retried on the other (GET, and POST refused before
any byte was sent); a POST whose bytes reached an upstream that then reset is never retried (502), while a GET
in the same situation is."""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Any

import pytest

from tests.support.proxy import HttpBackend, free_port, http_get, parse_response, wait_until


class FlakyBackend(HttpBackend):
    """An :class:`HttpBackend` that answers every request with 503 ``down`` while ``failing`` is set."""

    failing = False

    async def _handle(self, method: str, target: str, request_line: str, headers: Any, hmap: Any, reader: Any,
                      writer: Any, keep: bool) -> bool:  # fmt: skip
        if not self.failing:
            return await super()._handle(method, target, request_line, headers, hmap, reader, writer, keep)
        await self._read_body(hmap, reader)
        writer.write(self._resp(503, b"down", f"X-Backend: {self.name}\r\n", keep))
        await writer.drain()
        return True


class ResettingBackend:
    """Reads one whole request (head and Content-Length body), then resets the connection without answering:
    an app that crashed after acting on the request. ``bodies`` lists (method, body length) it received."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.bodies: list[tuple[str, int]] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                size = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        size = int(value)
                while len(body) < size:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.bodies.append((lines[0].split(" ", 1)[0], len(body)))
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST

    def close(self) -> None:
        self.sock.close()


def request(port: int, host: str, method: str = "GET", path: str = "/", body: bytes = b"") -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return parse_response(data)


def upstream_status(p: Any, domain: str) -> dict[str, Any]:
    """address → UpstreamStatus of ``domain`` as the proxy reports it (what GET /api/routes shows)."""
    route = next(r for r in p.call("routes") if r.domain == domain)
    return {u.address: u for u in route.upstreams}


@pytest.fixture
def flaky_factory():
    made: list[FlakyBackend] = []

    def make(name: str) -> FlakyBackend:
        b = FlakyBackend(name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def test_a_backend_answering_503_is_ejected_then_comes_back(proxy_factory, backend_factory, flaky_factory):
    good, bad = backend_factory("good"), flaky_factory("bad")
    p = proxy_factory(workers=1, outlier_consecutive_failures=3, outlier_base_ejection=5.0)
    p.set_route("app.test", good.address, bad.address)
    assert {http_get(p.port, "app.test")[2] for _ in range(4)} == {b"good", b"bad"}
    bad.failing = True
    # Round robin: every second request meets the failing one, until its third 503 in a row ejects it.
    answers = [http_get(p.port, "app.test") for _ in range(6)]
    assert [a[0] for a in answers].count(503) == 3
    before = bad.requests
    for _ in range(10):
        status, _headers, body = http_get(p.port, "app.test")
        assert (status, body) == (200, b"good")
    assert bad.requests == before  # ejected: the other one took all traffic
    st = upstream_status(p, "app.test")
    assert st[bad.address].ejections == 1 and st[bad.address].ejected_until is not None
    assert st[good.address].ejections == 0 and st[good.address].ejected_until is None
    assert st[bad.address].healthy  # the active probes' verdict is a separate thing
    # Healthy again: after the backoff it is back in rotation and the report says so.
    bad.failing = False
    wait_until(lambda: http_get(p.port, "app.test")[2] == b"bad", timeout=30)
    assert upstream_status(p, "app.test")[bad.address].ejected_until is None
    assert "ejected for 5s after 3 consecutive failures" in p.log()


def test_the_last_upstream_is_never_ejected_out_of_a_route(proxy_factory, flaky_factory):
    only = flaky_factory("only")
    p = proxy_factory(workers=1, outlier_consecutive_failures=2, outlier_base_ejection=60.0)
    p.set_route("one.test", only.address)
    only.failing = True
    for _ in range(5):
        assert http_get(p.port, "one.test")[:3:2] == (503, b"down")  # the app's own answer, not the proxy's
    assert upstream_status(p, "one.test")[only.address].ejected_until is not None
    only.failing = False
    # Ejected for a minute, but all a route has: it keeps getting traffic, so a recovered app is seen at once.
    assert http_get(p.port, "one.test")[:3:2] == (200, b"only")


@pytest.mark.parametrize("retry", [True, False])
def test_a_refused_upstream_is_retried_on_the_other(proxy_factory, backend_factory, retry):
    good = backend_factory("good")
    p = proxy_factory(workers=1, retry_once=retry, outlier_consecutive_failures=0)
    p.set_route("app.test", f"127.0.0.1:{free_port()}", good.address)
    gets = [http_get(p.port, "app.test") for _ in range(6)]
    body = b"x" * 100_000
    posts = [request(p.port, "app.test", "POST", "/upload", body) for _ in range(6)]
    if not retry:
        assert [g[0] for g in gets].count(502) == 3 and [r[0] for r in posts].count(502) == 3
        return
    assert [(g[0], g[2]) for g in gets] == [(200, b"good")] * 6
    # Refused before a byte was sent: safe for a POST too, with its whole body.
    assert [(r[0], json.loads(r[2])["bytes"]) for r in posts] == [(200, len(body))] * 6


def test_a_path_route_retries_on_its_own_upstreams(proxy_factory, backend_factory):
    root, v1 = backend_factory("root"), backend_factory("v1")
    p = proxy_factory(workers=1, outlier_consecutive_failures=0)
    p.set_route("paths.test", root.address)
    p.set_route("paths.test", f"127.0.0.1:{free_port()}", v1.address, path_prefix="/v1")
    assert [http_get(p.port, "paths.test", "/v1/x")[:3:2] for _ in range(4)] == [(200, b"v1")] * 4
    assert http_get(p.port, "paths.test", "/other")[:3:2] == (200, b"root")
    assert root.requests == 1  # a retry stays within the route the request matched


def test_a_post_whose_bytes_were_sent_is_not_retried_but_a_get_is(proxy_factory, backend_factory):
    good, crash = backend_factory("good"), ResettingBackend()
    try:
        p = proxy_factory(workers=1, outlier_consecutive_failures=0)
        p.set_route("app.test", crash.address, good.address)
        posts = [request(p.port, "app.test", "POST", "/upload", b"pay=1") for _ in range(4)]
        assert [r[0] for r in posts] == [502, 200, 502, 200]
        assert crash.bodies == [("POST", 5), ("POST", 5)]  # the app read (and maybe acted on) each of them…
        assert good.requests == 2  # …and none went anywhere a second time
        gets = [http_get(p.port, "app.test") for _ in range(4)]
        assert [(g[0], g[2]) for g in gets] == [(200, b"good")] * 4
        assert [m for m, _ in crash.bodies].count("GET") == 2  # those that met the crash were retried
    finally:
        crash.close()


class _Clock:
    """The bits of an event loop :class:`Outliers` uses, with time moved by hand (no sleeping in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, Any, tuple[Any, ...]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn: Any, *args: Any) -> None:
        self.timers.append((when, fn, args))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, fn, args in sorted(due, key=lambda t: t[0]):
            fn(*args)


def test_repeat_ejections_double_up_to_the_cap_and_reset_after_a_quiet_spell():
    from types import SimpleNamespace

    from rivetr_proxy_builtin.outlier import Outliers
    from rivetr_proxy_builtin.routing import RouteTable
    from rivetr_proxy_builtin.settings import ProxySettings

    clock = _Clock()
    w = SimpleNamespace(loop=clock, index=0, unhealthy=frozenset(), routes=RouteTable([]))
    w.routes = RouteTable([{"domain": "a.test", "upstreams": ["10.0.0.1:80", "10.0.0.2:80"]}])
    o = Outliers(w, ProxySettings(outlier_consecutive_failures=2, outlier_base_ejection=10, outlier_max_ejection=35))  # type: ignore[arg-type]  # fmt: skip
    addr = "10.0.0.1:80"
    lengths = []
    for _ in range(4):
        o.response(addr, 503)
        o.response(addr, 200)  # a success between failures starts the count again
        o.response(addr, 503)
        assert addr not in w.unhealthy
        o.response(addr, 502)
        assert addr in w.unhealthy
        lengths.append(o.ejected[addr] - clock.now)
        clock.advance(lengths[-1])
        assert addr not in w.unhealthy
    assert lengths == [10, 20, 35, 35]
    assert o.report()[addr]["ejections"] == 4
    clock.advance(36)  # longer than outlier_max_ejection without an ejection: back to the base time
    o.response(addr, 504)
    o.response(addr, 504)
    assert o.ejected[addr] - clock.now == 10
    # Probed down, a failing address gets no traffic that could clear its count: the snapshot clears it, so the
    # responses of the others go back to the one-test path.
    o.response("10.0.0.2:80", 503)
    assert o.fails == {"10.0.0.2:80": 1}
    assert o.view(frozenset({"10.0.0.2:80"})) == {"10.0.0.1:80", "10.0.0.2:80"} and o.fails == {}
    # A snapshot without the address forgets its verdict (an engine may hand the IP to another container).
    w.routes = RouteTable([{"domain": "a.test", "upstreams": ["10.0.0.2:80"]}])
    assert o.view(frozenset()) == frozenset()


def test_each_worker_ejects_on_its_own_and_the_status_sums_them(proxy_factory, backend_factory):
    good, dead = backend_factory("good"), f"127.0.0.1:{free_port()}"
    p = proxy_factory(workers=2, outlier_consecutive_failures=2, outlier_base_ejection=300.0)
    p.set_route("two.test", dead, good.address)

    # The kernel spreads connections over the workers; each counts its own failures and ejects on its own.
    # Every request is answered by the good one (the refused attempts were retried).
    def both_ejected() -> bool:
        assert http_get(p.port, "two.test")[:3:2] == (200, b"good")
        return upstream_status(p, "two.test")[dead].ejections == 2

    wait_until(both_ejected, timeout=60)
    st = upstream_status(p, "two.test")
    assert st[dead].ejected_until is not None and st[good.address].ejections == 0
