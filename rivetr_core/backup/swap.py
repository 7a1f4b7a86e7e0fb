"""Swapping staged restores into live volume directories, all-or-nothing across the restore's volumes, and
finishing or undoing a swap that a ``kill -9`` (of the worker or the server) cut short.

Per target directory ``P`` and restore token ``T``:

* ``P/.rivetr-restore-T/`` holds the staged (restored) tree, ``P/.rivetr-pre-restore-T/`` receives the live
  entries moved out of the way;
* the marker ``P/.rivetr-pre-restore-T.in`` says "every live entry was moved out; staged entries are moving in",
  and ``.done`` (the same marker renamed) says "the swap is decided".

A swap moves every target's live entries out, then its staged entries in (``.in``); once every target is
through, it renames each marker to ``.done`` (the commit point) and only then deletes the old data. A failure
before the commit moves everything back, in every target. All of it is renames within one filesystem, so the
state on disk after a crash is always one of those steps, and :func:`recover` reads which from the markers: any
``.done`` of the token means roll forward (finish moving in, drop the old data), none means roll back (put the
old data back, drop the staging). Either way the directory ends holding one whole tree, never a mix.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

STAGE_PREFIX = ".rivetr-restore-"
PRE_PREFIX = ".rivetr-pre-restore-"


class SwapError(Exception):
    """A swap failed and was undone (the live data is as it was); ``name`` is the target that failed."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Paths:
    name: str
    path: str
    token: str

    @property
    def staging(self) -> str:
        return os.path.join(self.path, STAGE_PREFIX + self.token)

    @property
    def pre(self) -> str:
        return os.path.join(self.path, PRE_PREFIX + self.token)

    @property
    def moving_in(self) -> str:
        return self.pre + ".in"

    @property
    def decided(self) -> str:
        return self.pre + ".done"


def live_entries(path: str) -> list[str]:
    """The directory's own entries (a restore's staging, old data and markers are not part of it)."""
    return [n for n in os.listdir(path) if not n.startswith((STAGE_PREFIX, PRE_PREFIX))]


def _move(src_dir: str, dst_dir: str, names: list[str]) -> None:
    for name in names:
        src, dst = os.path.join(src_dir, name), os.path.join(dst_dir, name)
        st = os.lstat(src)
        os.rename(src, dst)
        if stat.S_ISDIR(st.st_mode):  # moving a directory rewrites its '..' entry, and so its mtime
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _touch(path: str) -> None:
    with open(path, "x"):
        pass


def _move_in(t: Paths) -> None:
    """Every live entry out to ``pre``, the marker, then every staged entry in. Re-entrant: a rerun after a
    crash carries on from where the first stopped."""
    if not os.path.exists(t.moving_in):
        os.makedirs(t.pre, 0o700, exist_ok=True)
        _move(t.path, t.pre, live_entries(t.path))
        _touch(t.moving_in)
    _move(t.staging, t.path, os.listdir(t.staging))


def _undo(t: Paths) -> None:
    """Back to the state before the swap: staged entries (those moved in) back to staging, old data back in."""
    if os.path.exists(t.moving_in) and os.path.isdir(t.staging):
        _move(t.path, t.staging, live_entries(t.path))
    if os.path.isdir(t.pre):
        _move(t.pre, t.path, os.listdir(t.pre))
        os.rmdir(t.pre)
    for marker in (t.moving_in, t.decided):
        if os.path.exists(marker):
            os.remove(marker)
    shutil.rmtree(t.staging, ignore_errors=True)


def _finish(t: Paths) -> None:
    """After the commit: drop the old data and the staging; the directory itself takes the archived owner,
    mode and mtime (last: the removals change its mtime)."""
    meta = os.stat(t.staging) if os.path.isdir(t.staging) else None
    shutil.rmtree(t.pre, ignore_errors=True)
    if meta is not None:
        os.rmdir(t.staging)
    for marker in (t.moving_in, t.decided):
        if os.path.exists(marker):
            os.remove(marker)
    if meta is not None:
        os.chown(t.path, meta.st_uid, meta.st_gid)
        os.chmod(t.path, meta.st_mode & 0o7777)
        os.utime(t.path, ns=(meta.st_atime_ns, meta.st_mtime_ns))


def swap(targets: list[Paths]) -> None:
    """Swap every target's staged tree in, all or none (see the module docstring). Raises :class:`SwapError`
    after undoing everything when a move fails before the commit."""
    done: list[Paths] = []
    for t in targets:
        done.append(t)
        try:
            _move_in(t)
        except OSError as exc:
            for undone in reversed(done):
                _undo(undone)
            raise SwapError(t.name, f"swapping {t.name!r} failed: {exc.strerror or exc}") from None
    for t in targets:  # the commit: from the first rename on, recovery rolls forward
        os.rename(t.moving_in, t.decided)
    for t in targets:
        _finish(t)


def discard(targets: list[Paths]) -> None:
    for t in targets:
        shutil.rmtree(t.staging, ignore_errors=True)


def tokens_in(path: str) -> set[str]:
    """Tokens of restores that left something in ``path`` (staging, old data or a marker)."""
    found = set()
    for name in os.listdir(path) if os.path.isdir(path) else []:
        for prefix in (PRE_PREFIX, STAGE_PREFIX):
            if name.startswith(prefix):
                found.add(name[len(prefix) :].split(".", 1)[0])
                break
    return found


def recover(dirs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Settle every restore left half-done in these directories (``(name, path)`` pairs, all the volumes of
    the interrupted restores): roll forward a decided swap, roll back any other. Returns what was done."""
    by_token: dict[str, list[Paths]] = {}
    for name, path in dirs:
        for token in tokens_in(path):
            by_token.setdefault(token, []).append(Paths(name, path, token))
    report = []
    for token, targets in sorted(by_token.items()):
        decided = any(os.path.exists(t.decided) for t in targets)
        for t in targets:
            swapping = os.path.exists(t.moving_in) or os.path.isdir(t.pre)
            if decided:
                if os.path.exists(t.moving_in) or not os.path.exists(t.decided):
                    _move_in(t)  # finish moving in where the crash stopped it
                    if os.path.exists(t.moving_in):
                        os.rename(t.moving_in, t.decided)
                _finish(t)
                action = "completed"
            elif swapping:
                _undo(t)
                action = "rolled_back"
            else:
                shutil.rmtree(t.staging, ignore_errors=True)
                action = "discarded"
            report.append({"name": t.name, "token": token, "action": action})
    return report
