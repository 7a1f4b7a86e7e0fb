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


async def run_worker(request: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
    """Run one worker op (see the module docstring); returns its ``result`` or raises :class:`BackupFailed`."""
    secrets = request_secrets(request)
    payload = json.dumps(request).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rivetr_core.backup.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
        limit=1 << 20,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stderr_tail: deque[bytes] = deque()
    last: dict[str, Any] | None = None

    async def read_stderr() -> None:
        assert proc.stderr is not None
        size = 0
        while chunk := await proc.stderr.read(4096):
            stderr_tail.append(chunk)
            size += len(chunk)
            while size - len(stderr_tail[0]) > _STDERR_TAIL:
                size -= len(stderr_tail.popleft())

    async def talk() -> None:
        nonlocal last
        assert proc.stdin is not None and proc.stdout is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(payload)
            await proc.stdin.drain()
            proc.stdin.close()
        async for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "progress" in message:
                log.debug("backup worker %s: %s", request.get("op"), message["progress"])
            elif isinstance(message, dict) and "ok" in message:
                last = message
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
