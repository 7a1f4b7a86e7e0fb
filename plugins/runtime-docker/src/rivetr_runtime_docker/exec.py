"""Commands in a running container: :meth:`ExecMixin.exec` (run and wait) and an interactive TTY session
(:class:`DockerExecSession`, the dashboard's terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Mapping
from typing import Any

import docker.errors
import requests

from rivetr_core.contract import ExecResult

from .engine import EngineClient, shutdown_response


class ExecMixin(EngineClient):
    """The ``exec`` / ``exec_interactive`` part of the runtime Protocol."""

    def exec_exit_code(self, inspected: Mapping[str, Any], output: str) -> int:
        """The exit code of a finished exec from its inspect data (``output`` is what it printed).

        Extension point: an engine that may leave ``ExitCode`` unset (podman, when the process could not
        start) derives one, so a failed command never reads as success."""
        code = inspected.get("ExitCode")
        return int(code) if code is not None else -1

    def _exec(self, container_id: str, cmd: list[str], env: dict[str, str] | None) -> ExecResult:
        api = self._api()
        created = api.exec_create(container_id, cmd, stdout=True, stderr=True, environment=env or None)
        raw = api.exec_start(created["Id"])
        output = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        inspected = api.exec_inspect(created["Id"])
        return ExecResult(exit_code=self.exec_exit_code(inspected, output), output=output)

    async def exec(self, container_id: str, cmd: list[str], env: dict[str, str] | None = None) -> ExecResult:
        """Run ``cmd`` in the container and wait; output is stdout and stderr interleaved."""
        return await self._call(self._exec, container_id, cmd, env, container=container_id)

    def _exec_open(self, container_id: str, cmd: list[str], rows: int, cols: int) -> tuple[str, Any]:
        api = self._api()
        created = api.exec_create(container_id, cmd, stdin=True, tty=True, stdout=True, stderr=True)
        exec_id = created["Id"]
        # Same request as exec_start(socket=True), but keeping the response: its buffered reader may already
        # hold the first output bytes (a shell prompt) that a raw socket read would miss.
        response = api._post_json(
            api._url("/exec/{0}/start", exec_id),
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            data={"Tty": True, "Detach": False},
            stream=True,
        )
        api._raise_for_status(response)
        sock = api._get_raw_response_socket(response)
        api._disable_socket_timeout(sock)
        with contextlib.suppress(docker.errors.APIError):
            api.exec_resize(exec_id, height=rows, width=cols)  # may race the process start; not fatal
        return exec_id, response

    async def exec_interactive(
        self, container_id: str, cmd: list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> DockerExecSession:
        """Start ``cmd`` (default ``/bin/sh``) with a TTY and return a bidirectional session."""
        exec_id, response = await self._call(
            self._exec_open, container_id, cmd or ["/bin/sh"], rows, cols, container=container_id
        )
        return DockerExecSession(self, exec_id, response)


class DockerExecSession:
    """An exec with a TTY: :meth:`write` keystrokes, :meth:`read` output chunks, :meth:`resize` the terminal.

    A dedicated thread reads the socket into a queue (a browser terminal may stay idle for hours, so it must
    not hold a worker of the runtime's pool)."""

    def __init__(self, runtime: EngineClient, exec_id: str, response: requests.Response) -> None:
        self.runtime = runtime
        self.exec_id = exec_id
        self._response = response
        raw_socket = response.raw._fp.fp.raw  # type: ignore[union-attr]
        self._sock: socket.socket = getattr(raw_socket, "_sock", raw_socket)
        self._reader = response.raw._fp.fp  # type: ignore[union-attr]
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="rivetr-exec-session", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while True:
                data = self._reader.read1(65536)
                if not data:
                    break
                self._loop.call_soon_threadsafe(self._queue.put_nowait, data)
        except Exception:  # socket shut down by close(), or the engine went away
            pass
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, b"")

    async def read(self) -> bytes:
        """Next chunk of output; ``b""`` once the process exited and everything was read."""
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise RuntimeError("exec session is closed")
        try:
            await asyncio.to_thread(self._sock.sendall, data)
        except OSError as exc:
            raise self.runtime._unavailable(exc) from exc

    async def resize(self, rows: int, cols: int) -> None:
        await self.runtime._call(
            lambda: self.runtime._api().exec_resize(self.exec_id, height=rows, width=cols)
        )

    async def exit_code(self) -> int | None:
        """The process's exit code once it ended, else None."""
        data = await self.runtime._call(lambda: self.runtime._api().exec_inspect(self.exec_id))
        return None if data.get("Running") else data.get("ExitCode")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Closing our end gives the process EOF on stdin (a shell exits) and wakes the reader thread.
        shutdown_response(self._response)
