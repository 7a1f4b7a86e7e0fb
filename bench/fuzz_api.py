"""Benchmark-style long run (not a test): schemathesis over the whole API of a real ``rivetr serve``.

Starts a server (admin token, proxy off, rate limiter off, the container runtime it detects), runs
schemathesis with every phase (examples, coverage, fuzzing, stateful) and every check, and prints the number of
cases, the responses >= 500 and the failures of each check. ``tests/test_api_fuzz.py`` is the bounded variant.
Target (issue 14): >= 1,000 cases, 0 responses >= 500, 0 failures.

    .venv/bin/python bench/fuzz_api.py [--examples 100] [--seed N] [--workers 2] [--max-time SECONDS]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fuzz import run_fuzz
from tests.support.server import ADMIN_TOKEN, start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="max examples per operation and phase")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-time", type=float, default=None, help="time budget in seconds")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rivetr-fuzz-bench-") as tmp:
        server = start_server(Path(tmp) / "data", {"RIVETR_RATE_LIMIT__ENABLED": "false"}, timeout=60)
        started = time.monotonic()
        try:
            report = run_fuzz(
                server.url,
                ADMIN_TOKEN,
                max_examples=args.examples,
                seed=args.seed,
                workers=args.workers,
                max_time=args.max_time,
            )
        finally:
            server.stop()
            server.stop_proxy()
        elapsed = time.monotonic() - started
        server_log_errors = server.log().count("unhandled error")

    summary = {
        "seed": args.seed,
        "examples_per_operation": args.examples,
        "seconds": round(elapsed, 1),
        "cases": report.cases,
        "responses_5xx": len(report.server_errors),
        "unhandled_errors_in_server_log": server_log_errors,
        "failures_by_check": report.failure_counts(),
        "schemathesis_errors": len(report.errors),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report.describe())
        print()
        for key, value in summary.items():
            print(f"{key}: {value}")
    ok = report.cases >= 1000 and not report.server_errors and not report.failures and not report.errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
