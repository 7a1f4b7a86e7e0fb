"""The long variant of the fault tests: ``kill -9`` of the control plane at random points of many deployments
in a row, on both engines (``tests/e2e/test_faults.py``, which runs 10 per engine in the suite).

    .venv/bin/python bench/faults.py --rounds 50 --seed 7

Prints each engine's outcome; a failure names the round and the kill points (delay/status) that led to it, and
the same ``--seed`` replays them. Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=50, help="deployments killed in a row, per engine")
    parser.add_argument("--seed", type=int, default=1414, help="seed of the kill points")
    parser.add_argument("--engine", choices=("docker", "podman", "both"), default="both")
    args = parser.parse_args()
    selector = "kill_9" if args.engine == "both" else f"kill_9 and {args.engine}"
    env = {**os.environ, "RIVETR_FAULT_ROUNDS": str(args.rounds), "RIVETR_FAULT_SEED": str(args.seed)}
    command = [
        sys.executable, "-m", "pytest", "tests/e2e/test_faults.py", "-k", selector,
        "-p", "no:cacheprovider", "-q", "-o", "timeout=0", "-rA",
    ]  # fmt: skip
    print(f"kill -9 at random points of {args.rounds} deployments per engine (seed {args.seed})", flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main())
