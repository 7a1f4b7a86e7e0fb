"""The "a server runs on this data dir" marker: every ``rivetr serve`` holds a shared ``flock`` on
``<data_dir>/server.lock`` for as long as its process lives. The kernel drops the lock when the process ends,
``kill -9`` included, so unlike ``api.addr`` (a file a killed server leaves behind, naming an address another
program may answer on) it cannot go stale. Offline tools that must not run under a live server (``rivetr
backup restore``) try an exclusive lock: it fails while any server holds its shared one. Shared, not
exclusive, so two servers may still share a database, as the scheduler's claims allow."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_FILE = "server.lock"

_held: list[int] = []  # the serving process's lock fds; kept open (and so locked) until it exits


def hold_server_lock(data_dir: Path) -> None:
    """Mark ``data_dir`` as served by this process until it exits."""
    fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held.append(fd)


@contextlib.contextmanager
def exclusive_or_none(data_dir: Path):  # type: ignore[no-untyped-def]
    """Yield True while holding the data dir exclusively (no server runs on it), False when a server holds
    it. A data dir without a lock file has never been served by this version: True."""
    path = Path(data_dir) / LOCK_FILE
    if not path.exists():
        yield True
        return
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
