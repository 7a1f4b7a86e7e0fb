"""Benchmark (not a test): deploying a pre-built image through Rivetr vs pull + run by hand (issue 19), peer in one run.

A small HTTP image (``localhost/rivetr-test/busybox:latest`` running ``httpd -f -p 8080`` serving one file) is
built and pushed once to the local registry on 127.0.0.1:5000, which both engines use as their Docker Hub mirror,
and referenced by its Docker Hub name (``docker.io/rivetrbench/httpd:<tag>``). Both sides then pull it warm (the
image is already present: the pull only checks the manifest). Through a real ``rivetr serve`` (builtin proxy) on
``--engine``, ``--runs`` rounds each, alternating which side goes first, after one untimed round of each:

* rivetr: a new image app (``"source": {"kind": "image", "image": ...}``, port 8080, one domain, the default
  health check) is created untimed; timed from ``POST /api/apps/{id}/deploy`` until the proxy answers 200 with
  the page for that domain (the pull, the container start, Rivetr's health check and the proxy switch).
* by hand: ``<engine> pull`` + ``<engine> run -d -p 127.0.0.1::8080`` + ``<engine> port`` and polling the published
  port until it answers 200.

Both sides poll every 20 ms. Reported: medians, the overhead (rivetr - by hand, target <= 0.5 s) and the ratio.
Numbers on this shared 2-core machine drift; compare the figures of one run. Never asserted.

    .venv/bin/python bench/image_deploy.py [--engine docker] [--runs 3]
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
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Rivetr, shutdown_proxy  # noqa: E402
from tests.e2e.conftest import start_rivetr as start_e2e_rivetr  # noqa: E402
from tests.support.engines import BASE_IMAGE  # noqa: E402
from tests.support.proxy import http_get  # noqa: E402

POLL = 0.02
PORT = 8080
PAGE = "hello from a pre-built image\n"
#: Pushed under this repository of the local registry; pulled by its Docker Hub name through the mirror.
REPOSITORY = "rivetrbench/httpd"
TARGET_OVERHEAD = 0.5


def start_rivetr(engine: str, work: Path) -> Rivetr:
    return start_e2e_rivetr(engine, work / "server-data")


def push_image(rivetr: Rivetr, work: Path, registry: str) -> str:
    """Build the HTTP image with dockerd (loopback registries are plain HTTP to it) and push it; returns the Docker
    Hub reference both engines pull through the mirror. The tag is the content's: repeated runs push nothing new."""
    context = work / "image"
    (context / "www").mkdir(parents=True)
    (context / "www" / "index.html").write_text(PAGE)
    (context / "Dockerfile").write_text(
        f'FROM {BASE_IMAGE}\nCOPY www /www\nEXPOSE {PORT}\nCMD ["httpd", "-f", "-p", "{PORT}", "-h", "/www"]\n'
    )
    tag = "bench1"
    pushed = f"{registry}/{REPOSITORY}:{tag}"
    subprocess.run(
        ["docker", "build", "-q", "-t", pushed, str(context)], capture_output=True, check=True, timeout=300
    )
    subprocess.run(["docker", "push", pushed], capture_output=True, check=True, timeout=300)
    subprocess.run(["docker", "rmi", pushed], capture_output=True, check=False, timeout=60)
    return f"docker.io/{REPOSITORY}:{tag}"


def wait_200(port: int, host: str, started: float, timeout: float = 120) -> float:
    while True:
        try:
            status, _, body = http_get(port, host, "/", timeout=5)
            if status == 200 and body.decode(errors="replace") == PAGE:
                return time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{host} on port {port} never answered 200 with the page")
        time.sleep(POLL)


# ------------------------------------------------------------------------------------------------- rivetr side
LAST_STEPS: dict[str, Any] = {}


def ours(rivetr: Rivetr, image: str) -> float:
    name = f"bimg{uuid.uuid4().hex[:8]}"
    domain = f"{name}.bench.test"
    response = rivetr.api.post(
        "/api/apps",
        json={"name": name, "source": {"kind": "image", "image": image}, "port": PORT, "domains": [domain]},
    )
    response.raise_for_status()
    app_id = response.json()["id"]
    try:
        started = time.perf_counter()
        deployed = rivetr.api.post(f"/api/apps/{app_id}/deploy")
        deployed.raise_for_status()
        seconds = wait_200(rivetr.proxy_port, domain, started)
        dep = rivetr.wait(deployed.json()["id"])
        if dep["status"] != "running":
            raise RuntimeError(f"deployment {dep['status']}: {dep.get('error')}")
        LAST_STEPS.clear()
        LAST_STEPS.update(dep.get("steps") or {})
        return seconds
    finally:
        rivetr.api.delete(f"/api/apps/{app_id}")


# --------------------------------------------------------------------------------------------- by-hand side
def by_hand(rivetr: Rivetr, image: str) -> float:
    name = f"bench-img-hand-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    try:
        rivetr.cli("pull", image)
        rivetr.cli("run", "-d", "--name", name, "-p", f"127.0.0.1::{PORT}", image)
        port = int(rivetr.cli("port", name, str(PORT)).split()[0].rsplit(":", 1)[1])
        return wait_200(port, "localhost", started)
    finally:
        subprocess.run(
            [rivetr.engine, "rm", "-f", name], capture_output=True, env=rivetr._cli_env(), timeout=60
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still runs the clean-up below
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-image-"))
    rivetr = start_rivetr(args.engine, work)
    image = ""
    try:
        image = push_image(rivetr, work, rivetr.env.get("REGISTRY") or "127.0.0.1:5000")
        # Untimed: the first pull from the registry into this engine, and a first round of each path.
        ours(rivetr, image)
        by_hand(rivetr, image)
        rivetr_times: list[float] = []
        hand_times: list[float] = []
        for i in range(args.runs):
            for side in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
                if side == "ours":
                    rivetr_times.append(ours(rivetr, image))
                else:
                    hand_times.append(by_hand(rivetr, image))
        o, h = statistics.median(rivetr_times), statistics.median(hand_times)
        print(f"engine: {args.engine}, runs: {args.runs}, image {image} (warm pull), alternating")
        print(f"    {'side':<46} {'median':>8}  all")
        print(
            f"    {'rivetr (deploy -> proxy 200, new image app)':<46} {o:>7.2f}s  "
            f"{', '.join(f'{x:.2f}' for x in rivetr_times)}"
        )
        print(
            f"    {f'by hand ({args.engine} pull + run -d + poll 200)':<46} {h:>7.2f}s  "
            f"{', '.join(f'{x:.2f}' for x in hand_times)}"
        )
        print(
            f"    overhead rivetr - by hand: {o - h:+.2f}s (target <= {TARGET_OVERHEAD}s); ratio {o / h:.2f}x"
        )
        steps = {k: v.get("duration_ms") for k, v in LAST_STEPS.items() if isinstance(v, dict)}
        print(f"    rivetr's last deployment steps (ms): {steps}")
        print(
            json.dumps(
                {
                    "bench": "image_deploy",
                    "engine": args.engine,
                    "runs": args.runs,
                    "rivetr_s": round(o, 3),
                    "by_hand_s": round(h, 3),
                    "overhead_s": round(o - h, 3),
                    "ratio": round(o / h, 3),
                    "target_overhead_s": TARGET_OVERHEAD,
                }
            )
        )
    finally:
        rivetr.server.stop(timeout=15)
        rivetr.cleanup()
        if image:  # pulled images carry no Rivetr labels: the instance clean-up leaves them
            subprocess.run(
                [args.engine, "rmi", image], capture_output=True, env=rivetr._cli_env(), timeout=60
            )
        shutdown_proxy(rivetr.server.data_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
