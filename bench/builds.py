"""Benchmark (not a test): zero-config builds (``builder-auto``) vs a hand-written Dockerfile (issue 19), peer in one run.

For each sample in ``tests/fixtures/apps/`` and the chosen ``--engine``, the sample is copied into a temporary git
repository (as the pipeline's clone would be, ``.git`` included) and built two ways from the same directory:

* rivetr: ``rivetr_builder_auto.AutoBuilder.build()`` with the engine's real runtime plugin (``DockerRuntime`` /
  ``PodmanRuntime`` on the engine's API socket) and a ``BuildRequest`` shaped like the pipeline's (the
  ``SOURCE_COMMIT`` build arg, the instance/app image labels, the app settings). Timed from the call to its last
  log line: detection, the generated Dockerfile, the base-image check, the context upload and the engine's build.
  No server and no deployment around it: the build step alone, nothing subtracted.
* peer: ``bench/builds/<sample>/Dockerfile``, an idiomatic cache-friendly Dockerfile (the same base images,
  manifests copied and dependencies installed before the source), built by the engine's CLI (``docker build`` /
  ``podman build -f ... <repo>``). Timed as the whole CLI process.

Cold: both images removed first, and no cache (``no_cache=True`` / ``--no-cache``). Warm: a code-only change
(one comment line appended to one source file, committed) and the cache on. Each round runs the pair in turn,
alternating which side goes first (A,B then B,A); medians over ``--runs``. Base images are present (warm pulls);
package installs read the stand-in images' offline wheelhouse / npm cache, so no network is involved.
Target: rivetr/peer <= 1.15x, cold and warm. Ratios are printed, never asserted; on this shared 2-core machine
absolute numbers drift, compare the ratios of one run.

    .venv/bin/python bench/builds.py [--engine docker] [--runs 3] [--sample go-http ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.engines import ensure_engines, make_runtime  # noqa: E402

if TYPE_CHECKING:
    from rivetr_core.contract import ContainerRuntime

SAMPLES_DIR = ROOT / "tests" / "fixtures" / "apps"
PEER_DIR = Path(__file__).resolve().parent / "builds"
#: The source file a "code-only change" appends a comment to, per sample.
CODE_FILES = {
    "fastapi-pyproject": "app/main.py",
    "flask-requirements": "app.py",
    "go-http": "main.go",
    "node-express": "server.js",
    "static-site": "index.html",
    "vite-static": "src/main.js",
}
COMMENT = {".py": "# {}", ".go": "// {}", ".js": "// {}", ".html": "<!-- {} -->"}
#: Image ids in build output: dockerd's legacy builder prints `` ---> 1a2b3c4d5e6f``, podman ``--> 1a2b3c4d5e6f``.
IMAGE_ID = re.compile(r"-{1,3}> ([0-9a-f]{12,64})\b")
STEP = re.compile(r"(?:\[(\d+)/\d+\] )?(?:Step|STEP) \d+/(\d+)")
TARGET = 1.15


def steps(lines: list[str]) -> int:
    """The step count a build log announces: dockerd numbers every stage together (``Step 3/14 :``), podman
    each stage apart (``[2/2] STEP 3/6:``)."""
    totals: dict[str, int] = {}
    for line in lines:
        found = STEP.search(line)
        if found:
            totals[found.group(1) or ""] = int(found.group(2))
    return sum(totals.values())


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def make_repo(sample: str, work: Path) -> Path:
    repo = work / sample
    shutil.copytree(SAMPLES_DIR / sample, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@rivetr.test")
    git(repo, "config", "user.name", "bench")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "sample")
    return repo


def code_change(repo: Path, sample: str, n: int) -> None:
    path = repo / CODE_FILES[sample]
    with path.open("a") as fh:
        fh.write(COMMENT[path.suffix].format(f"bench change {n} {uuid.uuid4().hex[:6]}") + "\n")
    git(repo, "commit", "-q", "-am", f"change {n}")


class Sides:
    """Both ways of building one sample on one engine; remembers what it made, for the clean-up."""

    def __init__(
        self, engine: str, runtime: ContainerRuntime, env: dict[str, str], sample: str, run_id: str
    ) -> None:
        self.engine, self.runtime, self.env, self.sample = engine, runtime, env, sample
        self.labels = {"rivetr.instance": f"bench-{run_id}", "rivetr.app": f"bench-{sample}"}
        self.rivetr_tag = f"localhost/rivetr-bench/{sample}-auto-{run_id}:latest"
        self.peer_tag = f"localhost/rivetr-bench/{sample}-peer-{run_id}:latest"
        self.peer_ids: list[str] = []
        self.port: str | None = None
        #: Build steps (instructions) each side's last build ran: the legacy builder commits one image per step.
        self.steps: dict[str, int] = {}

    def cli(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.engine, *args], capture_output=True, text=True, env=self.env, check=check, timeout=timeout
        )

    def remove_images(self) -> None:
        self.cli("rmi", "-f", self.rivetr_tag, self.peer_tag, check=False)

    def rivetr(self, repo: Path, *, no_cache: bool) -> float:
        from rivetr_builder_auto.builder import AutoBuilder

        from rivetr_core.contract import BuildRequest

        builder = AutoBuilder()

        def request() -> BuildRequest:
            return BuildRequest(
                source_dir=repo,
                tag=self.rivetr_tag,
                labels=self.labels,
                build_args={"SOURCE_COMMIT": git(repo, "rev-parse", "HEAD")},
                no_cache=no_cache,
                settings={
                    "install_command": None,
                    "build_command": None,
                    "start_command": None,
                    "base_image": None,
                    "port": self.port,
                },
            )

        if self.port is None:  # the pipeline passes the app's port: the one the detector picks by default
            self.port = str(builder.plan(repo, request())["port"])
        built = request()

        async def build() -> list[str]:
            return [line async for line in builder.build(built, self.runtime)]

        started = time.perf_counter()
        lines = asyncio.run(build())
        seconds = time.perf_counter() - started
        self.steps["rivetr"] = steps(lines)
        return seconds

    def peer(self, repo: Path, *, no_cache: bool) -> float:
        args = ["build", "-f", str(PEER_DIR / self.sample / "Dockerfile"), "-t", self.peer_tag]
        args += ["--no-cache"] if no_cache else []
        started = time.perf_counter()
        done = self.cli(*args, str(repo), check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.engine} build of {self.sample} failed:\n{done.stdout[-3000:]}{done.stderr}"
            )
        self.peer_ids += IMAGE_ID.findall(done.stdout + done.stderr)
        self.steps["peer"] = steps((done.stdout + done.stderr).splitlines())
        return seconds

    def cleanup(self) -> None:
        """This run's images only: the rivetr side's by label (every stage carries it), the peer's tag, then
        the untagged images its builds printed (stages, intermediates) that nothing else uses: ``rmi`` without
        ``-f`` refuses an image with children or a container, and tagged ones (base images) are skipped."""
        self.remove_images()
        # A second pass: dockerd refuses a parent listed before its child in the same rmi.
        for _ in range(2):
            labelled = self.cli(
                "images",
                "-a",
                "-q",
                "--filter",
                f"label=rivetr.instance={self.labels['rivetr.instance']}",
                check=False,
            ).stdout.split()
            if labelled:
                self.cli("rmi", "-f", *sorted(set(labelled)), check=False)
        for image_id in reversed(list(dict.fromkeys(self.peer_ids))):
            tags = self.cli("image", "inspect", "--format", "{{json .RepoTags}}", image_id, check=False)
            if tags.returncode == 0 and not json.loads(tags.stdout.strip() or "[]"):
                self.cli("rmi", image_id, check=False)


def bench_sample(sides: Sides, repo: Path, runs: int, retries: int = 2) -> dict[str, list[float]]:
    from rivetr_core.contract import BuildFailed

    times: dict[str, list[float]] = {"rivetr_cold": [], "peer_cold": [], "rivetr_warm": [], "peer_warm": []}
    build: dict[str, Callable[..., float]] = {"rivetr": sides.rivetr, "peer": sides.peer}
    # Untimed warm-up of both paths: page cache, the runtime's first API connection, the base images' layers.
    sides.rivetr(repo, no_cache=False)
    sides.peer(repo, no_cache=False)
    for i in range(runs):
        order = ("rivetr", "peer") if i % 2 == 0 else ("peer", "rivetr")
        for attempt in range(retries + 1):
            # A round counts whole or not at all: a build killed from outside (exit 137 while other work shares
            # the engine) is redone with its pair, never left out of one side only.
            got: dict[str, float] = {}
            try:
                sides.remove_images()
                for side in order:
                    got[f"{side}_cold"] = build[side](repo, no_cache=True)
                code_change(repo, sides.sample, i * 10 + attempt)
                for side in order:
                    got[f"{side}_warm"] = build[side](repo, no_cache=False)
                break
            except (BuildFailed, RuntimeError) as exc:
                if attempt == retries:
                    raise
                print(f"    {sides.sample} round {i + 1} failed, redone: {str(exc)[-300:]}", flush=True)
        for key, seconds in got.items():
            times[key].append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", action="append", choices=sorted(CODE_FILES), help="default: all")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still runs the clean-up below
    env_values = ensure_engines()  # exports CONTAINERS_CONF / CONTAINERS_REGISTRIES_CONF for podman's CLI
    env = dict(os.environ)
    runtime = make_runtime(args.engine, env_values)
    run_id = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-builds-"))
    samples = args.sample or sorted(CODE_FILES)
    results: dict[str, dict[str, float]] = {}
    failed: dict[str, str] = {}
    print(
        f"engine: {args.engine}, runs: {args.runs}; rivetr = AutoBuilder.build() with the {args.engine} runtime "
        f"plugin (build step only), peer = `{args.engine} build` of bench/builds/<sample>/Dockerfile"
    )
    print(
        f"{'sample':<20} {'cold rivetr':>11} {'cold peer':>10} {'ratio':>6}   "
        f"{'warm rivetr':>11} {'warm peer':>10} {'ratio':>6}"
    )
    try:
        for sample in samples:
            sides = Sides(args.engine, runtime, env, sample, run_id)
            try:
                times = bench_sample(sides, make_repo(sample, work), args.runs)
            except Exception as exc:  # one sample's failure must not lose the others' figures
                failed[sample] = str(exc)[-500:]
                print(f"{sample:<20} FAILED: {failed[sample]}", flush=True)
                continue
            finally:
                sides.cleanup()
            med = {key: statistics.median(values) for key, values in times.items()}
            row = {
                **med,
                "steps_rivetr": sides.steps.get("rivetr", 0),
                "steps_peer": sides.steps.get("peer", 0),
                "cold_ratio": med["rivetr_cold"] / med["peer_cold"],
                "warm_ratio": med["rivetr_warm"] / med["peer_warm"],
            }
            results[sample] = row
            print(
                f"{sample:<20} {row['rivetr_cold']:>10.2f}s {row['peer_cold']:>9.2f}s {row['cold_ratio']:>5.2f}x   "
                f"{row['rivetr_warm']:>10.2f}s {row['peer_warm']:>9.2f}s {row['warm_ratio']:>5.2f}x",
                flush=True,
            )
            print(
                f"{'':<20} steps rivetr {sides.steps.get('rivetr')} peer {sides.steps.get('peer')}; all: "
                + "; ".join(
                    f"{key} {', '.join(f'{x:.2f}' for x in values)}" for key, values in times.items()
                ),
                flush=True,
            )
    finally:
        asyncio.run(runtime.close())
        shutil.rmtree(work, ignore_errors=True)
    worst_sample, worst = max(
        ((s, max(r["cold_ratio"], r["warm_ratio"])) for s, r in results.items()),
        key=lambda x: x[1],
        default=("-", float("nan")),
    )
    print(f"worst ratio rivetr/peer: {worst:.2f}x ({worst_sample}); target <= {TARGET}x")
    if failed:
        print(f"failed samples: {', '.join(failed)}")
    summary: dict[str, Any] = {
        "bench": "builds",
        "engine": args.engine,
        "runs": args.runs,
        "samples": {s: {k: round(v, 3) for k, v in r.items()} for s, r in results.items()},
        "worst_ratio": round(worst, 3) if results else None,
        "failed": failed,
        "target": TARGET,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
