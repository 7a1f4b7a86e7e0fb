"""For builders that run a CLI (builder-nixpacks, builder-buildpacks, a third party's): the CLI's environment
(engine address, build variables) and its output as log lines, with the process group killed when the build is
cancelled. Part of the contract so plugins, which share nothing else, share this; imported by those builders
only, never at start-up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from .errors import BuildFailed

#: Variables the CLI itself depends on: a build variable of that name would redirect the CLI, not the build.
RESERVED_ENV = frozenset(
    {"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"}
)
#: Lines of output a failure quotes.
TAIL_LINES = 20
#: Longest output line kept whole; longer ones are cut (a progress bar without newlines must not stall us).
LINE_LIMIT = 64 * 1024


def engine_host(runtime: Any) -> str | None:
    """The Docker API address of the engine ``runtime`` talks to, for the CLI's ``DOCKER_HOST``: its
    ``base_url`` (both in-repo runtimes have one; podman serves the Docker API), or None (the CLI's default)."""
    url = getattr(runtime, "base_url", None)
    return url if isinstance(url, str) and url else None


def child_env(build_args: Mapping[str, str], host: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The CLI's environment: ``base`` (the server's), the build variables' values (the CLI is given their
    names only), and ``DOCKER_HOST`` when the runtime has an address."""
    env = dict(base)
    env.update(build_args)
    if host:
        env["DOCKER_HOST"] = host
    return env


async def _read_line(stream: asyncio.StreamReader) -> bytes:
    try:
        return await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:  # the last line, without a newline
        return exc.partial
    except asyncio.LimitOverrunError as exc:  # an overlong line: hand on what fits, the rest comes next
        return await stream.read(exc.consumed or LINE_LIMIT)


async def stream_lines(args: list[str], env: Mapping[str, str], *, what: str) -> AsyncGenerator[str, None]:
    """Run ``args`` (no shell) and yield its output (stdout and stderr, interleaved) line by line; raise
    :class:`BuildFailed` quoting the last lines when it exits non-zero. Closing the iterator (a cancelled
    deployment) kills the process and everything it started."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env),
            limit=LINE_LIMIT,
            # Its own process group: a cancelled build also ends what the CLI started (docker, lifecycle).
            start_new_session=True,
        )
    except OSError as exc:
        raise BuildFailed(f"{what} could not start: {exc}") from None
    assert process.stdout is not None
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        while raw := await _read_line(process.stdout):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            yield line
        code = await process.wait()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    if code != 0:
        quoted = "\n".join(tail)
        raise BuildFailed(f"{what} failed (exit {code})" + (f"; last output:\n{quoted}" if quoted else ""))
