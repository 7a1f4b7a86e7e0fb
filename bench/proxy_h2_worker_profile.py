"""Where a real proxy worker's CPU goes under h2load (not a test; a debugging aid for bench/proxy_h2_cpu.py).

    .venv/bin/python bench/proxy_h2_worker_profile.py perf     # perf record -g of the worker: by library, symbol
    .venv/bin/python bench/proxy_h2_worker_profile.py strace   # syscalls of the worker for 10 000 requests
    .venv/bin/python bench/proxy_h2_worker_profile.py python   # the worker's cProfile and GC statistics

The in-process bench (bench/proxy_h2_hotpath.py) covers the proxy's Python per request; this one starts the
checkout's proxy with one worker behind TLS (as bench/proxy_h2.py does, same nginx backend and file), warms it
up, and looks at the worker process while h2load (32 connections x 10 streams) runs: kernel, TLS, event loop
and collector included. ``python`` uses the worker's own RIVETR_PROXY_PROFILE and RIVETR_PROXY_GC_STATS hooks
and prints the top functions by own time (cProfile times are wall-clock: a syscall that yields the CPU looks
expensive there; ``perf`` counts CPU).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "proxy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_h2
import run as base


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "perf"
    if mode not in ("perf", "strace", "python"):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-h2prof-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        if mode == "python":
            os.environ["RIVETR_PROXY_GC_STATS"] = str(d / "gc")
            os.environ["RIVETR_PROXY_PROFILE"] = str(d / "cprof")
        cert = proxy_h2.make_cert(d)
        backend_port = base.free_port()
        backend = base.nginx(d, "backend", base.BACKEND.format(port=backend_port, dir=d))
        base.wait_port(backend_port)
        loop = asyncio.new_event_loop()
        proxy, port = loop.run_until_complete(proxy_h2.launch_builtin(d, backend_port, 1, cert))
        h2load = ["h2load", f"https://{base.HOST}:{port}/index.html", f"--connect-to=127.0.0.1:{port}"]
        h2load += ["-c", "32", "-m", "10", "-t", "1"]
        try:
            subprocess.run([*h2load, "-n", "2000"], capture_output=True, check=True)  # warm up
            worker = base.tree_pids(proxy.pid)[-1]
            if mode == "perf":
                load = subprocess.Popen([*h2load, "-D", "10"], stdout=subprocess.DEVNULL)
                time.sleep(1)
                data = str(d / "perf.data")
                record = [
                    "perf",
                    "record",
                    "-F",
                    "499",
                    "-g",
                    "-p",
                    str(worker),
                    "-o",
                    data,
                    "--",
                    "sleep",
                    "7",
                ]
                subprocess.run(record, capture_output=True, check=True)
                load.wait()
                for sort in ("dso", "sym"):
                    report = [
                        "perf",
                        "report",
                        "-i",
                        data,
                        "--no-children",
                        "--sort",
                        sort,
                        "--stdio",
                        "-g",
                        "none",
                    ]
                    out = subprocess.run(report, capture_output=True, text=True).stdout
                    lines = [x for x in out.splitlines() if x.strip() and not x.startswith("#")]
                    print("\n".join(lines[:25]), end="\n\n")
            elif mode == "strace":
                counts = d / "strace.txt"
                st = subprocess.Popen(["strace", "-c", "-f", "-p", str(worker), "-o", str(counts)])
                time.sleep(0.5)
                subprocess.run([*h2load, "-n", "10000"], capture_output=True, check=True)
                st.terminate()
                st.wait()
                print("syscalls of the worker for 10 000 requests:\n" + counts.read_text())
            else:
                subprocess.run([*h2load, "-n", "30000"], capture_output=True, check=True)
        finally:
            loop.run_until_complete(
                proxy.shutdown()
            )  # the worker writes its profile and GC stats as it exits
            backend.terminate()
            backend.wait()
            loop.close()
        if mode == "python":
            for f in glob.glob(f"{d}/gc.*.json"):
                gens = json.loads(Path(f).read_text())["generations"]
                print("GC collections per generation:", [g["collections"] for g in gens])
                print("GC pause total ms per generation:", [round(g["total_ms"], 1) for g in gens])
            for f in glob.glob(f"{d}/cprof.*"):
                pstats.Stats(f).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
