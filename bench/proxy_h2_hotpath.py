"""CPU time per HTTP/2 request in the builtin proxy's Python code, in-process, with fake transports.

The HTTP/2 twin of bench/proxy_hotpath.py. An h2 client (made once, before timing) writes the frames of
batches of ``--streams`` GET requests on one connection, as h2load -m does; each batch is fed to an
:class:`H2Conn` the way uvloop would (one ``data_received``), every stream takes a pooled ``UpstreamConn``
(fake transport), nginx's answer is fed to each of those, and the event loop turns once so the connection
writes its frames to its fake transport. What is timed (``process_time``) is exactly the proxy's per-request
work for HTTP/2 (h2 state machine, HPACK, the stream and the upstream side), none of the client's.

    .venv/bin/python bench/proxy_h2_hotpath.py                          # this checkout
    .venv/bin/python bench/proxy_h2_hotpath.py --against /tmp/old/plugins/proxy-builtin/src
    .venv/bin/python bench/proxy_h2_hotpath.py --profile               # cProfile, top functions

``--against SRC`` alternates child processes of this checkout and the package under SRC (interleaved: the
machine is shared) and prints each case's best and median µs/request and the ratio new/old.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_hotpath import RESP_CHUNKED, RESP_WHOLE, FakeTransport

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "plugins" / "proxy-builtin" / "src"

H2LOAD = [
    (b":method", b"GET"),
    (b":path", b"/index.html"),
    (b":scheme", b"https"),
    (b":authority", b"app.test"),
]
BROWSER = [
    (b":method", b"GET"),
    (b":path", b"/assets/app.js?v=3"),
    (b":scheme", b"https"),
    (b":authority", b"app.test"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"referer", b"https://app.test/"),
    (b"cookie", b"session=0123456789abcdef"),
    (b"cookie", b"theme=dark"),
    (b"sec-fetch-dest", b"script"),
    (b"sec-fetch-mode", b"no-cors"),
    (b"priority", b"u=1"),
]
CASES = {
    "h2load": (H2LOAD, RESP_WHOLE),
    "browser": (BROWSER, RESP_WHOLE),
    "chunked": (H2LOAD, RESP_CHUNKED),
    "chrome": (BROWSER, RESP_WHOLE),  # the browser-like request with priority in its HEADERS, as Chrome sends
}
PRIORITY = {"chrome"}


class H2Transport(FakeTransport):
    """A fake TLS transport for H2Conn (it also asks for the write buffer's size); keeps the first write (the
    server's preface, for the client)."""

    first = b""

    def write(self, data: bytes) -> None:
        if not self.written:
            self.first = data
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


def client_batches(
    server_preface: bytes, headers: list[Any], batches: int, streams: int, priority: bool = False
) -> list[bytes]:
    """Frames of ``batches`` x ``streams`` requests from an h2 client, one bytes per batch; the first batch
    also carries the connection preface, the SETTINGS ack and a connection window big enough for all."""
    import h2.config
    import h2.connection

    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    c.receive_data(server_preface)
    c.increment_flow_control_window(2**31 - 1 - 65535)
    out = []
    for _ in range(batches):
        for _ in range(streams):
            sid = c.get_next_available_stream_id()
            if priority:
                c.send_headers(sid, headers, end_stream=True, priority_weight=256, priority_exclusive=True)
            else:
                c.send_headers(sid, headers, end_stream=True)
        out.append(c.data_to_send())
        c.streams.clear()  # never answered here: forget them, or the client runs out of concurrent streams
    return out


async def drive(conn: Any, frames: list[bytes], response: bytes, k: int, pos: int) -> int:
    """Feed ``k`` batches from ``frames[pos]`` on; every stream's upstream answers ``response``."""
    feed = conn.data_received
    sleep = asyncio.sleep
    for _ in range(k):
        feed(frames[pos])
        pos += 1
        for s in list(conn.streams.values()):
            s.ex.up.data_received(response)
        await sleep(0)  # the connection's _send (call_soon)
    return pos


async def measure(n: int, rounds: int, streams: int, profile: bool) -> dict[str, list[float]]:
    from rivetr_proxy_builtin.h2conn import H2Conn
    from rivetr_proxy_builtin.routing import Upstream
    from rivetr_proxy_builtin.settings import ProxySettings
    from rivetr_proxy_builtin.upstream import UpstreamConn
    from rivetr_proxy_builtin.worker import Worker

    w = Worker(ProxySettings())
    addr = "127.0.0.1:9"
    w.apply_state({"routes": [{"domain": "app.test", "upstreams": [addr]}]})
    for _ in range(streams):
        up = UpstreamConn(w, Upstream(addr))
        up.connection_made(FakeTransport(("127.0.0.1", 9)))  # type: ignore[arg-type]
        w.pool_put(up)
    batches_per_round = max(1, n // streams)
    out: dict[str, list[float]] = {}
    only = os.environ.get("CASES", "").split(",") if os.environ.get("CASES") else None
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    for name, (headers, response) in CASES.items():
        if only and name not in only:
            continue
        conn = H2Conn(w)
        t = H2Transport(("10.0.0.1", 40000))
        conn.connection_made(t)  # type: ignore[arg-type]
        preface = t.first
        warm = 200
        frames = client_batches(
            preface, headers, warm + batches_per_round * rounds, streams, name in PRIORITY
        )
        pos = 0
        pos = await drive(conn, frames, response, warm, pos)  # warm up: caches, specialisation, HPACK tables
        assert t.written and not conn.streams and not conn.closing, "the exchanges did not complete"
        times = []
        for _ in range(rounds):
            gc.collect()
            if prof is not None:
                prof.enable()
            t0 = time.process_time()
            pos = await drive(conn, frames, response, batches_per_round, pos)
            times.append((time.process_time() - t0) / (batches_per_round * streams) * 1e6)
            if prof is not None:
                prof.disable()
        assert not conn.streams and not conn.closing
        out[name] = times
        w.clients.discard(conn)  # type: ignore[arg-type]
    if prof is not None:
        import pstats

        pstats.Stats(prof, stream=sys.stderr).sort_stats(os.environ.get("SORT", "tottime")).print_stats(
            int(os.environ.get("TOP", "35"))
        )
    return out


def child(n: int, rounds: int, streams: int, profile: bool) -> None:
    import rivetr_proxy_builtin

    result = asyncio.run(measure(n, rounds, streams, profile))
    print(json.dumps({"src": str(Path(rivetr_proxy_builtin.__file__).parent), "us": result}))


def run_child(src: Path, args: Any) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, __file__, "--child", "-n", str(args.n), "--rounds", str(args.rounds)]
    cmd += ["--streams", str(args.streams)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    if not result["src"].startswith(str(src)):
        raise SystemExit(f"imported {result['src']}, not the package under {src}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20000, help="requests per timed round")
    ap.add_argument("--streams", type=int, default=10, help="requests per batch (h2load -m)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per process (the best counts)")
    ap.add_argument("--runs", type=int, default=5, help="processes per side with --against")
    ap.add_argument("--against", type=Path, help="the other proxy package's src dir (the old code)")
    ap.add_argument("--profile", action="store_true", help="cProfile this checkout, print the top functions")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child or args.profile:
        if args.profile:
            sys.path.insert(0, str(SRC))
        child(args.n, args.rounds, args.streams, args.profile)
        return
    sides = {"new": SRC} if args.against is None else {"old": args.against.resolve(), "new": SRC}
    best: dict[str, dict[str, list[float]]] = {side: {c: [] for c in CASES} for side in sides}
    for i in range(args.runs if args.against else 1):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for side in order:
            res = run_child(sides[side], args)
            for case, times in res["us"].items():
                best[side][case].append(min(times))
    print(f"{'case':10} " + " ".join(f"{s + ' best':>9} {s + ' median':>11}" for s in sides) + "  new/old")
    for case in CASES:
        if not best[next(iter(sides))][case]:
            continue  # left out with CASES=...
        cols = []
        for side in sides:
            vals = best[side][case]
            cols.append(f"{min(vals):9.2f} {statistics.median(vals):11.2f}")
        ratio = ""
        if "old" in sides:
            old, new = statistics.median(best["old"][case]), statistics.median(best["new"][case])
            ratio = f"  {new / old:.3f} (best {min(best['new'][case]) / min(best['old'][case]):.3f})"
        print(f"{case:10} " + " ".join(cols) + ratio)
    print(
        "µs of CPU per HTTP/2 request (process_time), best of each process's rounds; medians over processes"
    )


if __name__ == "__main__":
    main()
