"""For builders that run a CLI (builder-nixpacks, builder-buildpacks, a third party's): what every such builder
does alike, so each plugin keeps only its own command line.

* :class:`CliTool` — the CLI on ``PATH`` or the reason it is not (the registration's ``unavailable``), the
  registration itself, ``detect()`` (any non-empty build context while the CLI is there), and build variables
  as ``--env NAME`` flags (names the CLI itself needs refused);
* :func:`run_logged` — one build step: the exact command as the first log line, then the CLI's output, with the
  CLI's environment (:func:`child_env`: build variable values, ``DOCKER_HOST`` from :func:`engine_host`);
* :func:`stream_lines` — output as log lines; the process group killed when the build is cancelled.

Part of the contract so plugins, which share nothing else, share this. A plugin's ``plugin.py`` imports it at
start-up for :class:`CliTool` (standard-library modules only, all already loaded by the server).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shlex
import shutil
import signal
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .builder import Builder, BuilderRegistration, BuildRequest
from .errors import BuildFailed
from .plugin import PluginContext

#: Variables the CLI itself depends on: a build variable of that name would redirect the CLI, not the build.
RESERVED_ENV = frozenset(
    {"PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"}
)
#: Lines of output a failure quotes.
TAIL_LINES = 20
#: Longest output line kept whole; longer ones are cut (a progress bar without newlines must not stall us).
LINE_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CliTool:
    """The CLI an optional builder runs. Its plugin registers the builder whether or not the CLI is installed, so
    ``rivetr plugins list`` and ``GET /api/plugins`` show it as unavailable with the reason, an app selecting it
    gets a 422 naming the reason, and ``auto`` never picks it (:meth:`detect` says no)."""

    #: The builder's registration name (``nixpacks``).
    builder: str
    #: The executable looked up on ``PATH`` (``pack``).
    cli: str
    #: Where to get it, named in the reason it is unavailable.
    install_url: str

    def unavailable(self) -> str | None:
        """Why the builder cannot run here (the CLI is not on ``PATH``), or None: the registration's
        ``unavailable``. A PATH lookup: cheap enough for every selection and plugin listing, and it notices a CLI
        installed after the server started."""
        if shutil.which(self.cli) is None:
            return f"`{self.cli}` not on PATH (install from {self.install_url})"
        return None

    def executable(self) -> str:
        """The CLI's path; :class:`BuildFailed` naming the reason when it is not on ``PATH``."""
        path = shutil.which(self.cli)
        if path is None:
            raise BuildFailed(f"the {self.builder} builder is unavailable: {self.unavailable()}")
        return path

    def registration(
        self, factory: Callable[[PluginContext], Builder], *, priority: int, description: str
    ) -> BuilderRegistration:
        """The builder's registration; its description says ``unavailable: <reason>`` when the CLI is missing."""
        reason = self.unavailable()
        return BuilderRegistration(
            name=self.builder,
            factory=factory,
            description=f"unavailable: {reason}" if reason else description,
            priority=priority,
            unavailable=self.unavailable,
        )

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        """Yes for any non-empty build context while the CLI is installed (the tool decides what it can build;
        such builders come after the Dockerfile and autodetect builders under ``auto``); no without the CLI."""
        if self.unavailable() is not None:
            return False
        try:
            context = request.resolve_context(source_dir)
        except BuildFailed:
            return False
        return context.is_dir() and any(context.iterdir())

    def env_flags(self, build_args: Mapping[str, str]) -> list[str]:
        """``--env NAME`` per build variable: names only, the values travel in the CLI's environment
        (:func:`child_env`), so they never appear on a command line other users can list. A name in
        :data:`RESERVED_ENV` is refused (it would redirect the CLI, not the build)."""
        bad = sorted(set(build_args) & RESERVED_ENV)
        if bad:
            raise BuildFailed(
                f"build variable(s) {', '.join(bad)} cannot be given to the {self.builder} builder: the CLI "
                "itself needs them; rename them"
            )
        return [arg for name in sorted(build_args) for arg in ("--env", name)]


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


async def run_logged(
    args: list[str], build_args: Mapping[str, str], host: str | None, *, prefix: str, what: str
) -> AsyncGenerator[str, None]:
    """One build step: the exact command as a log line (``<prefix> <argv>``, and ``DOCKER_HOST`` when set), then
    :func:`stream_lines` of it with :func:`child_env` of the server's environment."""
    yield f"{prefix} {shlex.join(args)}" + (f" (DOCKER_HOST={host})" if host else "")
    async for line in stream_lines(args, child_env(build_args, host, os.environ), what=what):
        yield line
