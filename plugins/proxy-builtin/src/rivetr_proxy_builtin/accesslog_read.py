"""Reading the workers' access logs back, for ``GET /api/proxy/access-log`` and ``rivetr proxy logs``.

Runs in the control plane (off the event loop: :meth:`.backend.BuiltinProxy.access_log` calls it in a thread),
never in a worker. Each worker writes ``access-<n>.log`` (see :mod:`.accesslog`); a read takes the end of every
worker's current file (at most :data:`READ_LIMIT` bytes each), keeps the lines of one domain when asked, merges
the workers by time (JSON lines) and answers the last ``tail`` of them.

Following: the answer's ``next`` cursor holds, per worker file, its inode and the offset read up to; a read
``after`` a cursor returns only the lines written since. A file rotated in between (another inode) is read from
its start: lines written to the old file after the cursor and before the rotation are skipped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

READ_LIMIT = 4 * 1024 * 1024
_NAME = re.compile(r"access-(\d+)\.log")


def encode_cursor(positions: dict[int, tuple[int, int]]) -> str:
    return ",".join(f"{i}:{ino}:{off}" for i, (ino, off) in sorted(positions.items()))


def decode_cursor(cursor: str) -> dict[int, tuple[int, int]]:
    """The positions of a ``next`` cursor; ValueError for anything else."""
    out: dict[int, tuple[int, int]] = {}
    for part in filter(None, cursor.split(",")):
        i, ino, off = (int(x) for x in part.split(":"))
        if i < 0 or off < 0:
            raise ValueError("negative position")
        out[i] = (ino, off)
    return out


def host_matches(host: str, domain: str) -> bool:
    """Whether a logged Host (any case, maybe with a port) belongs to route ``domain`` (``*.x`` wildcards)."""
    h = host.lower().rstrip(".")
    h = h[: h.find("]") + 1] if h.startswith("[") else h.partition(":")[0]
    d = domain.lower().rstrip(".")
    if d.startswith("*."):
        return h.endswith(d[1:]) and len(h) > len(d) - 1
    return h == d


def read_access_log(
    directory: Path, fmt: str, domain: str | None = None, tail: int = 100, after: str | None = None
) -> dict[str, Any]:
    """``{"items": [...], "next": cursor}``: JSON lines as objects, other formats as ``{"line": text}``."""
    positions = decode_cursor(after) if after else None
    files = sorted(
        (int(m.group(1)), p) for p in directory.glob("access-*.log") if (m := _NAME.fullmatch(p.name))
    )
    items: list[dict[str, Any]] = []
    cursor: dict[int, tuple[int, int]] = {}
    for index, path in files:
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                start, whole = max(0, st.st_size - READ_LIMIT), False
                if positions is not None:
                    ino, off = positions.get(index, (st.st_ino, 0))
                    same = ino == st.st_ino and off <= st.st_size
                    start, whole = (off, True) if same else (0, True)
                    start = max(start, st.st_size - READ_LIMIT)
                fh.seek(start)
                data = fh.read(st.st_size - start)
        except OSError:
            continue
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        data = data[:end]
        if start and not whole:
            data = data[data.find(b"\n") + 1 :]  # the cut first line
        cursor[index] = (st.st_ino, start + end)
        for raw in data.splitlines():
            text = raw.decode("utf-8", "replace")
            if fmt == "json":
                try:
                    entry = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                if domain and not host_matches(str(entry.get("host") or ""), domain):
                    continue
                items.append(entry)
            else:
                items.append({"line": text})
    if fmt == "json":
        items.sort(key=lambda e: str(e.get("time") or ""))  # stable: a worker's own order is kept
    if tail >= 0:
        items = items[-tail:] if tail else []
    return {"items": items, "next": encode_cursor(cursor)}


def answer(
    settings: Any, state_dir: Path, domain: str | None, tail: int, after: str | None
) -> dict[str, Any]:
    """What ``GET /api/proxy/access-log`` answers for ``settings`` (a :class:`.settings.ProxySettings`).
    ValidationFailed on ``domain`` or ``after`` for a request that can't be answered (a 422 naming it)."""
    from rivetr_core.contract.errors import ValidationFailed

    fmt = settings.access_log_format
    if domain and fmt != "json":
        raise ValidationFailed.on(
            "domain", f"filtering by domain needs access_log_format = json (it is {fmt})"
        )
    directory = Path(settings.access_log_dir) if settings.access_log_dir else state_dir
    try:
        result = read_access_log(directory, fmt, domain, tail, after)
    except ValueError:
        raise ValidationFailed.on("after", "not a cursor from an earlier answer") from None
    return {**result, "enabled": bool(settings.access_log), "format": fmt}
