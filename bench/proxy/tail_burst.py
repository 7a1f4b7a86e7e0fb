"""Where the HTTP/1.1 tail at 256 connections comes from: the first run on fresh connections, or every run.

    .venv/bin/python bench/proxy/tail_burst.py [--runs 3] [--duration 5] [--pin] [--only nginx,builtin-1]

run.py warms each proxy up at its first connection count (32), so its 256-connection point starts with 224
client connections the proxy has never seen and, for the builtin proxy, 224 upstream connections still to make.
Here each proxy gets the same warm-up, then ``--runs`` back-to-back wrk runs at 256 connections (a new set of
client connections each run, wrk's own), and the tail of each run is printed: a stall that shows in the first
run only is the connection burst; one in every run is the proxy's steady state. ``runqueue wait`` is how long per
second the proxy's processes were ready to run but had no CPU (from /proc schedstat): the scheduler's share of
the tail. With ``RIVETR_PROXY_GC_STATS``
set the builtin workers also report their collector pauses (see rivetr_proxy_builtin.gcstats).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as base


def listen_overflows() -> int:
    """The machine's count of connections dropped from a full accept queue (TcpExt ListenOverflows): a client
    whose handshake completed but was not accepted in time waits for a retransmission (~1 s)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=False))["ListenOverflows"])
    return -1


def runq_wait(pids: list[int]) -> float:
    """Seconds the processes' threads spent runnable but waiting for a CPU (/proc/PID/task/TID/schedstat, second
    field): the time the scheduler gave their core to something else while they had work."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--pin", action="store_true", help="wrk and the backend on CPU 0, the proxy on the others"
    )
    ap.add_argument("--only", default="nginx,builtin")
    args = ap.parse_args()
    if args.pin:
        base.PIN.update(load="0", proxy=f"1-{(os.cpu_count() or 2) - 1}")
    only = args.only.split(",")
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        backend_port = base.free_port()
        backend = base.nginx(d, "backend", base.BACKEND.format(port=backend_port, dir=d))
        base.wait_port(backend_port)
        if base.PIN:
            base.pin(base.tree_pids(backend.pid), base.PIN["load"])
        loop = asyncio.new_event_loop()
        try:
            for name in only:
                if name == "nginx":
                    port = base.free_port()
                    p = base.nginx(
                        d, "proxy", base.NGINX_PROXY.format(port=port, backend=backend_port, host=base.HOST)
                    )
                    base.wait_port(port)
                    pids, handle = base.with_children(p.pid), p  # type: ignore[assignment]
                else:
                    proxy, port = loop.run_until_complete(base.start_builtin(d, backend_port, args.workers))
                    pids, handle = base.tree_pids(proxy.pid), proxy  # type: ignore[attr-defined,assignment]
                if base.PIN:
                    base.pin(pids, base.PIN["proxy"])
                try:
                    base.check(port)
                    base.wrk(port, 32, 2)  # run.py's warm-up
                    for i in range(args.runs):
                        cpu0 = base.cpu_seconds(pids)
                        over0 = listen_overflows()
                        wait0 = runq_wait(pids)
                        r = base.wrk(port, args.connections, args.duration)
                        over = listen_overflows() - over0
                        wait = (runq_wait(pids) - wait0) / args.duration * 1000
                        cpu = (base.cpu_seconds(pids) - cpu0) / max(1.0, r["rps"] * args.duration) * 1e6
                        print(
                            f"{name:>8} run {i + 1} c={args.connections} {r['rps']:8.0f} req/s  p50 {r['p50']:7.2f}"
                            f"  p99 {r['p99']:7.2f}  p99.9 {r['p99.9']:7.2f}  max {r['max']:7.2f} ms"
                            f"  cpu {cpu:5.1f} us/req  runqueue wait {wait:5.1f} ms/s  listen overflows {over}"
                            f"  load {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
                finally:
                    if name == "nginx":
                        handle.terminate()  # type: ignore[attr-defined]
                        handle.wait()  # type: ignore[attr-defined]
                    else:
                        loop.run_until_complete(handle.shutdown())  # type: ignore[attr-defined]
        finally:
            backend.terminate()
            backend.wait()


if __name__ == "__main__":
    main()
