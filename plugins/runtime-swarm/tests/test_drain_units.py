"""The drain module's task judgements (no engine): which task speaks for a service while a drain moves it, and
when a service's task was evicted from its node rather than having exited by itself."""

from __future__ import annotations

from typing import Any

from rivetr_runtime_swarm import servicespec as ss
from rivetr_runtime_swarm.drain import evicted, moved_task, running_on


def task(node: str, state: str, desired: str, created: str, slot: int = 1) -> dict[str, Any]:
    return {
        "NodeID": node,
        "Slot": slot,
        "CreatedAt": created,
        "DesiredState": desired,
        "Status": {"State": state},
    }


def test_while_a_drain_moves_a_task_the_new_one_speaks_for_the_service() -> None:
    old = task("worker", "running", "running", "2026-01-01", slot=1)
    new = task("manager", "running", "running", "2026-01-02", slot=2)
    starting = task("manager", "starting", "running", "2026-01-02", slot=2)
    # The routes follow the new task as soon as it runs, before the drain stops the old one.
    assert ss.current_task([old, new]) is new
    assert ss.current_task([old, starting]) is old
    assert moved_task([old, new], "worker") is new and moved_task([old, starting], "worker") is None
    assert running_on(old, "worker") and not running_on(new, "worker")


def test_evicted_is_the_orchestrators_stop_not_the_process_exit() -> None:
    drained = task("worker", "shutdown", "shutdown", "2026-01-01")
    stopping = task("worker", "running", "shutdown", "2026-01-01")  # being stopped, or its node is down
    assert evicted([drained]) and evicted([stopping])
    # The process's own exit (restart condition none marks it shutdown too): a crash, not a move.
    for state in ("failed", "complete", "rejected"):
        assert not evicted([task("worker", state, "shutdown", "2026-01-01")])
    # A task in its place (swarm's own reschedule, an update, a start): nothing to move.
    assert not evicted([drained, task("manager", "pending", "running", "2026-01-02")])
    assert not evicted([drained, task("manager", "ready", "ready", "2026-01-02")])
    # The newest counts: an older eviction followed by a crash of its replacement is a crash.
    assert not evicted([drained, task("manager", "failed", "shutdown", "2026-01-02")])
    assert not evicted([])
