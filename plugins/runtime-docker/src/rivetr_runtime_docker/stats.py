"""Container stats: one-shot engine samples fetched in parallel, CPU % from two samples of a container."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker

from rivetr_core.contract import ContainerNotFound, ContainerStats

from .engine import EngineClient, parse_time


def memory_usage(raw: Mapping[str, Any]) -> tuple[int, int]:
    """``(used, limit)`` bytes of a raw sample; used excludes reclaimable page cache."""
    memory = raw.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    # Page cache is reclaimable; docker CLI subtracts inactive_file (cgroup v2) / total_inactive_file (v1).
    cache = details.get("total_inactive_file", details.get("inactive_file", 0)) or 0
    return max(0, usage - int(cache)), int(memory.get("limit") or 0)


def network_usage(raw: Mapping[str, Any]) -> tuple[int, int]:
    """``(received, sent)`` bytes of a raw sample, summed over the container's networks."""
    networks = raw.get("networks") or {}
    rx = sum(int(n.get("rx_bytes") or 0) for n in networks.values())
    tx = sum(int(n.get("tx_bytes") or 0) for n in networks.values())
    return rx, tx


class StatsMixin(EngineClient):
    """The ``stats`` / ``stats_many`` part of the runtime Protocol."""

    #: Extension point: pause between the two samples of a container without CPU baseline. dockerd's one-shot
    #: sample waits for its next collection tick (1 s) by itself, so no extra pause is needed; an engine that
    #: answers at once from counters moving in ~10 ms steps (podman) needs a real gap.
    CPU_SAMPLE_INTERVAL = 0.0
    #: A previous sample younger than this serves as the CPU baseline.
    BASELINE_MAX_AGE = 60.0
    #: Shortest window CPU % is computed over (shorter ones report the last value); ≤ CPU_SAMPLE_INTERVAL.
    MIN_CPU_WINDOW = 0.2

    def _stats_from(self, container_id: str, raw: Mapping[str, Any]) -> ContainerStats:
        """One raw sample → stats; CPU % from the engine's own ``precpu_stats`` when it sent them."""
        cpu = raw.get("cpu_stats") or {}
        pre = raw.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
            "total_usage", 0
        )
        system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
        online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
        percent = 0.0
        if pre.get("system_cpu_usage") and system_delta > 0 and cpu_delta > 0:
            percent = cpu_delta / system_delta * online * 100.0
        used, limit = memory_usage(raw)
        rx, tx = network_usage(raw)
        return ContainerStats(
            container_id=container_id,
            cpu_percent=round(percent, 3),
            memory_used=used,
            memory_limit=limit,
            net_rx=rx,
            net_tx=tx,
            ts=parse_time(raw.get("read")) or datetime.now(UTC),
        )

    def _raw_stats(self, container_id: str) -> dict[str, Any]:
        api = self._api()
        if docker.utils.version_lt(api._version, "1.41"):
            return api.stats(container_id, stream=False)
        # one-shot: the next collector tick only (without it dockerd waits two ticks, ~2 s, to fill precpu);
        # CPU % then comes from the previous sample kept in _cpu_baseline.
        return api.stats(container_id, stream=False, one_shot=True)

    def _with_cpu(self, container_id: str, raw: Mapping[str, Any], received: float) -> ContainerStats:
        """Stats with CPU % = CPU time used since the container's previous sample / wall time between them
        (a share of one CPU, as ``docker stats`` shows it). Updates the baseline."""
        stats = self._stats_from(container_id, raw)
        total = int(((raw.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0)
        read = parse_time(raw.get("read"))
        when = read.timestamp() if read else received
        previous = self._cpu_baseline.get(container_id)
        if previous is not None:
            before, then, last_percent = previous
            if when - then < self.MIN_CPU_WINDOW:
                # The same engine sample again (one collector tick), or a window too short to measure: cgroup
                # CPU counters move in ~10 ms steps, so 30 ms apart can read 120% of a half-CPU cap. Report
                # the last value and keep the older baseline, so the next window is long enough.
                stats.cpu_percent = last_percent
                return stats
            if total >= before:
                stats.cpu_percent = round((total - before) / ((when - then) * 1e9) * 100.0, 3)
        self._cpu_baseline[container_id] = (total, when, stats.cpu_percent)
        return stats

    async def _sample(self, container_ids: list[str]) -> dict[str, tuple[dict[str, Any], float]]:
        async def one(cid: str) -> tuple[dict[str, Any], float]:
            raw = await self._call(self._raw_stats, cid, container=cid)
            return raw, time.time()

        results = await asyncio.gather(*(one(cid) for cid in container_ids), return_exceptions=True)
        out: dict[str, tuple[dict[str, Any], float]] = {}
        for cid, result in zip(container_ids, results, strict=True):
            if isinstance(result, ContainerNotFound):
                self._cpu_baseline.pop(cid, None)
                continue
            if isinstance(result, BaseException):
                raise result
            out[cid] = result
        return out

    async def stats_many(self, container_ids: list[str]) -> dict[str, ContainerStats]:
        """Stats of many containers, fetched in parallel; containers that no longer exist are left out.

        CPU % needs two samples: containers without a recent one (``BASELINE_MAX_AGE``) are sampled first,
        all at once, and the call waits ``CPU_SAMPLE_INTERVAL`` once; a caller polling every few seconds
        (the dashboard) pays for one sample only."""
        now = time.time()
        for cid, (_, when, _) in list(self._cpu_baseline.items()):
            if now - when > self.BASELINE_MAX_AGE:
                del self._cpu_baseline[cid]
        cold = [cid for cid in container_ids if cid not in self._cpu_baseline]
        if cold:
            for cid, (raw, received) in (await self._sample(cold)).items():
                self._with_cpu(cid, raw, received)
            await asyncio.sleep(self.CPU_SAMPLE_INTERVAL)
        samples = await self._sample(container_ids)
        return {cid: self._with_cpu(cid, raw, received) for cid, (raw, received) in samples.items()}

    async def stats(self, container_id: str) -> ContainerStats:
        """One container's stats (see :meth:`stats_many` for how CPU % is measured)."""
        found = await self.stats_many([container_id])
        if container_id not in found:
            raise ContainerNotFound(f"container {container_id} not found in {self.name}")
        return found[container_id]
