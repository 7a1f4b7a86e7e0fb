"""Benchmark: the cost of the access log, proxy-builtin vs nginx, in the same run (not a test).

    .venv/bin/python bench/proxy/access_log.py [--duration 8] [--connections 32,256] [--rounds 2]

The same backend and wrk load as ``bench/proxy/run.py``, one proxy worker each, four configurations: nginx with
``access_log off`` and with ``access_log ... combined buffer=64k flush=1s`` (the same buffering policy as the
built-in proxy's), proxy-builtin with ``access_log`` off and on (JSON lines). Rounds are interleaved and the best
round counts. Printed: req/s and p99 of each, then builtin/nginx ratios with the log off and on, and each
proxy's own on/off ratio (what turning the log on costs it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as base  # (bench/proxy/run.py: backend, nginx and wrk helpers)

NGINX_LOGGED = base.NGINX_PROXY.replace(
    "location / {{", "access_log {dir}/nginx-access.log combined buffer=64k flush=1s;\n    location / {{"
)


async def start_builtin(dir: Path, backend: int, access_log: bool) -> tuple[Any, int]:
    from rivetr_proxy_builtin.backend import BuiltinProxy
    from rivetr_proxy_builtin.settings import ProxySettings

    from rivetr_core.contract import Route

    settings = ProxySettings(
        host="127.0.0.1", port=base.free_port(), https_port=None, workers=1, health_interval=30,
        access_log=access_log,
    )  # fmt: skip
    proxy = BuiltinProxy(settings, dir / f"builtin-{'on' if access_log else 'off'}")
    await proxy.start()
    await proxy.set_route(Route(base.HOST, [f"127.0.0.1:{backend}"]))
    return proxy, int(proxy.port or 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", default="32,256")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    results: dict[str, dict[int, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-log-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        backend_port = base.free_port()
        backend = base.nginx(d, "backend", base.BACKEND.format(port=backend_port, dir=d))
        base.wait_port(backend_port)
        loop = asyncio.new_event_loop()

        def start_nginx(logged: bool) -> Any:
            def start() -> tuple[int, list[int], object]:
                port = base.free_port()
                body = (NGINX_LOGGED if logged else base.NGINX_PROXY).format(
                    port=port, backend=backend_port, host=base.HOST, dir=d
                )
                p = base.nginx(d, "proxy", body)
                base.wait_port(port)
                return port, base.tree_pids(p.pid), p

            return start

        def start_builtin_cfg(logged: bool) -> Any:
            def start() -> tuple[int, list[int], object]:
                proxy, port = loop.run_until_complete(start_builtin(d, backend_port, logged))
                return port, base.tree_pids(proxy.pid), proxy

            return start

        configs = [
            ("nginx-off", start_nginx(False)),
            ("nginx-on", start_nginx(True)),
            ("builtin-off", start_builtin_cfg(False)),
            ("builtin-on", start_builtin_cfg(True)),
        ]
        try:
            for rnd in range(args.rounds):
                for name, start in configs:
                    port, _pids, handle = start()
                    try:
                        base.check(port)
                        base.wrk(port, conns[0], 2)
                        for c in conns:
                            r = base.wrk(port, c, args.duration)
                            best = results.setdefault(name, {}).get(c)
                            if best is None or r["rps"] > best["rps"]:
                                results[name][c] = r
                            print(
                                f"[{rnd + 1}] {name:>11} c={c:<4} {r['rps']:>9.0f} req/s  p50 {r['p50']:7.2f} ms  "
                                f"p99 {r['p99']:7.2f} ms  errors {r['errors']:.0f}",
                                flush=True,
                            )
                    finally:
                        if hasattr(handle, "terminate"):
                            handle.terminate()  # type: ignore[attr-defined]
                            handle.wait()  # type: ignore[attr-defined]
                        else:
                            loop.run_until_complete(handle.shutdown())  # type: ignore[attr-defined]
            logged = sum(1 for _ in (d / "builtin-on").glob("access-*.log"))
            print(f"\nproxy-builtin wrote {logged} access-log file(s) in {d / 'builtin-on'}")
        finally:
            backend.terminate()
            backend.wait()
            loop.close()
    print("\nratios (best round):")
    for c in conns:
        off = results["builtin-off"][c]["rps"] / results["nginx-off"][c]["rps"]
        on = results["builtin-on"][c]["rps"] / results["nginx-on"][c]["rps"]
        p99_on = results["builtin-on"][c]["p99"] / results["nginx-on"][c]["p99"]
        own = results["builtin-on"][c]["rps"] / results["builtin-off"][c]["rps"]
        ngx = results["nginx-on"][c]["rps"] / results["nginx-off"][c]["rps"]
        print(
            f"c={c:<4} log off: {off:.2f}x nginx req/s   log on: {on:.2f}x nginx req/s (p99 {p99_on:.2f}x)   "
            f"on/off: builtin {own:.2f}, nginx {ngx:.2f}"
        )


if __name__ == "__main__":
    main()
