"""Benchmark (not a test): what the permission check costs an API request (issue 20: ≤ 1 ms at p99).

Starts a real ``rivetr serve`` (temp data dir, proxy and rate limiter off) whose app gets two bench-only
additions through the hooks the role/token work uses: a credential verifier that turns ``BENCH_VIEWER`` into a
``viewer`` principal, and a SIGUSR1 handler that switches the permission check off and on. It creates ``--apps``
apps, then measures ``GET /api/apps`` with ``wrk`` (``--connections`` concurrent clients) in interleaved rounds:

* ``off``    — admin token, check switched off (the baseline);
* ``on``     — admin token, check on;
* ``viewer`` — the viewer principal, check on (a restricted principal, allowed to read).

Each switch is verified (the viewer's ``POST /api/apps`` is 403 with the check on, 422 without). Also reported,
in-process: the check alone (``RoutePermissions.authorize`` on a resolved endpoint), and whole ``GET /api/apps``
requests through Quart's test client (same apps), alternating check on/off request by request so both halves
share whatever else the machine is doing. On a shared 2-core machine the round-to-round noise of the HTTP
figures is far larger than the check: read the in-process figures for its cost.

    .venv/bin/python bench/authz.py [--apps 500] [--seconds 5] [--connections 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import create_apps, wait_for_api, wrk
from tests.support.server import ADMIN_TOKEN, make_config

BENCH_VIEWER = "bench-viewer-token-0123456789"

# Runs `rivetr serve` with the bench's verifier and check switch added to the app it builds.
SERVER = r"""
import signal, sys
import rivetr_core.app as app_module
from rivetr_core.authz.enforce import ROUTE_PERMISSIONS
from rivetr_core.authz.permissions import Principal
from rivetr_core.cli.main import main

VIEWER = Principal("token:bench/viewer", team_role="viewer", server_role=None)
VIEWER_TOKEN = sys.argv[1]
real_create_app = app_module.create_app

def create_app(*args, **kwargs):
    app = real_create_app(*args, **kwargs)

    async def verify(token):
        return VIEWER if token == VIEWER_TOKEN else None

    app.extensions["rivetr_auth_verifiers"].append(verify)
    permissions = app.extensions[ROUTE_PERMISSIONS]

    def switch(*_):
        if "authorize" in vars(permissions):
            del permissions.authorize  # back to the real check
        else:
            permissions.authorize = lambda endpoint, principal: None

    signal.signal(signal.SIGUSR1, switch)
    return app

app_module.create_app = create_app
sys.argv = ["rivetr", "serve"]
main()
"""


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
        "RIVETR_PROXY__ENABLED": "false",
        "RIVETR_RATE_LIMIT__ENABLED": "false",  # it would answer 429s, not measure the request
        "RIVETR_LOGGING__LEVEL": "WARNING",
    }
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, BENCH_VIEWER], env=env, stdout=log, stderr=log)
    return proc, wait_for_api(proc, data_dir, 30)


def check_is(base: str, on: bool) -> None:
    """The viewer may not write: 403 before the handler with the check on, the handler's 422 without."""
    status = httpx.post(
        base + "/api/apps", json={}, headers={"Authorization": f"Bearer {BENCH_VIEWER}"}
    ).status_code
    expected = 403 if on else 422
    if status != expected:
        raise SystemExit(f"check {'on' if on else 'off'}: the viewer's POST /api/apps answered {status}")


def in_process_cost() -> float:
    """Nanoseconds per ``authorize`` on a resolved endpoint, for a viewer (a set lookup after a dict lookup)."""
    from rivetr_core.app import create_app
    from rivetr_core.authz.enforce import ROUTE_PERMISSIONS
    from rivetr_core.authz.permissions import Principal

    data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-authz-inproc-"))
    try:
        app = create_app(make_config(data_dir), load_entrypoints=False)
        permissions = app.extensions[ROUTE_PERMISSIONS]
        viewer = Principal("token:bench/viewer", team_role="viewer", server_role=None)
        permissions.authorize("apps_api.list_apps", viewer)  # resolves and caches
        n = 200_000
        best = min(
            timeit.repeat(lambda: permissions.authorize("apps_api.list_apps", viewer), number=n, repeat=5)
        )
        return best / n * 1e9
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def add_apps(client: Any, apps: int, headers: dict[str, str]) -> None:
    """``apps`` git apps, made through Quart's test client of an in-process app."""
    for i in range(apps):
        body = {"name": f"bench-app-{i:04d}", "git_url": f"https://git.example.com/team/app-{i}.git"}
        response = await client.post("/api/apps", json=body, headers=headers)
        assert response.status_code == 201, await response.get_data(as_text=True)


async def alternated(
    client: Any, pairs: int, modes: tuple[str, str], headers_for: Callable[[str], dict[str, str]]
) -> dict[str, list[float]]:
    """Times (ms) of in-process ``GET /api/apps`` per mode, ``modes[0]`` and ``modes[1]`` alternated request by
    request (``pairs`` each, after 40 warm-up requests); ``headers_for(mode)`` readies a mode and gives its headers."""
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for i in range(2 * pairs + 40):
        mode = modes[i % 2]
        headers = headers_for(mode)
        t0 = time.perf_counter()
        response = await client.get("/api/apps", headers=headers)
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, await response.get_data(as_text=True)
        if i >= 40:  # warm-up
            times[mode].append(elapsed)
    return times


def percentiles(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50/p99 of each mode's times, in the order of ``times``."""
    result = {}
    for mode, values in times.items():
        values.sort()
        result[mode] = {"p50": statistics.median(values), "p99": values[int(len(values) * 0.99) - 1]}
    return result


def wrk_round(
    base: str, mode: str, token: str, seconds: float, connections: int, round_no: int
) -> dict[str, float]:
    """One ``wrk`` run of ``GET /api/apps`` as ``token``, printed; no non-2xx answer allowed."""
    r = wrk(base + "/api/apps", seconds, connections, token)
    if r["errors"]:
        raise SystemExit(f"{mode}: {r['errors']:.0f} non-2xx answers")
    print(
        f"round {round_no + 1} {mode:6} {r['rps']:7.0f} req/s  p50 {r['p50']:7.2f} ms"
        f"  p99 {r['p99']:7.2f} ms",
        flush=True,
    )
    return r


def summarize(
    results: dict[str, list[dict[str, float]]], apps: int, connections: int, rounds: int
) -> dict[str, dict[str, float]]:
    """The median of the rounds of each mode, printed and returned."""
    print(f"\nGET /api/apps, {apps} apps, {connections} clients, median of {rounds} rounds:")
    summary = {
        mode: {key: statistics.median(r[key] for r in rs) for key in ("rps", "p50", "p99")}
        for mode, rs in results.items()
    }
    for mode, s in summary.items():
        print(f"  {mode:6} {s['rps']:7.0f} req/s  p50 {s['p50']:7.2f} ms  p99 {s['p99']:7.2f} ms")
    return summary


def stop(proc: subprocess.Popen[bytes], data_dir: Path) -> None:
    """Ends the server of ``start`` and removes its data dir."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(data_dir, ignore_errors=True)


async def paired_requests(apps: int, pairs: int) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) of in-process ``GET /api/apps`` with the check on and off, alternated per request."""
    from rivetr_core.app import create_app
    from rivetr_core.authz.enforce import ROUTE_PERMISSIONS

    data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-authz-paired-"))
    try:
        app = create_app(make_config(data_dir))
        permissions = app.extensions[ROUTE_PERMISSIONS]
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

        def switched(mode: str) -> dict[str, str]:
            if mode == "off":
                permissions.authorize = lambda endpoint, principal: None  # type: ignore[method-assign]
            else:
                vars(permissions).pop("authorize", None)
            return headers

        async with app.test_app():
            client = app.test_client()
            await add_apps(client, apps, headers)
            times = await alternated(client, pairs, ("off", "on"), switched)
        return percentiles({"on": times["on"], "off": times["off"]})
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def parse_args(description: str | None, pairs_per: str) -> argparse.Namespace:
    """The options of this bench and of bench/authz_api.py."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=1000, help=f"in-process requests per {pairs_per}")
    return parser.parse_args()


def print_paired(
    result: dict[str, dict[str, float]], apps: int, pairs: int, mode: str, baseline: str
) -> None:
    """The in-process figures of ``alternated``/``percentiles`` and ``mode``'s difference from ``baseline``."""
    print(
        f"in-process GET /api/apps ({apps} apps, {pairs} each, alternated): "
        + "   ".join(f"{m} p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms" for m, r in result.items())
        + f"   {mode} − {baseline}: p50 {result[mode]['p50'] - result[baseline]['p50']:+.3f} ms,"
        f" p99 {result[mode]['p99'] - result[baseline]['p99']:+.2f} ms",
        flush=True,
    )


def main() -> None:
    args = parse_args(__doc__, "mode")

    print(f"the check alone, in-process: {in_process_cost():.0f} ns per request", flush=True)
    paired = asyncio.run(paired_requests(args.apps, args.pairs))
    print_paired(paired, args.apps, args.pairs, "on", "off")
    data_dir = Path(tempfile.mkdtemp(prefix="rivetr-bench-authz-"))
    proc, base = start(data_dir)
    on = True
    try:
        t0 = time.monotonic()
        create_apps(base, args.apps)
        print(f"{args.apps} apps created in {time.monotonic() - t0:.1f} s", flush=True)
        results: dict[str, list[dict[str, float]]] = {"off": [], "on": [], "viewer": []}
        wrk(base + "/api/apps", 2, args.connections, ADMIN_TOKEN)  # warm-up
        for round_no in range(args.rounds):
            # Rotate the order so no mode always runs first (warm caches) or last (a noisy neighbour).
            order = ["off", "on", "viewer"][round_no % 3 :] + ["off", "on", "viewer"][: round_no % 3]
            for mode in order:
                want_on = mode != "off"
                if want_on != on:
                    proc.send_signal(signal.SIGUSR1)
                    time.sleep(0.3)
                    on = want_on
                check_is(base, on)
                token = BENCH_VIEWER if mode == "viewer" else ADMIN_TOKEN
                results[mode].append(wrk_round(base, mode, token, args.seconds, args.connections, round_no))
        summary = summarize(results, args.apps, args.connections, args.rounds)
        for mode in ("on", "viewer"):
            delta = summary[mode]["p99"] - summary["off"]["p99"]
            print(f"  p99 {mode} − off: {delta:+.2f} ms   target ≤ +1 ms")
    finally:
        stop(proc, data_dir)


if __name__ == "__main__":
    main()
