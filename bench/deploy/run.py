"""Deploy benchmark (not a test): wall time of a redeploy of the busybox app with a warm build cache.

    .venv/bin/python bench/deploy/run.py [--engine docker|podman] [--runs 5]

Starts a real ``rivetr serve`` (builtin proxy on a free port, the chosen engine) and a ``git daemon`` with the
busybox test app, deploys once to warm the build cache, then redeploys ``--runs`` times, each after pushing a
one-line change (so clone and the final COPY layer are real work, the base layers cached). For each run it
prints the per-step split recorded by the pipeline (clone, build, start, health, switch, drain), the time
until the new version is live (end of the switch), the total from the API request to the end of the drain
(old container stopped and removed), the time spent between steps (queue, status writes, events), and the
pipeline overhead = total - build - health (targets:
overhead ≤ 0.5 s, total ≤ 3 s). Medians at the end.

Peer, in the same run and on the same engine and repository: ``shell_peer.py``, the redeploy as a shell script
(the Dokku way) does it with the engine's CLI — clone, build, run with a published port, poll, stop and rm the
old container — with no proxy switch and no bookkeeping. Ratios are Rivetr / peer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.deploy.shell_peer import ShellDeploy  # noqa: E402
from bench.startup import rss_mb  # noqa: E402
from tests.e2e.conftest import Rivetr, ensure_engine, shutdown_proxy  # noqa: E402
from tests.support.gitserver import GitServer  # noqa: E402
from tests.support.proxy import free_port  # noqa: E402
from tests.support.server import start_server  # noqa: E402

STEPS = ("clone", "build", "start", "health", "switch", "drain")


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="docker", choices=["docker", "podman"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    values = ensure_engine(args.engine)
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-deploy-"))
    git = GitServer(work / "git")
    git.start()
    proxy_port = free_port()
    socket_key = (
        "RIVETR_RUNTIME__DOCKER_SOCKET" if args.engine == "docker" else "RIVETR_RUNTIME__PODMAN_SOCKET"
    )
    env = {
        "RIVETR_PROXY__ENABLED": "true",
        "RIVETR_SERVER__PROXY_PORT": str(proxy_port),
        "RIVETR_RUNTIME__RUNTIME_TYPE": args.engine,
        socket_key: values["DOCKER_SOCKET" if args.engine == "docker" else "PODMAN_SOCKET"],
        "RIVETR_RATE_LIMIT__ENABLED": "false",
        "RIVETR_LOGGING__LEVEL": "WARNING",
        **({"CONTAINERS_CONF": values["CONTAINERS_CONF"]} if values.get("CONTAINERS_CONF") else {}),
    }
    server = start_server(work / "data", env, timeout=60)
    rivetr = Rivetr(server, args.engine, proxy_port, values)
    try:
        repo = git.create_repo("bench")
        app = rivetr.create_app(repo, "bench")
        rivetr.deploy_and_wait(app["id"])  # warms the build cache
        rows = []
        for n in range(args.runs):
            repo.write("www/index.html", f"bench run {n}\n")
            repo.commit(f"run {n}")
            started = time.time()
            dep = rivetr.deploy(app["id"])
            done = rivetr.wait(dep["id"])
            assert done["status"] == "running", done
            while "drain" not in done["steps"] or "finished_at" not in done["steps"]["drain"]:
                time.sleep(0.01)
                done = rivetr.deployment(dep["id"])
            rivetr.wait_content("bench.e2e.test", f"bench run {n}\n")
            total = _ts(done["steps"]["drain"]["finished_at"]) - _ts(done["created_at"])
            live = _ts(done["steps"]["switch"]["finished_at"]) - _ts(done["created_at"])
            split = {s: done["steps"][s]["duration_ms"] / 1000 for s in STEPS}
            overhead = total - split["build"] - split["health"]
            between = total - sum(split.values())  # queueing, DB writes, events: Rivetr's own bookkeeping
            rows.append(
                {
                    **split,
                    "total": total,
                    "overhead": overhead,
                    "live": live,
                    "between steps": between,
                    "client": time.time() - started,
                    "rss": rss_mb(server.proc.pid),
                }
            )
            print(
                f"run {n}: "
                + "  ".join(f"{s} {split[s]:.3f}" for s in STEPS)
                + f"  | live {live:.3f}s total {total:.3f}s overhead {overhead:.3f}s"
                + f"  | RSS {rows[-1]['rss']:.1f} MB"
            )
        print(f"\nmedian over {args.runs} redeploys ({args.engine}, warm build cache):")
        for key in (*STEPS, "between steps", "live", "total", "overhead"):
            print(f"  {key:13s} {statistics.median(r[key] for r in rows):.3f} s")
        print("targets: overhead <= 0.5 s, total <= 3 s")
        # Memory in use rather than at an empty start (bench/startup.py): after deploying, with the app up.
        time.sleep(10)
        rss = rss_mb(server.proc.pid)
        print(f"control-plane RSS 10 s after the last redeploy (1 app running): {rss:.1f} MB")
        if len(rows) > 2:  # growth over the runs after the first two (steady state: should be ~0, no leak)
            grown = rows[-1]["rss"] - rows[1]["rss"]
            print(
                f"RSS growth from redeploy 2 to {len(rows)}: {grown:+.1f} MB ({grown / (len(rows) - 2):+.2f} MB each)"
            )
        rivetr.api.delete(f"/api/apps/{app['id']}")
        peer_rows = run_peer(args.engine, values, repo, args.runs)
        print(f"\npeer: shell deploy with the {args.engine} CLI (median over {args.runs}; Rivetr / peer):")
        for key in ("clone", "build", "start", "health", "drain", "total", "overhead"):
            ours = statistics.median(r[key] for r in rows)
            theirs = statistics.median(r[key] for r in peer_rows)
            print(f"  {key:13s} {theirs:.3f} s   ratio {ours / theirs:.2f}")
    finally:
        server.stop()
        rivetr.cleanup()
        shutdown_proxy(server.data_dir)
        git.stop()
    return 0


def run_peer(engine: str, values: dict[str, str], repo: object, runs: int) -> list[dict[str, float]]:
    peer = ShellDeploy(engine, values, repo.url)  # type: ignore[attr-defined]
    try:
        peer.deploy("warm")  # warms the build cache, like Rivetr's first deploy
        rows = []
        for n in range(runs):
            repo.write("www/index.html", f"peer run {n}\n")  # type: ignore[attr-defined]
            repo.commit(f"peer run {n}")  # type: ignore[attr-defined]
            rows.append(peer.deploy(n))
        return rows
    finally:
        peer.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
