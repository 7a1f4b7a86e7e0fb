"""Benchmark (not a test): control-plane request speed with 500 apps (issue 15).

Starts a real ``rivetr serve`` (temp data dir, proxy off, rate limiter off: it would answer 429s, not measure
the handler), creates ``--apps`` apps through the API (each with a domain), an API token (what scripts and the
CLI send; the admin token is a plain compare and would hide the token lookup), then measures with ``wrk``
(50 connections) and a single sequential client:

* ``GET /api/apps`` (whatever the server answers: a page of 50 with the list envelope, all apps before it);
* ``GET /health`` (anonymous);
* the same two answers from the floor of this stack: a minimal Quart app on Hypercorn (uvloop, no access log,
  as ``rivetr serve`` runs) returning the very same JSON bytes, started in the same run. The ratio
  Rivetr/floor is printed.

Targets: ``/api/apps`` ≥ 500 req/s with p99 ≤ 200 ms at 50 concurrent clients and ≤ 10 ms for one client;
``/health`` ≥ 1,000 req/s.

    .venv/bin/python bench/api.py [--apps 500] [--seconds 5] [--connections 50] [--profile FILE]

``--profile FILE`` runs the server under cProfile (``RIVETR_BENCH_PROFILE``) and writes its stats to FILE when
it stops (then the figures are those of a profiled server: use them to find costs, not to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.proxy import free_port
from tests.support.server import ADMIN_TOKEN, start_server

FLOOR_APP = r"""
import sys
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response

port, apps_file, health_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
apps_body, health_body = open(apps_file, "rb").read(), open(health_file, "rb").read()
app = Quart(__name__)

@app.get("/api/apps")
async def apps() -> Response:
    return Response(apps_body, content_type="application/json")

@app.get("/health")
async def health() -> Response:
    return Response(health_body, content_type="application/json")

config = Config()
config.bind = [f"127.0.0.1:{port}"]
config.accesslog = None
config.keep_alive_timeout = 75
uvloop.install()
import asyncio
asyncio.run(serve(app, config))
"""

PROFILE_WRAPPER = r"""
import cProfile, os, signal, sys
from rivetr_core.cli.main import main
profiler = cProfile.Profile()
def stop(*_):
    profiler.disable()
    profiler.dump_stats(os.environ["RIVETR_BENCH_PROFILE"])
    os._exit(0)
signal.signal(signal.SIGUSR1, stop)
sys.argv = ["rivetr", "serve"]
profiler.enable()
main()
"""


def wrk(url: str, seconds: float, connections: int, token: str | None) -> dict[str, float]:
    """req/s and latency percentiles (ms) from ``wrk --latency``; non-2xx answers are counted as errors."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "errors": float(non2xx.group(1) if non2xx else 0)}


def single(url: str, token: str | None, n: int = 200) -> dict[str, float]:
    """One client, one request at a time: p50/p99 latency (ms)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    times = []
    with httpx.Client(headers=headers) as client:
        for _ in range(20):
            client.get(url)
        for _ in range(n):
            t0 = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p99": times[int(len(times) * 0.99) - 1]}


def create_apps(url: str, count: int) -> str:
    """``count`` apps with one domain each, through the API (admin token); returns a fresh API token."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as c:
        for i in range(count):
            body = {
                "name": f"bench-app-{i:04d}",
                "git_url": f"https://git.example.com/team/app-{i}.git",
                "domains": [f"app-{i}.bench.example.com"],
            }
            r = c.post("/api/apps", json=body)
            if r.status_code != 201:
                raise SystemExit(f"creating app {i}: {r.status_code} {r.text}")
        r = c.post("/api/tokens", json={"name": "bench", "scopes": ["admin"]})
        r.raise_for_status()
        return str(r.json()["token"])


def measure(label: str, base: str, token: str | None, seconds: float, connections: int) -> dict[str, dict]:
    results = {}
    for path, tok in (("/api/apps", token), ("/health", None)):
        results[path] = {
            **wrk(base + path, seconds, connections, tok),
            **{"single_" + k: v for k, v in single(base + path, tok).items()},
        }
        r = results[path]
        print(
            f"{label:7} {path:10} {r['rps']:8.0f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms"
            f"  (c={connections}, non-2xx {r['errors']:.0f})   one client: p50 {r['single_p50']:.2f} ms"
            f"  p99 {r['single_p99']:.2f} ms",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", type=Path, help="write the server's cProfile stats here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="rivetr-bench-api-"))
    env = {"RIVETR_RATE_LIMIT__ENABLED": "false"}
    server = start_server(tmp / "data", env)
    t0 = time.perf_counter()
    token = create_apps(server.url, args.apps)
    print(f"created {args.apps} apps in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.profile:  # restart the same data dir under cProfile
        server.stop()
        env["RIVETR_BENCH_PROFILE"] = str(args.profile.resolve())
        server = _start_profiled(tmp / "data", env)
    floor = None
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as c:
            apps = c.get(server.url + "/api/apps")
            apps.raise_for_status()
            health = c.get(server.url + "/health")
        body = apps.json()
        shown = len(body["items"]) if isinstance(body, dict) else len(body)
        print(f"GET /api/apps answers {shown} apps, {len(apps.content) / 1024:.0f} KB", flush=True)
        (tmp / "apps.json").write_bytes(apps.content)
        (tmp / "health.json").write_bytes(health.content)
        port = free_port()
        floor = subprocess.Popen(
            [sys.executable, "-c", FLOOR_APP, str(port), str(tmp / "apps.json"), str(tmp / "health.json")]
        )
        floor_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(floor_url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or floor.poll() is not None:
                    raise SystemExit("floor app did not start") from None
                time.sleep(0.05)
        rivetr = measure("rivetr", server.url, token, args.seconds, args.connections)
        base = measure("floor", floor_url, token, args.seconds, args.connections)
        for path in ("/api/apps", "/health"):
            r, f = rivetr[path], base[path]
            print(
                f"ratio rivetr/floor {path:10} req/s {r['rps'] / f['rps']:.2f}  p99 {r['p99'] / f['p99']:.2f}"
                f"  one-client p50 {r['single_p50'] / f['single_p50']:.2f}"
            )
        a, h = rivetr["/api/apps"], rivetr["/health"]
        print(
            f"targets: /api/apps ≥ 500 req/s: {a['rps']:.0f} {'ok' if a['rps'] >= 500 else 'MISSED'}; "
            f"p99 ≤ 200 ms: {a['p99']:.0f} {'ok' if a['p99'] <= 200 else 'MISSED'}; one client ≤ 10 ms: "
            f"{a['single_p50']:.1f} {'ok' if a['single_p50'] <= 10 else 'MISSED'}; /health ≥ 1000 req/s: "
            f"{h['rps']:.0f} {'ok' if h['rps'] >= 1000 else 'MISSED'}"
        )
        print(json.dumps({"rivetr": rivetr, "floor": base}), file=sys.stderr)
    finally:
        if floor is not None:
            floor.terminate()
            floor.wait(10)
        if args.profile:
            server.proc.send_signal(10)  # SIGUSR1: the wrapper dumps its stats and exits
            server.proc.wait(30)
            print(f"profile written to {args.profile}")
        else:
            server.stop()


def wait_for_api(proc: subprocess.Popen[bytes], data_dir: Path, timeout: float) -> str:
    """The base URL of a ``rivetr serve`` started on ``data_dir`` once it wrote ``api.addr``; exits the bench with the
    server's log when it dies or is not up within ``timeout`` seconds."""
    addr = data_dir / "api.addr"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}:\n{(data_dir / 'server.log').read_text()}")
        if addr.exists() and addr.read_text().strip():
            return "http://" + addr.read_text().strip()
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def _start_profiled(data_dir: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """``rivetr serve`` under cProfile: the wrapper dumps the stats on SIGUSR1."""
    import tests.support.server as support

    addr = data_dir / "api.addr"
    addr.unlink(missing_ok=True)
    full_env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
        "RIVETR_PROXY__ENABLED": "false",
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-c", PROFILE_WRAPPER], env=full_env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if addr.exists() and addr.read_text().strip():
            url = "http://127.0.0.1:" + addr.read_text().strip().rsplit(":", 1)[1]
            try:
                httpx.get(url + "/health", timeout=2)
                return support.ServerProcess(proc, url, ADMIN_TOKEN, data_dir, data_dir / "server.log")
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("profiled rivetr serve did not start")


if __name__ == "__main__":
    main()
