"""RIVETR_PROXY_GC_STATS: a worker under real traffic writes its collector pause summary when it exits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.proxy import http_get, wait_until


def test_worker_writes_gc_pause_summary(
    proxy_factory: Any, backend_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "gc"
    monkeypatch.setenv("RIVETR_PROXY_GC_STATS", str(prefix))  # inherited by the master and its workers
    backend = backend_factory("a")
    proxy = proxy_factory()
    proxy.set_route("gc.test", backend.address)
    pid = proxy.worker_pids()[0]
    for _ in range(20):
        assert http_get(proxy.port, "gc.test")[0] == 200
    proxy.call("shutdown")  # workers exit (and write the summary); the fixture's close is then a no-op
    path = tmp_path / f"gc.{pid}.json"
    wait_until(path.exists)
    summary = json.loads(path.read_text())
    assert summary["threshold"][0] >= 10_000  # the worker's own threshold, not the default 700
    assert summary["frozen"] > 0  # start-up objects moved out of the collector's way
    assert len(summary["generations"]) == 3
    assert all(g["collections"] >= 0 and g["max_ms"] >= 0 for g in summary["generations"])
