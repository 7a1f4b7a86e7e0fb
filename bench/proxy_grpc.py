"""Benchmark: HTTP/2 over TLS to an h2c upstream (the gRPC passthrough path), proxy-builtin vs nginx ``grpc_pass``
(not a test).

    .venv/bin/python bench/proxy_grpc.py [--duration 10] [--connections 16] [--streams 10] [--rounds 2]

One run starts ``nghttpd --no-tls`` (Debian's nghttp2-server: HTTP/2 cleartext with prior knowledge, as gRPC
servers listen) serving a small file, then puts each TLS-terminating proxy in front of it in turn with the same
certificate: nginx with ``grpc_pass grpc://`` (its HTTP/2 upstream module) and proxy-builtin with a route whose
``upstream_protocol`` is ``h2c``. h2load drives each (``-c connections -m streams``, ALPN h2) as in
bench/proxy_h2.py. Absolute numbers drift between runs on a small machine: compare the ratios at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
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

HOST = base.HOST

NGINX_GRPC = """  upstream h2app {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl http2 backlog=4096;
    http2_max_concurrent_streams 128;
    server_name {host};
    ssl_certificate {dir}/bench.crt;
    ssl_certificate_key {dir}/bench.key;
    location / {{
      grpc_pass grpc://h2app;
      grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      grpc_set_header X-Forwarded-Proto $scheme;
      grpc_set_header X-Request-Id $request_id;
    }}
  }}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1, help="proxy-builtin workers (nginx runs 1 worker)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the best round counts")
    args = ap.parse_args()
    for tool in ("nginx", "h2load", "openssl", "nghttpd"):
        if not shutil.which(tool):
            sys.exit(
                f"{tool} is not installed (apt-get install -y nginx-light nghttp2-client nghttp2-server)"
            )
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rivetr-bench-grpc-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        cert = proxy_h2.make_cert(d)
        backend_port = base.free_port()
        backend = subprocess.Popen(
            ["nghttpd", "--no-tls", "-d", str(d / "www"), str(backend_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        base.wait_port(backend_port)
        loop = asyncio.new_event_loop()

        def start_nginx() -> tuple[int, list[int], Any]:
            port = base.free_port()
            p = base.nginx(d, "proxy", NGINX_GRPC.format(port=port, backend=backend_port, host=HOST, dir=d))
            base.wait_port(port)
            return port, base.with_children(p.pid), p

        def start_builtin() -> tuple[int, list[int], Any]:
            proxy, port = loop.run_until_complete(
                proxy_h2.launch_builtin(d, backend_port, args.workers, cert, upstream_protocol="h2c")
            )
            return port, base.tree_pids(proxy.pid), proxy

        def stop(handle: Any) -> None:
            if isinstance(handle, subprocess.Popen):
                handle.terminate()
                handle.wait()
            else:
                loop.run_until_complete(handle.shutdown())

        name = f"builtin-{args.workers}"
        configs = [("nginx", start_nginx), (name, start_builtin)]
        try:
            for rnd in range(args.rounds):
                for label, start in configs:
                    port, pids, handle = start()
                    try:
                        time.sleep(0.3)
                        cpu0 = base.cpu_seconds(pids)
                        r = proxy_h2.h2load(
                            port, args.connections, args.streams, args.duration, d / "h2load.log"
                        )
                        cpu = base.cpu_seconds(pids) - cpu0
                        r["cpu_us"] = cpu / max(1.0, r["rps"] * (args.duration + 1)) * 1e6
                        print(
                            f"round {rnd + 1} {label:>10}: {r['rps']:>9.0f} req/s  p50 {r['p50']:.2f} ms  "
                            f"p99 {r['p99']:.2f} ms  errors {r['errors']:.0f}  cpu/req {r['cpu_us']:.1f} us",
                            flush=True,
                        )
                        if label not in results or r["rps"] > results[label]["rps"]:
                            results[label] = r
                    finally:
                        stop(handle)
        finally:
            backend.terminate()
            backend.wait()
            loop.close()
    ng, mine = results["nginx"], results[name]
    print(
        f"\nratios ({args.connections} connections x {args.streams} streams, h2 over TLS to an h2c upstream):"
    )
    print(f"  req/s   {mine['rps'] / max(ng['rps'], 1):.2f}x nginx grpc_pass")
    print(f"  p99     {mine['p99'] / max(ng['p99'], 1e-9):.2f}x nginx")
    print(f"  cpu/req {mine['cpu_us'] / max(ng['cpu_us'], 1e-9):.2f}x nginx")


if __name__ == "__main__":
    main()
