"""Benchmark (not a test): managed services vs the same by hand with the engine CLI (issue 17), peer in the same run.

Through a real ``rivetr serve`` (builtin proxy, ``--engine`` docker or podman) and the engine's own CLI, each side
``--rounds`` times, alternating which goes first:

* (a) create-to-ready of a Postgres service with a warm image: ``POST /api/services {"type": "postgres"}`` until
  ``GET /api/services/{id}`` says ``running`` (Rivetr's readiness check passed) vs ``<engine> run -d`` of the
  same image with the same environment and a new named volume, then ``<engine> exec ... pg_isready`` (the
  template's own readiness command) every 0.5 s (the template's interval) until it answers. Target <= 1.3x.
* (b) a linked app's first query: the link test app (tests/support/dbapp) deployed by Rivetr and linked to a
  Postgres service vs the same image started by hand on the same project network with the same
  ``DATABASE_URL``; ``GET /query`` makes a new connection and runs ``SELECT 1``, timed inside the app (the
  connection is direct on the private network either way; the HTTP path in front of it is not measured). p50
  of ``--queries`` calls each, interleaved. Target: within 10%.

Ratios are printed, never asserted. Numbers on this shared 2-core machine drift; compare the ratios of one run.

    .venv/bin/python bench/services.py [--engine docker] [--rounds 5] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Rivetr, shutdown_proxy  # noqa: E402
from tests.e2e.conftest import start_rivetr as start_e2e_rivetr  # noqa: E402
from tests.support.gitserver import GitServer  # noqa: E402
from tests.support.proxy import http_get  # noqa: E402

POLL = 0.5  # the postgres template's readiness interval: both sides poll alike


def start_rivetr(engine: str, work: Path) -> Rivetr:
    return start_e2e_rivetr(engine, work / "server-data", RIVETR_GIT__ALLOW_LOCAL="true")


def wait_running(rivetr: Rivetr, service_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        service = rivetr.api.get(f"/api/services/{service_id}").json()
        if service["status"] == "running":
            return dict(service)
        if service["status"] == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"service {service['name']}: {service['status']} {service.get('error')}")
        time.sleep(0.02)  # tight: the API's own poll must not be what we measure


def ours_create(rivetr: Rivetr, name: str, project_id: str | None = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = rivetr.api.post(
        "/api/services", json={"name": name, "type": "postgres", "project_id": project_id}
    )
    response.raise_for_status()
    service = wait_running(rivetr, response.json()["id"])
    return time.perf_counter() - started, service


def by_hand_create(rivetr: Rivetr, image: str, creds: dict[str, str]) -> float:
    name = f"bench-pg-hand-{uuid.uuid4().hex[:8]}"
    volume = f"{name}-data"
    env = {
        "POSTGRES_USER": creds["user"],
        "POSTGRES_PASSWORD": creds["password"],
        "POSTGRES_DB": creds["database"],
        "PGDATA": "/var/lib/postgresql/data",
    }
    args = ["run", "-d", "--name", name, "-v", f"{volume}:/var/lib/postgresql/data"]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    ready = [
        "exec",
        name,
        "pg_isready",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        creds["user"],
        "-d",
        creds["database"],
    ]
    started = time.perf_counter()
    try:
        rivetr.cli(*args, image)
        while True:
            probe = subprocess.run(
                [rivetr.engine, *ready], capture_output=True, env=rivetr._cli_env(), timeout=30
            )
            if probe.returncode == 0:
                return time.perf_counter() - started
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"{name} never became ready: {probe.stderr!r}")
            time.sleep(POLL)
    finally:
        subprocess.run([rivetr.engine, "rm", "-f", "-v", name], capture_output=True, env=rivetr._cli_env())
        subprocess.run(
            [rivetr.engine, "volume", "rm", "-f", volume], capture_output=True, env=rivetr._cli_env()
        )


def bench_create(rivetr: Rivetr, rounds: int) -> None:
    # Warm the image (pull once) and learn the credentials' shape; not timed.
    _, warm = ours_create(rivetr, f"bench-pg-warm-{uuid.uuid4().hex[:6]}")
    revealed = rivetr.api.get(f"/api/services/{warm['id']}?reveal=true").json()
    creds = revealed["credentials"]
    image = warm["image"]
    rivetr.api.delete(f"/api/services/{warm['id']}?force=true").raise_for_status()
    ours: list[float] = []
    peer: list[float] = []
    for i in range(rounds):
        order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
        for side in order:
            if side == "ours":
                seconds, service = ours_create(rivetr, f"bench-pg-{i}-{uuid.uuid4().hex[:6]}")
                ours.append(seconds)
                rivetr.api.delete(f"/api/services/{service['id']}?force=true").raise_for_status()
            else:
                peer.append(by_hand_create(rivetr, image, creds))
    o, p = statistics.median(ours), statistics.median(peer)
    print(f"(a) create-to-ready of postgres ({image}, warm image, {rounds} rounds each, alternating)")
    print(f"    rivetr API : median {o:.2f} s  (all: {', '.join(f'{x:.2f}' for x in ours)})")
    print(f"    by hand    : median {p:.2f} s  (all: {', '.join(f'{x:.2f}' for x in peer)})")
    print(f"    ratio rivetr/by-hand: {o / p:.2f}x (target <= 1.3x)")


def bench_query(rivetr: Rivetr, work: Path, queries: int) -> None:
    project = rivetr.api.post("/api/projects", json={"name": f"bench-{uuid.uuid4().hex[:6]}"}).json()
    _, service = ours_create(rivetr, f"bench-pg-q-{uuid.uuid4().hex[:6]}", project["id"])
    creds = rivetr.api.get(f"/api/services/{service['id']}?reveal=true").json()["credentials"]
    git = GitServer(work / "git")
    git.start()
    hand = f"bench-dbapp-hand-{uuid.uuid4().hex[:8]}"
    try:
        dbapp = ROOT / "tests" / "support" / "dbapp"
        files = {name: ((dbapp / name).read_text(), 0o644) for name in ("Dockerfile", "app.py")}
        name = f"bench-dbapp-{uuid.uuid4().hex[:6]}"
        repo = git.create_repo(name, files)
        app = rivetr.create_app(repo, name, project_id=project["id"])
        rivetr.api.post(f"/api/apps/{app['id']}/links", json={"service_id": service["id"]}).raise_for_status()
        dep = rivetr.deploy_and_wait(app["id"])
        network = f"rivetr-net-{project['id']}"
        url = f"postgres://{creds['user']}:{creds['password']}@{service['name']}:5432/{creds['database']}"
        rivetr.cli(
            "run",
            "-d",
            "--name",
            hand,
            "--network",
            network,
            "-e",
            f"DATABASE_URL={url}",
            "-e",
            "PORT=8000",
            "-p",
            "127.0.0.1::8000",
            dep["image"],
        )
        port = int(rivetr.cli("port", hand, "8000").split(":")[-1])
        host = f"{name}.e2e.test"

        def ours() -> float:
            status, _, body = http_get(rivetr.proxy_port, host, "/query", timeout=10)
            assert status == 200, body
            return float(json.loads(body)["ms"])

        def peer() -> float:
            status, _, body = http_get(port, "localhost", "/query", timeout=10)
            assert status == 200, body
            return float(json.loads(body)["ms"])

        deadline = time.monotonic() + 30
        while True:  # the by-hand container needs a moment to listen
            try:
                peer()
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(10):  # warm both (first-ever connection costs, page cache)
            ours(), peer()
        a: list[float] = []
        b: list[float] = []
        for i in range(queries):
            if i % 2 == 0:
                a.append(ours())
                b.append(peer())
            else:
                b.append(peer())
                a.append(ours())
        pa, pb = statistics.median(a), statistics.median(b)
        print(f"(b) first query (new connection + SELECT 1, timed in the app), {queries} each, interleaved")
        print(f"    linked app (rivetr)  : p50 {pa:.2f} ms  p90 {statistics.quantiles(a, n=10)[-1]:.2f} ms")
        print(f"    by hand, same network: p50 {pb:.2f} ms  p90 {statistics.quantiles(b, n=10)[-1]:.2f} ms")
        print(f"    ratio rivetr/by-hand p50: {pa / pb:.2f}x (target within 10%: 0.9-1.1x)")
    finally:
        subprocess.run([rivetr.engine, "rm", "-f", hand], capture_output=True, env=rivetr._cli_env())
        git.stop()
        rivetr.api.delete(f"/api/services/{service['id']}?force=true")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-create", action="store_true")
    parser.add_argument("--skip-query", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-services-"))
    rivetr = start_rivetr(args.engine, work)
    try:
        print(f"engine: {args.engine}")
        if not args.skip_create:
            bench_create(rivetr, args.rounds)
        if not args.skip_query:
            bench_query(rivetr, work, args.queries)
    finally:
        rivetr.server.stop(timeout=15)
        rivetr.cleanup()
        shutdown_proxy(rivetr.server.data_dir)


if __name__ == "__main__":
    main()
