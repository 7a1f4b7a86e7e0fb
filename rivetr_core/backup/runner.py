"""The control plane's side of the backup worker: run one op in a child process and return its result.

``await run_worker({"op": "backup", ...})`` starts ``python -m rivetr_core.backup.worker``, sends the request as
JSON on its stdin (the only way secrets travel: never argv, environment or logs), and reads JSON lines from its
stdout: ``{"progress": {...}}`` lines (logged at debug) and one last ``{"ok": true, "result": {...}}`` or
``{"ok": false, "error": {"code", "message", "details"}}``, which raises :class:`BackupFailed`. A worker that dies
without a last line raises ``BackupFailed("worker_crashed", <its stderr's tail>)``; one that outlives ``timeout``
is stopped (SIGTERM, so it removes its partial archive or staging directories; SIGKILL after a grace period) and
raises ``BackupFailed("timeout", ...)``; cancelling the awaiting task stops the worker the same way.

Secrets found in the request (``secret_key``, ``passphrase``) are replaced by ``***`` in every message raised here.
The worker's heavy libraries (boto3, zstandard) never load into this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

log = logging.getLogger(__name__)

SECRET_FIELDS = ("secret_key", "passphrase")
STOP_GRACE = 10.0
_STDERR_TAIL = 4000


class BackupFailed(Exception):
    """A worker op that failed: ``code`` (machine-readable), ``message`` (for people), ``details`` (a dict)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, dict(details or {})

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def request_secrets(request: Any) -> list[str]:
    """Every secret value in a request (destinations may nest anywhere), longest first for scrubbing."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SECRET_FIELDS and isinstance(value, str) and value:
                    found.append(value)
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(request)
    return sorted(set(found), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def scrub_obj(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: scrub_obj(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_obj(v, secrets) for v in value]
    return value


def _child_env() -> dict[str, str]:
    # The child must import this very rivetr_core, even when the parent found it through its working directory.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


FRAME_MAX = 1 << 20  # the worker's read_frames refuses bigger frames


def frames(chunk: bytes) -> Iterator[bytes]:
    """``chunk`` as the worker's stream frames (4-byte big-endian length, then the bytes)."""
    view = memoryview(chunk)
    for at in range(0, len(view), FRAME_MAX):
        piece = view[at : at + FRAME_MAX]
        yield len(piece).to_bytes(4, "big")
        yield bytes(piece)


async def run_worker(
    request: dict[str, Any],
    *,
    timeout: float | None = None,
    feed: AsyncIterable[bytes] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Run one worker op (see the module docstring); returns its ``result`` or raises :class:`BackupFailed`.

    ``feed``: a stream op's data (``backup_stream``), sent on stdin after the request as frames and an end
    marker. When ``feed`` raises (the dump failed in the container), the worker is stopped before the marker, so
    it stores nothing, and the feed's exception is raised here. ``pass_fds``: descriptors the worker inherits
    (``unpack_stream``'s output pipe); this process's copies are closed once the worker started.
    """
    secrets = request_secrets(request)
    payload = json.dumps(request).encode()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rivetr_core.backup.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_child_env(),
            limit=1 << 20,
            pass_fds=pass_fds,
        )
    finally:
        for fd in pass_fds:  # the worker holds its copy: the reader sees EOF when the worker is gone
            with contextlib.suppress(OSError):
                os.close(fd)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stderr_tail: deque[bytes] = deque()
    last: dict[str, Any] | None = None
    feed_error: BaseException | None = None

    async def read_stderr() -> None:
        assert proc.stderr is not None
        size = 0
        while chunk := await proc.stderr.read(4096):
            stderr_tail.append(chunk)
            size += len(chunk)
            while size - len(stderr_tail[0]) > _STDERR_TAIL:
                size -= len(stderr_tail.popleft())

    async def read_stdout() -> None:
        nonlocal last
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "progress" in message:
                log.debug("backup worker %s: %s", request.get("op"), message["progress"])
            elif isinstance(message, dict) and "ok" in message:
                last = message

    async def write_stdin() -> None:
        nonlocal feed_error
        assert proc.stdin is not None
        with contextlib.suppress(
            BrokenPipeError, ConnectionResetError
        ):  # the worker answered early: its answer says why
            if feed is None:
                proc.stdin.write(payload)
            else:
                proc.stdin.write(payload + b"\n")
                try:
                    async for chunk in feed:
                        for piece in frames(chunk):
                            proc.stdin.write(piece)
                        await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except Exception as exc:
                    feed_error = exc
                    await _stop(proc)  # before the end marker: the worker stores nothing
                    return
                proc.stdin.write((0).to_bytes(4, "big"))
            await proc.stdin.drain()
            proc.stdin.close()

    async def talk() -> None:
        reader = asyncio.create_task(read_stdout())
        try:
            await write_stdin()
            await reader
        finally:
            if not reader.done():
                reader.cancel()
        await proc.wait()

    stderr_task = asyncio.create_task(read_stderr())
    try:
        await asyncio.wait_for(talk(), timeout)
    except TimeoutError:
        await _stop(proc)
        raise BackupFailed(
            "timeout", f"the backup worker's {request.get('op')} did not finish within {timeout:g} s", {}
        ) from None
    finally:
        if proc.returncode is None:  # cancelled, or failed talking to it: never leave a worker behind
            await asyncio.shield(_stop(proc))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stderr_task, 5)
        if feed is not None:
            closer = getattr(feed, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
    if feed_error is not None:
        raise feed_error
    if last is None:
        tail = scrub(b"".join(stderr_tail).decode(errors="replace").strip(), secrets)
        raise BackupFailed(
            "worker_crashed",
            f"the backup worker exited with status {proc.returncode} without an answer"
            + (f": {tail[-1000:]}" if tail else ""),
            {"returncode": proc.returncode, "stderr": tail},
        )
    if last.get("ok"):
        result = last.get("result")
        return result if isinstance(result, dict) else {}
    error = scrub_obj(last.get("error") or {}, secrets)
    raise BackupFailed(
        str(error.get("code") or "worker_error"),
        str(error.get("message") or "the backup worker failed"),
        error.get("details") if isinstance(error.get("details"), dict) else {},
    )


async def worker_output(request: dict[str, Any], *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """Run an op that writes data to a pipe (``unpack_stream``: the dump an archive holds) and yield that data
    as it comes. After the last chunk, the op's failure (if any) is raised, so a consumer never mistakes a dump
    cut short for a whole one. Closing the generator early stops the worker."""
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    reader = asyncio.StreamReader(limit=chunk_size * 2)
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
        )
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    task = asyncio.ensure_future(run_worker({**request, "fd": write_fd}, pass_fds=(write_fd,)))
    try:
        while chunk := await reader.read(chunk_size):
            yield chunk
        await task
    finally:
        transport.close()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
