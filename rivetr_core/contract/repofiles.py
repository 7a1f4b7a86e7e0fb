"""Read a file of a cloned repository without trusting the repository (a helper for builders and runtimes).

A repository decides what its files are: git stores symbolic links, so ``.dockerignore`` or a ``Dockerfile``
can point at ``/dev/zero`` (an endless read), a FIFO on the host (an ``open`` that never returns), a directory,
or a host file outside the checkout (``/etc/shadow``, the control plane's own data). Whatever the control
plane opens from a checkout goes through :func:`read_repo_file`:

* the path is resolved (links followed) and must stay inside the checkout;
* the resolved file is opened with ``O_NOFOLLOW | O_NONBLOCK`` (no link swapped in afterwards, no FIFO wait);
* ``fstat`` of the open descriptor must say "regular file" (never a directory, FIFO, socket or device);
* at most ``max_bytes`` are read.

Anything else raises :class:`UnsafeRepoFile` (a :class:`~rivetr_core.contract.errors.BuildFailed`, so the deployment fails
with its message) naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import BuildFailed

#: Default cap of one file the control plane reads from a repository (Dockerfiles are kilobytes).
MAX_REPO_FILE_BYTES = 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnsafeRepoFile(BuildFailed):
    """A repository file the control plane refuses to read (outside the checkout, not a regular file,
    too large). The message names the file."""

    code = "unsafe_repo_file"


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_repo_file(
    root: str | os.PathLike[str],
    rel: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_REPO_FILE_BYTES,
    missing_ok: bool = False,
    label: str | None = None,
) -> bytes | None:
    """The bytes of ``rel`` (relative to the checkout ``root``, or absolute inside it), read safely.

    ``missing_ok``: return None when nothing exists at that path (a dangling link is still an error).
    ``label``: how to name the file in errors (default ``rel``). Blocking: call it off the event loop.
    """
    name = label or str(rel)
    base = Path(root).resolve()
    candidate = base / rel
    try:
        os.lstat(candidate)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise UnsafeRepoFile(f"{name}: not found in the repository") from None
    except OSError as exc:  # e.g. a path component is a regular file (ENOTDIR)
        raise UnsafeRepoFile(f"{name}: cannot be read ({exc.strerror})") from None
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):  # dangling link, link loop
        raise UnsafeRepoFile(f"{name}: is a symbolic link that leads nowhere (or loops)") from None
    if not resolved.is_relative_to(base):
        raise UnsafeRepoFile(f"{name}: is a symbolic link to a path outside the repository")
    try:
        # O_NOFOLLOW: ``resolved`` has no links left, so a link here was swapped in after the check.
        fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise UnsafeRepoFile(f"{name}: cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeRepoFile(f"{name}: is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise UnsafeRepoFile(f"{name}: is {info.st_size} bytes, more than the limit of {max_bytes}")
        chunks: list[bytes] = []
        total = 0
        while True:  # the size may change while reading: cap the read itself too
            chunk = os.read(fd, min(65536, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise UnsafeRepoFile(f"{name}: is more than the limit of {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_repo_text(
    root: str | os.PathLike[str],
    rel: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_REPO_FILE_BYTES,
    missing_ok: bool = False,
    label: str | None = None,
) -> str | None:
    """:func:`read_repo_file` decoded as UTF-8 (invalid bytes → U+FFFD: a build tool reports them better)."""
    data = read_repo_file(root, rel, max_bytes=max_bytes, missing_ok=missing_ok, label=label)
    return None if data is None else data.decode("utf-8", errors="replace")
