"""CPU time per proxied request in the builtin proxy's Python code, in-process, with fake transports.

No sockets, no event-loop I/O: a request is fed to a ``ClientConn`` the way uvloop would, it takes a pooled
``UpstreamConn`` (whose fake transport records the forwarded head), the response is fed to that connection and
leaves through the client's fake transport. What is timed (``process_time``) is exactly the per-request work of
the client protocol, the upstream protocol and the pool: the part a refactoring must not slow down.

    .venv/bin/python bench/proxy_hotpath.py                          # this checkout
    .venv/bin/python bench/proxy_hotpath.py --against /tmp/old/plugins/proxy-builtin/src

``--against SRC`` runs this checkout and the proxy package under SRC in alternating child processes (the machine
is shared: interleaving spreads load changes over both) and prints each case's best and median µs/request
and the ratio new/old.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "plugins" / "proxy-builtin" / "src"

WRK = b"GET /index.html HTTP/1.1\r\nHost: app.test\r\n\r\n"
BROWSER = (
    b"GET /assets/app.js?v=3 HTTP/1.1\r\nHost: app.test\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://app.test/\r\nCookie: session=0123456789abcdef; theme=dark\r\n"
    b"Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\nPriority: u=0, i\r\n\r\n"
)
POST = b'POST /api HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a": 123}\n'
BODY = b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n"
# nginx's answer shape: the fast path (one complete Content-Length response, no parser).
RESP_WHOLE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 06 Dec 2026 00:00:00 GMT\r\nContent-Type: text/html\r\n"
    b'Content-Length: %d\r\nConnection: keep-alive\r\nETag: "6751"\r\nAccept-Ranges: bytes\r\n\r\n%s'
    % (len(BODY), BODY)
)
# A chunked answer: the parser path.
RESP_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
    % (len(BODY), BODY)
)
CASES = {
    "wrk": (WRK, RESP_WHOLE),
    "browser": (BROWSER, RESP_WHOLE),
    "chunked": (WRK, RESP_CHUNKED),
    "post": (POST, RESP_WHOLE),
}


class FakeTransport:
    """What the protocols use of a uvloop transport; writes are counted, not kept."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written = 0
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, lines: Any) -> None:
        for chunk in lines:
            self.written += len(chunk)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        raise AssertionError("a connection closed during the benchmark")

    def abort(self) -> None:
        raise AssertionError("a connection aborted during the benchmark")


def _classes() -> tuple[Any, Any, Any, Any, Any]:
    from rivetr_proxy_builtin.routing import Upstream
    from rivetr_proxy_builtin.settings import ProxySettings

    try:  # the package split into modules
        from rivetr_proxy_builtin.client import ClientConn
        from rivetr_proxy_builtin.upstream import UpstreamConn
    except ImportError:  # one worker.py
        from rivetr_proxy_builtin.worker import ClientConn, UpstreamConn  # type: ignore[no-redef]
    from rivetr_proxy_builtin.worker import Worker

    return ClientConn, UpstreamConn, Worker, Upstream, ProxySettings


async def measure(n: int, rounds: int) -> dict[str, list[float]]:
    client_cls, upstream_cls, worker_cls, upstream, settings_cls = _classes()
    w = worker_cls(settings_cls())
    addr = "127.0.0.1:9"
    w.apply_state({"routes": [{"domain": "app.test", "upstreams": [addr]}]})
    out: dict[str, list[float]] = {}
    for name, (request, response) in CASES.items():
        client = client_cls(w)
        client.connection_made(FakeTransport(("10.0.0.1", 40000)))
        up = upstream_cls(w, upstream(addr))
        up.connection_made(FakeTransport(("127.0.0.1", 9)))
        w.pool_put(up)
        feed_client, feed_upstream = client.data_received, up.data_received
        for _ in range(2000):  # warm up: caches, specialisation
            feed_client(request)
            feed_upstream(response)
        assert client.t.written and up.t.written and w.pool[addr] == [up], "the exchange did not complete"
        times = []
        for _ in range(rounds):
            gc.collect()
            t0 = time.process_time()
            for _ in range(n):
                feed_client(request)
                feed_upstream(response)
            times.append((time.process_time() - t0) / n * 1e6)
        out[name] = times
        w.pool.clear()
        w.clients.discard(client)
    return out


def child(n: int, rounds: int) -> None:
    import rivetr_proxy_builtin

    result = asyncio.run(measure(n, rounds))
    print(json.dumps({"src": str(Path(rivetr_proxy_builtin.__file__).parent), "us": result}))


def run_child(src: Path, n: int, rounds: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, __file__, "--child", "-n", str(n), "--rounds", str(rounds)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    if not result["src"].startswith(str(src)):
        raise SystemExit(f"imported {result['src']}, not the package under {src}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20000, help="requests per timed round")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per process (the best counts)")
    ap.add_argument("--runs", type=int, default=5, help="processes per side with --against")
    ap.add_argument("--against", type=Path, help="the other proxy package's src dir (the old code)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.rounds)
        return
    sides = {"new": SRC} if args.against is None else {"old": args.against.resolve(), "new": SRC}
    best: dict[str, dict[str, list[float]]] = {side: {c: [] for c in CASES} for side in sides}
    for i in range(args.runs if args.against else 1):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))  # alternate who goes first
        for side in order:
            res = run_child(sides[side], args.n, args.rounds)
            for case, times in res["us"].items():
                best[side][case].append(min(times))
    print(f"{'case':10} " + " ".join(f"{s + ' best':>9} {s + ' median':>11}" for s in sides) + "  new/old")
    for case in CASES:
        cols = []
        for side in sides:
            vals = best[side][case]
            cols.append(f"{min(vals):9.2f} {statistics.median(vals):11.2f}")
        ratio = ""
        if "old" in sides:
            old, new = statistics.median(best["old"][case]), statistics.median(best["new"][case])
            ratio = f"  {new / old:.3f} (best {min(best['new'][case]) / min(best['old'][case]):.3f})"
        print(f"{case:10} " + " ".join(cols) + ratio)
    print("µs of CPU per request (process_time), best of each process's rounds; medians over processes")


if __name__ == "__main__":
    main()
