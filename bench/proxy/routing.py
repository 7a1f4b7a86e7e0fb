"""Benchmark: what path routing, prefix stripping and basic auth cost in proxy-builtin (not a test).

    .venv/bin/python bench/proxy/routing.py [--duration 5] [--connections 32] [--rounds 2]

One proxy-builtin (1 worker) and one nginx proxy (the peer, same run) in front of the same static nginx
backend. proxy-builtin serves four hosts:

* ``plain.test``: one ``/`` route (the hot path: no rules, one attribute test),
* ``paths.test``: ``/``, ``/api``, ``/api/v2`` (stripped) and ``/static``; wrk requests ``/api/v2/index.html``
  (longest-prefix dispatch, then the request line rewritten),
* ``auth.test``: basic auth with a bcrypt hash of cost 10; wrk sends the right credentials (verified once a
  minute per worker, from the cache otherwise),
* ``redirect.test``: a redirect rule answering every request with a 301 from the proxy itself.

wrk drives each in turn (interleaved rounds; the best round counts). Absolute numbers drift with the machine's
load: compare the ratios printed at the end (each host against ``plain.test`` and against nginx).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # bench/proxy/run.py: the backend, the nginx peer and the helpers

AUTH = "Basic " + base64.b64encode(b"bench:bench password").decode()


def wrk(port: int, host: str, path: str, connections: int, duration: int, *headers: str) -> float:
    args = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "-H", f"Host: {host}"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    )
    if "Non-2xx or 3xx responses" in out.stdout and "redirect" not in host:
        raise SystemExit(f"{host}{path}: error responses:\n{out.stdout}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]


async def start_builtin(d: Path, backend: int) -> tuple[object, int]:
    import bcrypt
    from rivetr_proxy_builtin.backend import BuiltinProxy
    from rivetr_proxy_builtin.settings import ProxySettings

    from rivetr_core.contract import Route

    up = [f"127.0.0.1:{backend}"]
    settings = ProxySettings(host="127.0.0.1", port=run.free_port(), workers=1, health_interval=30)
    proxy = BuiltinProxy(settings, d / "builtin")
    await proxy.start()
    hashed = bcrypt.hashpw(b"bench password", bcrypt.gensalt(rounds=10)).decode()
    for route in (
        Route("plain.test", up),
        Route("paths.test", up),
        Route("paths.test", up, path_prefix="/api"),
        Route("paths.test", up, path_prefix="/api/v2", strip_prefix=True),
        Route("paths.test", up, path_prefix="/static"),
        Route("auth.test", up, auth={"realm": "bench", "users": {"bench": hashed}}),
        Route("redirect.test", up, redirects=[{"from": "/", "to": "https://elsewhere.test/", "status": 301}]),
    ):
        await proxy.set_route(route)
    assert proxy.port is not None
    return proxy, proxy.port


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        (d / "www").mkdir()
        (d / "www" / "index.html").write_bytes(b"<!doctype html><title>bench</title><p>" + b"x" * 512 + b"\n")
        backend_port = run.free_port()
        backend = run.nginx(d, "backend", run.BACKEND.format(port=backend_port, dir=d))
        run.wait_port(backend_port)
        nginx_port = run.free_port()
        peer = run.nginx(
            d, "proxy", run.NGINX_PROXY.format(port=nginx_port, backend=backend_port, host="plain.test")
        )
        run.wait_port(nginx_port)
        loop = asyncio.new_event_loop()
        proxy, port = loop.run_until_complete(start_builtin(d, backend_port))
        cases = {
            "nginx plain": (nginx_port, "plain.test", "/index.html", ()),
            "builtin plain": (port, "plain.test", "/index.html", ()),
            "builtin paths+strip": (port, "paths.test", "/api/v2/index.html", ()),
            "builtin basic auth": (port, "auth.test", "/index.html", (f"Authorization: {AUTH}",)),
            "builtin redirect": (port, "redirect.test", "/index.html", ()),
        }
        best: dict[str, float] = {}
        try:
            for n in range(args.rounds):
                for name, (p, host, path, headers) in cases.items():
                    rps = wrk(p, host, path, args.connections, args.duration, *headers)
                    best[name] = max(best.get(name, 0.0), rps)
                    print(f"round {n + 1} {name:22} {rps:10.0f} req/s", flush=True)
        finally:
            loop.run_until_complete(proxy.shutdown())  # type: ignore[attr-defined]
            peer.terminate()
            backend.terminate()
        print(f"\nbest of {args.rounds} rounds, {args.connections} connections, {args.duration} s each:")
        plain, ngx = best["builtin plain"], best["nginx plain"]
        for name, rps in best.items():
            print(
                f"  {name:22} {rps:10.0f} req/s  {rps / plain:5.2f}x builtin plain  {rps / ngx:5.2f}x nginx"
            )


if __name__ == "__main__":
    main()
