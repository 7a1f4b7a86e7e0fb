"""Benchmark: container stats for N containers, in parallel (``stats_many``) vs one by one (``stats``).

Not a test. Starts N busybox containers on each engine (default 20), times both ways, prints the numbers and
the ratio, and removes the containers. Needs the engines: ``scripts/engines.sh ensure`` (run by this script).

    .venv/bin/python bench/runtime_stats.py [--containers 20] [--rounds 3] [--engines docker,podman]

Target: parallel stats of 20 containers on Docker in <= 2 s (dockerd needs ~1 s per container sequentially).
On podman the first call per container takes two samples (CPU % needs a baseline), so cold and warm (baseline
already taken) calls are both reported.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from rivetr_core.contract import RunSpec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.engines import BASE_IMAGE, EngineEnv, ensure_engines, make_runtime, remove_labelled  # noqa: E402


async def timed(coro) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


async def bench_engine(engine: str, env: EngineEnv, count: int, rounds: int) -> dict[str, float]:
    runtime = make_runtime(engine, env)
    label = {"rivetr.bench": uuid.uuid4().hex[:8]}
    try:
        started = time.perf_counter()
        infos = await asyncio.gather(
            *(
                runtime.run(
                    RunSpec(
                        image=BASE_IMAGE,
                        name=f"rivetr-bench-{label['rivetr.bench']}-{i}",
                        labels=label,
                        command=["sleep", "600"],
                    )
                )
                for i in range(count)
            )
        )
        ids = [info.id for info in infos]
        print(f"{engine}: started {count} containers in {time.perf_counter() - started:.2f} s")

        async def sequential() -> None:
            for cid in ids:
                await runtime.stats(cid)

        def drop_baselines() -> None:
            getattr(runtime, "_cpu_baseline", {}).clear()

        results: dict[str, list[float]] = {"parallel": [], "sequential": [], "parallel_warm": []}
        for _ in range(rounds):
            drop_baselines()
            results["parallel"].append(await timed(runtime.stats_many(ids)))
            results["parallel_warm"].append(await timed(runtime.stats_many(ids)))
            drop_baselines()
            results["sequential"].append(await timed(sequential()))
        medians = {key: statistics.median(values) for key, values in results.items()}
        ratio = medians["sequential"] / medians["parallel"]
        print(
            f"{engine}: stats of {count} containers, median of {rounds}: "
            f"parallel {medians['parallel']:.2f} s (warm {medians['parallel_warm']:.2f} s), "
            f"one by one {medians['sequential']:.2f} s, ratio {ratio:.1f}x"
        )
        return {**medians, "ratio": ratio}
    finally:
        await remove_labelled(runtime, label)
        await runtime.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="docker,podman")
    args = parser.parse_args()
    env = ensure_engines()
    summary = {}
    for engine in args.engines.split(","):
        summary[engine] = await bench_engine(engine, env, args.containers, args.rounds)
    if "docker" in summary:
        verdict = "OK" if summary["docker"]["parallel"] <= 2.0 else "ABOVE TARGET"
        print(f"docker parallel target <= 2.0 s: {summary['docker']['parallel']:.2f} s {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
