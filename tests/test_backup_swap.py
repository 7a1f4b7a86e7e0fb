"""The restore swap is all-or-nothing, even when a ``kill -9`` stops it at any step.

A crash is simulated by a ``BaseException`` raised from ``os.rename`` (or ``os.remove``/``os.rmdir``) after N
calls: like a killed process, nothing in ``swap`` catches it, so the directories are left exactly as the crash
found them. For every N, :func:`rivetr_core.backup.swap.recover` must leave each volume holding one whole tree,
the same version (all old or all new) across the restore's volumes, with no staging, old data or markers left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.backup import swap


class Crash(BaseException):
    """Stands for the process dying: not an OSError, so no undo runs."""


def tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else path.read_text()
    return out


def make(tmp_path: Path) -> tuple[list[swap.Paths], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Two volumes, each with an old live tree and a staged new one (different names and contents)."""
    token = "0123456789abcdef"
    targets, old, new = [], {}, {}
    for name in ("data", "uploads"):
        live = tmp_path / name
        (live / "sub").mkdir(parents=True)
        (live / "old.txt").write_text(f"old {name}")
        (live / "sub" / "keep.txt").write_text(f"old sub {name}")
        (live / "shared.txt").write_text(f"old shared {name}")
        old[name] = tree(live)
        staged = live / (swap.STAGE_PREFIX + token)
        (staged / "sub").mkdir(parents=True)
        (staged / "new.txt").write_text(f"new {name}")
        (staged / "sub" / "keep.txt").write_text(f"new sub {name}")
        (staged / "shared.txt").write_text(f"new shared {name}")
        new[name] = tree(staged)
        targets.append(swap.Paths(name, str(live), token))
    return targets, old, new


def count_fs_calls(tmp_path: Path) -> int:
    targets, _, _ = make(tmp_path / "count")
    calls = 0
    real = {n: getattr(os, n) for n in ("rename", "remove", "rmdir")}

    def counting(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return real[name](*args, **kwargs)

        return call

    with pytest.MonkeyPatch.context() as mp:
        for name in real:
            mp.setattr(os, name, counting(name))
        swap.swap(targets)
    return calls


def swap_crashing_at(targets: list[swap.Paths], crash_at: int) -> None:
    """Run the swap; the filesystem call number ``crash_at`` (0-based) "kills" it instead of running."""
    calls = 0
    real = {n: getattr(os, n) for n in ("rename", "remove", "rmdir")}

    def crashing(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            if calls == crash_at:
                raise Crash(f"killed before {name} #{calls}")
            calls += 1
            return real[name](*args, **kwargs)

        return call

    with pytest.MonkeyPatch.context() as mp:
        for name in real:
            mp.setattr(os, name, crashing(name))
        with pytest.raises(Crash):
            swap.swap(targets)


def test_a_swap_without_a_crash_swaps_every_volume(tmp_path: Path) -> None:
    targets, _old, new = make(tmp_path)
    swap.swap(targets)
    for t in targets:
        assert tree(Path(t.path)) == new[t.name]


def test_recovery_after_a_crash_at_every_step_leaves_one_whole_version(tmp_path: Path) -> None:
    total = count_fs_calls(tmp_path)
    assert total > 10  # renames out and in for two volumes, the commit, the clean-up
    outcomes = set()
    for crash_at in range(total):
        base = tmp_path / f"crash{crash_at}"
        targets, old, new = make(base)
        swap_crashing_at(targets, crash_at)
        report = swap.recover([(t.name, t.path) for t in targets])
        trees = {t.name: tree(Path(t.path)) for t in targets}
        if trees == new:
            outcomes.add("new")
            assert {r["action"] for r in report} <= {"completed"}, (crash_at, report)
        else:
            assert trees == old, f"crash at fs call {crash_at}: a volume holds a mix: {trees}"
            outcomes.add("old")
            assert {r["action"] for r in report} <= {"rolled_back", "discarded"}, (crash_at, report)
        # recovering twice changes nothing
        assert swap.recover([(t.name, t.path) for t in targets]) == []
    assert outcomes == {"old", "new"}  # crashes before the commit roll back, after it roll forward


def test_a_failing_move_undoes_every_volume_already_swapped(tmp_path: Path, monkeypatch: Any) -> None:
    targets, old, _new = make(tmp_path)
    real = os.rename

    def failing(src: Any, dst: Any) -> None:
        # the second volume's first staged entry cannot move in: the first volume is already swapped
        if str(src).startswith(targets[1].staging):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(swap.SwapError) as err:
        swap.swap(targets)
    assert err.value.name == "uploads" and "No space left" in str(err.value)
    monkeypatch.undo()
    for t in targets:
        assert tree(Path(t.path)) == old[t.name]
    assert swap.recover([(t.name, t.path) for t in targets]) == []


def test_recover_discards_a_staging_that_never_started_swapping(tmp_path: Path) -> None:
    targets, old, _new = make(tmp_path)
    report = swap.recover([(t.name, t.path) for t in targets])
    assert sorted(r["action"] for r in report) == ["discarded", "discarded"]
    for t in targets:
        assert tree(Path(t.path)) == old[t.name]
