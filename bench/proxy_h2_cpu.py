"""Benchmark: worker CPU per HTTP/2 request, two versions of proxy-builtin side by side (not a test).

    .venv/bin/python bench/proxy_h2_cpu.py [--base HEAD] [--overlay FILE ...] [-n 100000] [--rounds 3]

req/s on this shared 2-core machine drifts by +-50% between runs, so a change to the HTTP/2 path is judged by
the CPU time the proxy processes spend on a fixed number of requests (h2load ``-n``, 32 connections x 10
streams, same nginx backend as bench/proxy_h2.py), for both versions in the same run, interleaved round by
round:

- ``base``: the proxy package as committed at ``--base`` (``git archive``), started with that copy first on
  PYTHONPATH;
- ``new``: the same copy with the ``--overlay`` files (default: the working tree's h2conn.py, alpn.py, hpack_memo.py, h2out.py and h2in.py) put
  over it, so only the files under test differ (others' uncommitted work in the checkout stays out).

Prints CPU microseconds per request (user+system of the master and its workers) per round, and the ratio of
the medians. ``--profile SECONDS`` also records the ``new`` worker with py-spy (``--pyspy PATH``) while h2load
runs, as collapsed stacks (py-spy ``--format raw``) in /tmp/h2prof-<time>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "proxy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_h2
import run as base

ROOT = Path(__file__).resolve().parent.parent
PKG = "plugins/proxy-builtin/src"
DEFAULT_OVERLAY = [
    f"{PKG}/rivetr_proxy_builtin/{m}.py" for m in ("h2conn", "alpn", "hpack_memo", "h2out", "h2in")
]


def snapshot(rev: str, dest: Path, overlay: list[str]) -> Path:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, PKG], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    for f in overlay:
        if (ROOT / f).exists():  # the default list names modules that may not exist yet
            shutil.copyfile(ROOT / f, dest / f)
    return dest / PKG


async def launch(d: Path, backend: int, cert: tuple[str, str]) -> tuple[Any, int]:
    return await proxy_h2.launch_builtin(d, backend, 1, cert)


def h2load_n(port: int, n: int, connections: int, streams: int) -> tuple[float, int]:
    out = subprocess.run(
        [
            "h2load",
            f"https://{base.HOST}:{port}/index.html",
            f"--connect-to=127.0.0.1:{port}",
            "-n",
            str(n),
            "-c",
            str(connections),
            "-m",
            str(streams),
            "-t",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    ok = 0
    rps = 0.0
    for line in out.splitlines():
        if line.startswith("requests:"):
            ok = int(line.split(",")[3].split()[0])  # "... N succeeded"
        if line.startswith("finished in"):
            rps = float(line.split(",")[1].split()[0])
    return rps, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="git revision of the baseline")
    ap.add_argument("--overlay", nargs="*", default=DEFAULT_OVERLAY, help="working-tree files of 'new'")
    ap.add_argument("-n", type=int, default=100_000, help="requests per measurement")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", type=int, default=0, help="py-spy the 'new' worker for this many seconds")
    ap.add_argument("--pyspy", default=shutil.which("py-spy") or "py-spy")
    args = ap.parse_args()
    cpu: dict[str, list[float]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-h2cpu-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        cert = proxy_h2.make_cert(d)
        paths = {
            "base": snapshot(args.base, d / "base", []),
            "new": snapshot(args.base, d / "new", args.overlay),
        }
        backend_port = base.free_port()
        backend = base.nginx(d, "backend", base.BACKEND.format(port=backend_port, dir=d))
        base.wait_port(backend_port)
        loop = asyncio.new_event_loop()
        old_pp = os.environ.get("PYTHONPATH")
        try:
            for rnd in range(args.rounds):
                for name in ("base", "new") if rnd % 2 == 0 else ("new", "base"):
                    os.environ["PYTHONPATH"] = str(paths[name])
                    proxy, port = loop.run_until_complete(launch(d / f"{name}{rnd}", backend_port, cert))
                    try:
                        h2load_n(port, 2000, args.connections, args.streams)  # warm up: h2 import, pools
                        pids = base.tree_pids(proxy.pid)
                        cpu0 = base.cpu_seconds(pids)
                        rps, ok = h2load_n(port, args.n, args.connections, args.streams)
                        used = base.cpu_seconds(pids) - cpu0
                        us = used / max(ok, 1) * 1e6
                        cpu[name].append(us)
                        print(
                            f"round {rnd + 1} {name:>4}: {us:6.1f} us CPU/request  {rps:8.0f} req/s  "
                            f"{ok}/{args.n} ok",
                            flush=True,
                        )
                        if args.profile and name == "new" and rnd == 0:
                            profile(args, port, pids[1:] or pids)
                    finally:
                        loop.run_until_complete(proxy.shutdown())
        finally:
            if old_pp is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old_pp
            backend.terminate()
            backend.wait()
            loop.close()
    b, n = statistics.median(cpu["base"]), statistics.median(cpu["new"])
    print(f"\nmedian CPU/request: base {b:.1f} us, new {n:.1f} us: new/base = {n / b:.2f}")


def profile(args: Any, port: int, workers: list[int]) -> None:
    worker = workers[-1]
    out = Path(f"/tmp/h2prof-{int(time.time())}")
    load = subprocess.Popen(
        [
            "h2load",
            f"https://{base.HOST}:{port}/index.html",
            f"--connect-to=127.0.0.1:{port}",
            "-D",
            str(args.profile + 2),
            "-c",
            str(args.connections),
            "-m",
            str(args.streams),
            "-t",
            "1",
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1)
    record = [args.pyspy, "record", "-p", str(worker), "-d", str(args.profile), "-r", "200"]
    subprocess.run([*record, "-f", "raw", "-o", f"{out}.txt", "--nonblocking"], capture_output=True)
    load.wait()
    print(f"profile: {out}.txt (py-spy raw: collapsed stacks)")


if __name__ == "__main__":
    main()
