"""Benchmark (not a test): the control plane's API on PostgreSQL against the embedded SQLite (issue 23: "GET
/api/apps with 500 apps, 50 concurrent clients: p99 on PostgreSQL <= 1.5x on SQLite").

Starts two ``rivetr serve`` processes side by side (proxy and rate limiter off, temp data dirs): one on SQLite, one
with ``[database] url`` on a private PostgreSQL cluster started for the run (tests/support/postgres.py: Debian's
``postgresql`` binaries, fsync off, as the tests run it; the benchmark only reads). Creates ``--apps`` apps with a
domain each in both through the API, then runs ``wrk`` (``--connections`` clients, admin token) on ``GET
/api/apps`` in alternating rounds (SQLite, PostgreSQL, then PostgreSQL, SQLite, ...), so both share whatever else
the machine is doing. Prints req/s, p50 and p99 of every round, the median of the rounds, and the ratios.

    .venv/bin/python bench/db_apps_list.py [--apps 500] [--seconds 5] [--connections 50] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import create_apps, wait_for_api, wrk
from tests.support.postgres import start_server
from tests.support.server import ADMIN_TOKEN

SERVER = "import sys; from rivetr_core.cli.main import main; sys.argv = ['rivetr', 'serve']; main()"


def start(data_dir: Path, database_url: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """``rivetr serve`` on ``data_dir`` (and on ``database_url`` when given); the process and its API base URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
        "RIVETR_PROXY__ENABLED": "false",
        "RIVETR_RATE_LIMIT__ENABLED": "false",  # it would answer 429s, not measure the request
        "RIVETR_LOGGING__LEVEL": "WARNING",
        "RIVETR_DATABASE__URL": database_url,
    }
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER], env=env, stdout=log, stderr=log)
    return proc, wait_for_api(proc, data_dir, 60)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")

    root = Path(tempfile.mkdtemp(prefix="rivetr-bench-db-"))
    postgres = start_server()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        database = postgres.create_database("rivetr_bench")
        bases: dict[str, str] = {}
        for mode, url in (("sqlite", ""), ("postgres", postgres.url(database))):
            proc, bases[mode] = start(root / mode, url)
            procs.append(proc)
            t0 = time.monotonic()
            create_apps(bases[mode], args.apps)
            print(f"{mode}: {args.apps} apps created in {time.monotonic() - t0:.1f} s", flush=True)
        if postgres.sql("SELECT count(*) FROM apps", database).strip() != str(args.apps):
            raise SystemExit("the PostgreSQL server does not hold the apps: is it really on PostgreSQL?")
        for base in bases.values():
            wrk(base + "/api/apps", 2, args.connections, ADMIN_TOKEN)  # warm-up (caches, pools)

        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in bases}
        for round_no in range(args.rounds):
            order = list(bases) if round_no % 2 == 0 else list(reversed(bases))
            for mode in order:
                r = wrk(bases[mode] + "/api/apps", args.seconds, args.connections, ADMIN_TOKEN)
                if r["errors"]:
                    raise SystemExit(f"{mode}: {r['errors']:.0f} non-2xx answers")
                results[mode].append(r)
                print(
                    f"round {round_no + 1} {mode:8} {r['rps']:7.0f} req/s  p50 {r['p50']:7.2f} ms"
                    f"  p99 {r['p99']:7.2f} ms",
                    flush=True,
                )

        print(
            f"\nGET /api/apps, {args.apps} apps, {args.connections} clients, median of {args.rounds} rounds:"
        )
        summary = {
            mode: {key: statistics.median(r[key] for r in rs) for key in ("rps", "p50", "p99")}
            for mode, rs in results.items()
        }
        for mode, s in summary.items():
            print(f"  {mode:8} {s['rps']:7.0f} req/s  p50 {s['p50']:7.2f} ms  p99 {s['p99']:7.2f} ms")
        pg, lite = summary["postgres"], summary["sqlite"]
        print(
            f"  PostgreSQL / SQLite: p99 {pg['p99'] / lite['p99']:.2f}x (target <= 1.5x), "
            f"p50 {pg['p50'] / lite['p50']:.2f}x, req/s {pg['rps'] / lite['rps']:.2f}x"
        )
    finally:
        for proc in procs:
            stop(proc)
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
