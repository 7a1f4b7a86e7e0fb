"""Benchmark: HTTP/2 over TLS, proxy-builtin vs nginx (HTTP/2 on) vs Caddy, same backend (not a test).

    .venv/bin/python bench/proxy_h2.py [--duration 10] [--connections 32] [--streams 10] [--workers 1]

One run starts the backend of bench/proxy/run.py (nginx serving a small file over HTTP/1.1), then puts each
TLS-terminating proxy in front of it in turn, all with the same EC P-256 certificate for ``bench.test``, and
drives each with h2load (``-c connections -m streams``, TLS 1.3, ALPN h2). Each proxy talks HTTP/1.1 to the
backend with keep-alive. p50/p99 come from h2load's per-request log. Absolute numbers drift between runs on a
small machine: compare the ratios printed at the end (targets: >= 0.6x nginx req/s, >= 1.5x Caddy req/s,
p99 <= 2x nginx).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "proxy"))
import run as base

HOST = base.HOST

NGINX_H2 = (
    base.NGINX_UPSTREAM
    + """  server {{
    listen 127.0.0.1:{port} ssl http2 backlog=4096;  # "http2 on;" from nginx 1.25.1; Debian 12 has 1.22
    http2_max_concurrent_streams 128;
    server_name {host};
    ssl_certificate {dir}/bench.crt;
    ssl_certificate_key {dir}/bench.key;"""
    + base.NGINX_LOCATION
    + "  }}\n"
)

CADDYFILE_H2 = """
{{
  admin off
  auto_https disable_redirects
  log {{
    output discard
  }}
}}
https://{host}:{port} {{
  bind 127.0.0.1
  tls {dir}/bench.crt {dir}/bench.key
  reverse_proxy 127.0.0.1:{backend}
}}
"""


def make_cert(d: Path) -> tuple[str, str]:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(d / "bench.key"),
            "-out",
            str(d / "bench.crt"),
            "-days",
            "2",
            "-subj",
            f"/CN={HOST}",
            "-addext",
            f"subjectAltName=DNS:{HOST}",
        ],
        check=True,
        capture_output=True,
    )
    (d / "bench.key").chmod(0o644)  # nginx reads it as root here; the temp dir is private
    return (d / "bench.crt").read_text(), (d / "bench.key").read_text()


def h2load(port: int, connections: int, streams: int, duration: int, log: Path) -> dict[str, float]:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "h2load",
            f"https://{HOST}:{port}/index.html",
            f"--connect-to=127.0.0.1:{port}",
            "-c",
            str(connections),
            "-m",
            str(streams),
            "-t",
            str(threads),
            "-D",
            str(duration),
            "--warm-up-time=1",
            f"--log-file={log}",
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    ).stdout
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    req = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out
    )
    proto = re.search(r"Application protocol: (\S+)", out)
    if m is None or req is None:
        raise RuntimeError(f"h2load output not understood:\n{out}")
    lat = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t") >= 2)
    log.unlink()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] / 1000.0 if lat else 0.0

    return {
        "rps": float(m.group(1)),
        "p50": pct(0.50),
        "p99": pct(0.99),
        "errors": int(req.group(4)) + int(req.group(5)),
        "h2": 1.0 if proto is not None and proto.group(1) == "h2" else 0.0,
    }


async def launch_builtin(
    d: Path, backend: int, workers: int, cert: tuple[str, str], upstream_protocol: str = "http1"
) -> tuple[Any, int]:
    """The built-in proxy on free ports with one TLS route to ``backend`` (``h2c``: an HTTP/2 upstream)."""
    from rivetr_proxy_builtin.backend import BuiltinProxy
    from rivetr_proxy_builtin.settings import ProxySettings

    from rivetr_core.contract import Route

    settings = ProxySettings(
        host="127.0.0.1",
        port=base.free_port(),
        https_port=base.free_port(),
        workers=workers,
        health_interval=30,
    )
    proxy = BuiltinProxy(settings, d / f"builtin-h2-{upstream_protocol}-{workers}")
    await proxy.start()
    await proxy.set_route(Route(HOST, [f"127.0.0.1:{backend}"], upstream_protocol=upstream_protocol))
    await proxy.set_certificate(HOST, *cert)
    assert proxy.https_port is not None
    return proxy, proxy.https_port


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1, help="proxy-builtin workers (nginx runs 1 worker)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best round counts")
    args = ap.parse_args()
    for tool in ("nginx", "h2load", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install -y nginx-light nghttp2-client caddy)")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-h2-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        cert = make_cert(d)
        backend_port = base.free_port()
        backend = base.nginx(d, "backend", base.BACKEND.format(port=backend_port, dir=d))
        base.wait_port(backend_port)
        loop = asyncio.new_event_loop()

        def start_nginx() -> tuple[int, list[int], Any]:
            port = base.free_port()
            p = base.nginx(d, "proxy", NGINX_H2.format(port=port, backend=backend_port, host=HOST, dir=d))
            base.wait_port(port)
            return port, base.with_children(p.pid), p  # the worker too, not only the master (0 µs otherwise)

        def start_caddy() -> tuple[int, list[int], Any]:
            port = base.free_port()
            (d / "Caddyfile").write_text(
                CADDYFILE_H2.format(port=port, backend=backend_port, host=HOST, dir=d)
            )
            env = {**os.environ, "HOME": str(d), "XDG_DATA_HOME": str(d), "XDG_CONFIG_HOME": str(d)}
            p = subprocess.Popen(
                ["caddy", "run", "--config", str(d / "Caddyfile"), "--adapter", "caddyfile"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            base.wait_port(port)
            return port, [p.pid], p

        def start_builtin() -> tuple[int, list[int], Any]:
            proxy, port = loop.run_until_complete(launch_builtin(d, backend_port, args.workers, cert))
            return port, base.tree_pids(proxy.pid), proxy

        def stop(handle: Any) -> None:
            if isinstance(handle, subprocess.Popen):
                handle.terminate()
                handle.wait()
            else:
                loop.run_until_complete(handle.shutdown())

        configs = [("nginx", start_nginx)]
        if shutil.which("caddy"):
            configs.append(("caddy", start_caddy))
        configs.append((f"builtin-{args.workers}", start_builtin))
        try:
            for rnd in range(args.rounds):
                for name, start in configs:
                    port, pids, handle = start()
                    try:
                        time.sleep(0.3)
                        cpu0 = base.cpu_seconds(pids)
                        r = h2load(port, args.connections, args.streams, args.duration, d / "h2load.log")
                        cpu = base.cpu_seconds(pids) - cpu0
                        r["cpu_us"] = cpu / max(1.0, r["rps"] * (args.duration + 1)) * 1e6
                        print(
                            f"round {rnd + 1} {name:>10}: {r['rps']:>9.0f} req/s  p50 {r['p50']:.2f} ms  "
                            f"p99 {r['p99']:.2f} ms  errors {r['errors']:.0f}  h2 {'yes' if r['h2'] else 'NO'}  "
                            f"cpu/req {r['cpu_us']:.1f} us",
                            flush=True,
                        )
                        if name not in results or r["rps"] > results[name]["rps"]:
                            results[name] = r
                    finally:
                        stop(handle)
        finally:
            backend.terminate()
            backend.wait()
            loop.close()
    nginx_r, caddy_r = results.get("nginx"), results.get("caddy")
    name = f"builtin-{args.workers}"
    mine = results[name]
    print(f"\nratios ({args.connections} connections x {args.streams} streams, HTTP/2 over TLS):")
    if nginx_r:
        print(
            f"  {name}: {mine['rps'] / nginx_r['rps']:.2f}x nginx req/s (target >= 0.6), "
            f"p99 {mine['p99'] / max(nginx_r['p99'], 1e-9):.2f}x nginx (target <= 2)"
        )
    if caddy_r:
        print(f"  {name}: {mine['rps'] / caddy_r['rps']:.2f}x caddy req/s (target >= 1.5)")


if __name__ == "__main__":
    main()
