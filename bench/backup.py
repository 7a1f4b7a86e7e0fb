"""Benchmark (not a test): volume backup and restore through the backup worker vs tar | zstd / gzip by hand (issue 16).

Makes a directory of ``--size-mib`` MiB of mixed files (a few big random and text files, thousands of small ones,
some text, some random), then in the same run, each side ``--rounds`` times, alternating which goes first:

* (a) backup, codec zst: ``run_worker({"op": "backup", ...})`` to a local destination vs
  ``tar -C dir -cf - . | zstd -3 -q > file``, and that followed by ``sync file`` (our local store fsyncs the
  archive before it reports success, so that peer does the same work; each side starts after a ``sync``);
* (b) backup, codec gz: the same vs ``tar -C dir -cf - . | gzip > file``;
* (c) restore: ``stage`` + ``swap`` of our zst archive into an empty directory vs
  ``zstd -dc file | tar -C dir2 -xf -`` (and the gz pair).

It prints each side's median seconds and MB/s and the ratio ours/peer throughput (target >= 0.8), and the RSS
growth of this process (the parent: it only runs the runner, as the control plane does) sampled with psutil every
50 ms during our backups (target <= 30 MB). Then (unless ``--no-server``) the same through a real ``rivetr serve``
on dockerd: an app whose named volume holds the dataset is backed up through ``POST /api/apps/{id}/backups`` while
the server's own RSS is sampled; that growth is the control plane's. The data is read from the page cache by both sides alike (the first,
untimed pass warms it). Numbers on this shared 2-core machine drift; compare the ratios of one run.

    .venv/bin/python bench/backup.py [--size-mib 1024] [--rounds 3] [--workdir /var/tmp]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rivetr_core.backup.runner import run_worker

WORDS = [f"{w}{i}" for i in range(2000) for w in ("alpha", "beta", "gamma", "delta")]


def text_block(rng: random.Random, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += (" ".join(rng.choices(WORDS, k=200)) + "\n").encode()
    return bytes(out[:size])


def make_dataset(root: Path, size_mib: int) -> tuple[int, int]:
    """~40% big random files, ~30% big text files, ~30% small files (half text, half random)."""
    rng = random.Random(16)
    total = size_mib << 20
    root.mkdir(parents=True)
    files = 0
    text_pool = text_block(rng, 8 << 20)
    for i in range(4):
        with open(root / f"random-{i}.bin", "wb") as fh:
            for _ in range(int(total * 0.10) >> 20):
                fh.write(os.urandom(1 << 20))
        files += 1
    for i in range(3):
        with open(root / f"log-{i}.txt", "wb") as fh:
            for _ in range(int(total * 0.10) >> 20):
                start = rng.randrange(0, len(text_pool) - (1 << 20))
                fh.write(text_pool[start : start + (1 << 20)])
        files += 1
    small_budget, used, d = int(total * 0.30), 0, 0
    while used < small_budget:
        sub = root / "small" / f"{d // 200:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1 << 10, 96 << 10)
        if d % 2:
            data = os.urandom(size)
        else:
            start = rng.randrange(0, len(text_pool) - size)
            data = text_pool[start : start + size]
        (sub / f"f{d}.dat").write_bytes(data)
        used += size
        d += 1
        files += 1
    return files, sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def shell(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True)


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def with_rss(fn: Callable[[], Awaitable[object]]) -> tuple[float, int]:
    """Seconds taken and the peak RSS growth of this process (sampled every 50 ms) while ``fn`` runs."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        seconds = await timed(fn)
    finally:
        done.set()
        await sampler
    return seconds, peak - base


def reset(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default="/var/tmp")
    parser.add_argument(
        "--no-server", action="store_true", help="skip the backup through a real rivetr serve"
    )
    args = parser.parse_args()
    for tool in ("tar", "zstd", "gzip"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed for the peer side")
    work = Path(tempfile.mkdtemp(prefix="rivetr-bench-backup-", dir=args.workdir))
    try:
        src, dest, out = work / "volume", work / "dest", work / "restore"
        t0 = time.perf_counter()
        files, size = make_dataset(src, args.size_mib)
        print(f"dataset: {size / 2**20:.0f} MiB in {files} files ({time.perf_counter() - t0:.1f} s to make)")
        dest.mkdir()
        destination = {"kind": "local", "path": str(dest)}
        shell(
            f"tar -C {src} -cf - . > /dev/null; cat $(find {src} -type f) > /dev/null"
        )  # warm the page cache
        results: dict[str, dict[str, list[float]]] = {}
        rss: list[int] = []
        sources = [{"name": "data", "path": str(src)}]
        peers = {"zst": "zstd -3 -q", "gz": "gzip"}
        unpack = {"zst": "zstd -dc", "gz": "gzip -dc"}

        for rnd in range(args.rounds):
            for codec in ("zst", "gz"):
                key = f"ours.tar.{codec}"

                async def ours(codec: str = codec, key: str = key) -> None:
                    await run_worker(
                        {
                            "op": "backup",
                            "destination": destination,
                            "key": key,
                            "codec": codec,
                            "sources": sources,
                        }
                    )

                async def peer(codec: str = codec) -> None:
                    await asyncio.to_thread(
                        shell, f"tar -C {src} -cf - . | {peers[codec]} > {dest}/peer.tar.{codec}"
                    )

                async def peer_synced(codec: str = codec) -> None:
                    # what our local store does before it reports success: the archive is on disk (fsync)
                    await asyncio.to_thread(
                        shell,
                        f"tar -C {src} -cf - . | {peers[codec]} > {dest}/peer.tar.{codec}; sync {dest}/peer.tar.{codec}",
                    )

                row = results.setdefault(f"backup {codec}", {"ours": [], "peer": [], "peer+fsync": []})
                sides: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                    ("ours", ours),
                    ("peer", peer),
                    ("peer+fsync", peer_synced),
                ]
                for side, fn in sides if rnd % 2 == 0 else reversed(sides):
                    # the previous side's archive still being written back must not slow this one down
                    shell("sync")
                    if side == "ours":
                        seconds, grown = await with_rss(fn)
                        rss.append(grown)
                    else:
                        seconds = await timed(fn)
                    row[side].append(seconds)

                async def our_restore(key: str = key) -> None:
                    reset(out)
                    targets = [{"name": "data", "path": str(out)}]
                    staged = await run_worker(
                        {"op": "stage", "destination": destination, "key": key, "targets": targets}
                    )
                    await run_worker({"op": "swap", "token": staged["token"], "targets": targets})

                async def peer_restore(codec: str = codec) -> None:
                    reset(out)
                    await asyncio.to_thread(
                        shell, f"{unpack[codec]} {dest}/peer.tar.{codec} | tar -C {out} -xf -"
                    )

                row = results.setdefault(f"restore {codec}", {"ours": [], "peer": []})
                steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                    ("ours", our_restore),
                    ("peer", peer_restore),
                ]
                for side, fn in steps if rnd % 2 == 0 else reversed(steps):
                    shell("sync")  # each side starts with the previous side's writes on disk
                    row[side].append(await timed(fn))
            sizes = {p.name: p.stat().st_size for p in dest.iterdir()}
            print(f"round {rnd + 1}: archive sizes {sizes}")

        mib = size / 2**20
        print(f"\n{'case':<12} {'ours s':>8} {'peer s':>8} {'ours MB/s':>10} {'peer MB/s':>10} {'ratio':>6}")
        for case, row in results.items():
            ours_s, peer_s = statistics.median(row["ours"]), statistics.median(row["peer"])
            ratio = peer_s / ours_s
            flag = "" if ratio >= 0.8 else "  < 0.8 target"
            print(
                f"{case:<12} {ours_s:>8.2f} {peer_s:>8.2f} {mib / ours_s:>10.0f} {mib / peer_s:>10.0f} {ratio:>6.2f}{flag}"
            )
            if row.get("peer+fsync"):
                synced = statistics.median(row["peer+fsync"])
                print(f"{'  vs +fsync':<12} {ours_s:>8.2f} {synced:>8.2f} {mib / ours_s:>10.0f} "
                      f"{mib / synced:>10.0f} {synced / ours_s:>6.2f}")  # fmt: skip
        print(
            f"\nparent RSS growth during our backups (psutil, every 50 ms): max {max(rss) / 2**20:.1f} MB "
            f"(target <= 30 MB); per run: {', '.join(f'{r / 2**20:.1f}' for r in rss)}"
        )
        if not args.no_server:
            through_server(src, size, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def through_server(src: Path, size: int, work: Path) -> None:
    """One backup of the dataset through a real server's API (dockerd, a local destination), sampling the
    server's RSS every 50 ms: the control plane's growth while gigabytes stream through its worker."""
    import docker
    import httpx

    from tests.support.server import start_server

    client = docker.from_env()
    server = start_server(work / "server-data", {"RIVETR_RUNTIME__RUNTIME_TYPE": "docker"}, timeout=60)
    volume_name = None
    try:
        api = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30
        )
        app = api.post(
            "/api/apps", json={"name": "bench-backup", "git_url": "https://git.example/b.git"}
        ).json()
        api.post(
            f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"}
        ).raise_for_status()
        volume_name = f"rivetr-{app['id']}-data"
        mountpoint = client.volumes.create(volume_name).attrs["Mountpoint"]
        shell(f"cp -a {src}/. {mountpoint}/")
        (work / "server-dest").mkdir()
        dest = api.post(
            "/api/backup-destinations",
            json={"name": "bench", "kind": "local", "path": str(work / "server-dest")},
        ).json()
        proc = psutil.Process(server.proc.pid)
        before = proc.memory_info().rss
        shell("sync")
        started = time.perf_counter()
        run = api.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]}).json()
        peak = before
        while True:
            peak = max(peak, proc.memory_info().rss)
            row = api.get(f"/api/backups/{run['id']}").json()
            if row["status"] != "running":
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        print(
            f"\nthrough rivetr serve (dockerd volume, local destination): {row['status']} in {seconds:.2f} s "
            f"({size / 2**20 / seconds:.0f} MB/s end to end, API call to recorded row); server RSS "
            f"{before / 2**20:.1f} MB before, peak {peak / 2**20:.1f} MB: growth {(peak - before) / 2**20:.1f} MB "
            "(target <= 30 MB)"
        )
    finally:
        server.stop()
        if volume_name:
            client.volumes.get(volume_name).remove(force=True)


if __name__ == "__main__":
    asyncio.run(main())
