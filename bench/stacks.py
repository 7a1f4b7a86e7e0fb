"""Benchmark (not a test): compose stacks through Rivetr vs the compose reference tool (issue 18), peer in one run.

One 4-service file with warm images: ``web`` (busybox httpd, routed through Rivetr's proxy, healthchecked),
``worker`` (a loop), ``db`` (``postgres:16``) and ``redis`` (``redis:7``), both healthchecked; web waits for both
to be healthy (``depends_on: condition: service_healthy``). Through a real ``rivetr serve`` (builtin proxy) and on
the same engine:

* (a) deploy time, ``--rounds`` each, alternating which side goes first: Rivetr = ``POST /api/stacks`` +
  ``POST /api/stacks/{id}/deploy`` until the deployment is ``running``; reference = ``docker-compose up -d``
  (``podman-compose`` with ``--engine podman``) then polling ``inspect`` until every container runs and every
  healthcheck says ``healthy`` (``up --wait`` by hand: compose 1.29 has no ``--wait``). Both sides poll every
  50 ms. Medians and the ratio; target <= 1.2x.
* (b) a redeploy that changes only the routed service (web's page v1 -> v2) under load through Rivetr's proxy:
  ``--clients`` threads send requests (a new connection each) the whole time; failed requests (not 200 or an
  error) are counted, and each service's containers before/after are compared: only web's may change, 0 failed.

Ratios are printed, never asserted. Numbers on this shared 2-core machine drift; compare the ratios of one run.

    .venv/bin/python bench/stacks.py [--engine docker] [--rounds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Rivetr, shutdown_proxy  # noqa: E402
from tests.e2e.conftest import start_rivetr as start_e2e_rivetr  # noqa: E402
from tests.support.compose_reference import ReferenceProject, tool_env  # noqa: E402
from tests.support.engines import BASE_IMAGE  # noqa: E402
from tests.support.proxy import http_get  # noqa: E402

POLL = 0.05
WEB_PORT = 8080

COMPOSE = """
services:
  web:
    image: {base}
    command: ["sh", "-c", "mkdir -p /www && echo {version} > /www/index.html && exec httpd -f -p 8080 -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 2 127.0.0.1 8080 | grep -q '200 OK'"]
      interval: 1s
      timeout: 2s
      retries: 30
    depends_on:
      db:
        condition: service_healthy
      redis:
        condition: service_healthy
  worker:
    image: {base}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    environment:
      REDIS_HOST: redis
    depends_on: [redis]
  db:
    image: docker.io/library/postgres:16
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: app
      POSTGRES_PASSWORD: bench-only-password
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-d", "app"]
      interval: 1s
      timeout: 3s
      retries: 60
  redis:
    image: docker.io/library/redis:7
    command: redis-server --save ""
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      timeout: 2s
      retries: 30
volumes:
  pgdata:
"""


def compose(version: str) -> str:
    return COMPOSE.format(base=BASE_IMAGE, version=version)


def start_rivetr(engine: str, work: Path) -> Rivetr:
    return start_e2e_rivetr(engine, work / "server-data")


# ------------------------------------------------------------------------------------------------- rivetr side
def wait_deployment(rivetr: Rivetr, dep_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep = rivetr.deployment(dep_id)
        if dep["status"] == "running":
            return dep
        if dep["status"] in ("failed", "cancelled") or time.monotonic() > deadline:
            logs = rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()
            tail = "\n".join(x["line"] for x in logs[-30:])
            raise RuntimeError(f"stack deployment {dep['status']}: {dep.get('error')}\n{tail}")
        time.sleep(POLL)


def timeline(rivetr: Rivetr, dep_id: str, started: float) -> list[str]:
    """The deployment's log lines with their offset from ``started`` (a wall-clock time), to see where the time
    goes (the log names each service's start and health)."""
    from datetime import datetime

    out = []
    for entry in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json():
        ts = datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).timestamp()
        out.append(f"{ts - started:6.2f}s  {entry['line'][:100]}")
    return out


LAST_TIMELINE: list[str] = []


def deploy_stack(rivetr: Rivetr, stack_id: str) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/stacks/{stack_id}/deploy")
    response.raise_for_status()
    return wait_deployment(rivetr, response.json()["id"])


def ours_up(rivetr: Rivetr, name: str, domain: str) -> tuple[float, str]:
    started, wall = time.perf_counter(), time.time()
    response = rivetr.api.post(
        "/api/stacks",
        json={
            "name": name,
            "compose": compose("v1"),
            "domains": [{"domain": domain, "service": "web", "port": WEB_PORT}],
        },
    )
    response.raise_for_status()
    stack_id = response.json()["id"]
    dep = deploy_stack(rivetr, stack_id)
    seconds = time.perf_counter() - started
    LAST_TIMELINE[:] = timeline(rivetr, dep["id"], wall)
    return seconds, stack_id


def ours_down(rivetr: Rivetr, stack_id: str) -> None:
    rivetr.api.delete(f"/api/stacks/{stack_id}?volumes=true").raise_for_status()


# ---------------------------------------------------------------------------------------------- reference side
def all_ready(engine: str, project: str) -> bool:
    ids = subprocess.run(
        [engine, "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        env=tool_env(engine),
        check=True,
    ).stdout.split()
    if len(ids) < 4:
        return False
    docs = json.loads(
        subprocess.run(
            [engine, "inspect", "--type", "container", *ids],
            capture_output=True,
            text=True,
            env=tool_env(engine),
            check=True,
        ).stdout
    )
    for doc in docs:
        state = doc["State"]
        if state.get("Status") != "running":
            return False
        health = state.get("Health") or state.get("Healthcheck")
        if (doc["Config"].get("Healthcheck") or {}).get("Test") and (health or {}).get("Status") != "healthy":
            return False
    return True


def reference_up(engine: str, work: Path) -> tuple[float, ReferenceProject]:
    directory = work / f"ref-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    (directory / "compose.yaml").write_text(compose("v1"))
    project = ReferenceProject(engine, directory, f"bstkref{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    try:
        project.up()
        while not all_ready(engine, project.project):
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"{project.project} never got healthy")
            time.sleep(POLL)
    except BaseException:
        project.down()
        raise
    return time.perf_counter() - started, project


# ----------------------------------------------------------------------------------------------------- (a)
def bench_deploy(rivetr: Rivetr, work: Path, rounds: int) -> None:
    def ours_round(tag: str) -> float:
        name = f"bstk{tag}{uuid.uuid4().hex[:5]}"
        seconds, stack_id = ours_up(rivetr, name, f"{name}.bench.test")
        ours_down(rivetr, stack_id)
        return seconds

    def peer_round() -> float:
        seconds, project = reference_up(rivetr.engine, work)
        project.down()
        return seconds

    # Warm both paths once (images pulled from the local mirror, first network, page cache); not counted.
    ours_round("w")
    peer_round()
    ours: list[float] = []
    peer: list[float] = []
    for i in range(rounds):
        order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
        for side in order:
            if side == "ours":
                ours.append(ours_round(str(i)))
            else:
                peer.append(peer_round())
    o, p = statistics.median(ours), statistics.median(peer)
    tool = "docker-compose" if rivetr.engine == "docker" else "podman-compose"
    print(f"(a) deploy of a 4-service stack (warm images), {rounds} rounds each, alternating")
    print(f"    {'side':<34} {'median':>8}  all")
    print(f"    {'rivetr (create + deploy, running)':<34} {o:>7.2f}s  {', '.join(f'{x:.2f}' for x in ours)}")
    print(f"    {tool + ' up -d + wait healthy':<34} {p:>7.2f}s  {', '.join(f'{x:.2f}' for x in peer)}")
    print(f"    ratio rivetr/{tool}: {o / p:.2f}x (target <= 1.2x)")
    print("    rivetr's last deployment, log offsets from the create request:")
    for line in LAST_TIMELINE:
        print(f"      {line}")


# ----------------------------------------------------------------------------------------------------- (b)
class Load:
    """``clients`` threads fetching the routed page through the proxy, a new connection per request."""

    def __init__(self, port: int, host: str, clients: int) -> None:
        self.port, self.host = port, host
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.bodies: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                status, _, body = http_get(self.port, self.host, "/", timeout=10)
                key, ok = body.decode(errors="replace").strip(), status == 200
                if not ok:
                    key = f"HTTP {status}"
            except OSError as exc:
                key, ok = type(exc).__name__, False
            with self.lock:
                (self.bodies if ok else self.failures)[key] += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


def containers(rivetr: Rivetr, stack_id: str) -> dict[str, list[str]]:
    stack = rivetr.api.get(f"/api/stacks/{stack_id}").json()
    return {s["name"]: sorted(c["id"] for c in s["containers"]) for s in stack["services"]}


def bench_redeploy(rivetr: Rivetr, clients: int) -> None:
    name = f"bstkr{uuid.uuid4().hex[:5]}"
    domain = f"{name}.bench.test"
    _, stack_id = ours_up(rivetr, name, domain)
    try:
        deadline = time.monotonic() + 30
        while rivetr.fetch(domain) != (200, "v1\n"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{domain} never served v1")
            time.sleep(0.1)
        before = containers(rivetr, stack_id)
        with Load(rivetr.proxy_port, domain, clients) as load:
            time.sleep(2)  # load before the change
            rivetr.api.put(f"/api/stacks/{stack_id}", json={"compose": compose("v2")}).raise_for_status()
            started = time.perf_counter()
            dep = deploy_stack(rivetr, stack_id)
            redeploy = time.perf_counter() - started
            time.sleep(3)  # load after the switch, while the old web drains and goes
        after = containers(rivetr, stack_id)
        changed = sorted(svc for svc in before if before[svc] != after.get(svc))
        actions = {svc: info.get("action") for svc, info in dep["services"].items()}
        total = sum(load.bodies.values()) + sum(load.failures.values())
        print(f"(b) redeploy changing only web (v1 -> v2) under load: {clients} clients through the proxy")
        print(f"    {'redeploy (deploy -> running)':<30} {redeploy:.2f}s")
        print(f"    {'requests':<30} {total}  answers: {dict(load.bodies)}")
        print(f"    {'failed requests':<30} {sum(load.failures.values())}  {dict(load.failures) or ''}")
        print(f"    {'actions':<30} {actions}")
        print(f"    {'containers changed':<30} {changed}  (expected ['web'])")
        ok = changed == ["web"] and not load.failures
        print(f"    {'verdict':<30} {'OK' if ok else 'NOT OK'} (only web changed, 0 failed)")
    finally:
        ours_down(rivetr, stack_id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip-deploy", action="store_true")
    parser.add_argument("--skip-redeploy", action="store_true")
    args = parser.parse_args()
    # SIGTERM (a timeout, Ctrl-C's cousin) still runs the clean-up below: the server, its proxy and the stacks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-stacks-"))
    rivetr = start_rivetr(args.engine, work)
    try:
        print(f"engine: {args.engine}")
        if not args.skip_deploy:
            bench_deploy(rivetr, work, args.rounds)
        if not args.skip_redeploy:
            bench_redeploy(rivetr, args.clients)
    finally:
        rivetr.server.stop(timeout=15)
        rivetr.cleanup()
        shutdown_proxy(rivetr.server.data_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
