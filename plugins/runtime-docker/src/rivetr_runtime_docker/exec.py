"""Commands in a running container: :meth:`ExecMixin.exec` (run and wait), streamed execs for dumps and
restores (:meth:`ExecMixin.exec_output`, :meth:`ExecMixin.exec_input`; byte plumbing in :mod:`.execio`) and
an interactive TTY session (:class:`DockerExecSession`, the dashboard's terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker.errors
import requests

from rivetr_core.contract import ExecFailed, ExecResult

from .engine import EngineClient, EngineError, shutdown_response
from .streams import StreamHandle

if TYPE_CHECKING:
    from .execio import Tail

#: Chunks of a streamed exec's output held between the engine and a slow consumer (each at most
#: ``READ_SIZE``): the engine, and then the command, wait when it is full.
OUTPUT_QUEUE = 16
#: How long an exec may still report running after its output ended (the engine records the exit a moment
#: after closing the stream).
EXIT_WAIT = 10.0


class ExecMixin(EngineClient):
    """The ``exec`` / ``exec_interactive`` part of the runtime Protocol."""

    #: Extension point: lines the engine itself writes into a streamed exec's output (not the command's),
    #: removed from ``ExecFailed.stderr_tail`` and ``exec_input``'s output so the command's last words stay
    #: last. dockerd adds none.
    EXEC_NOISE: re.Pattern[str] | None = None

    def _without_noise(self, text: str) -> str:
        if self.EXEC_NOISE is None:
            return text
        return "".join(line for line in text.splitlines(True) if not self.EXEC_NOISE.search(line))

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

    # ---------------------------------------------------------------------------------- streamed execs
    def _exec_attach(
        self, container_id: str, cmd: list[str], env: dict[str, str] | None, stdin: bool
    ) -> tuple[str, requests.Response]:
        """Blocking: create an exec (no TTY: stdout and stderr stay apart) and start it on a hijacked
        connection without a read timeout (a dump may be silent for minutes)."""
        api = self._api()
        created = api.exec_create(
            container_id, cmd, stdin=stdin, stdout=True, stderr=True, environment=env or None
        )
        response = api._post_json(
            api._url("/exec/{0}/start", created["Id"]),
            headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            data={"Tty": False, "Detach": False},
            stream=True,
        )
        api._raise_for_status(response)
        api._disable_socket_timeout(api._get_raw_response_socket(response))
        return created["Id"], response

    def _exec_exit(self, exec_id: str, output: str) -> int:
        """Blocking: the exit code of an exec whose output ended."""
        api = self._api()
        deadline = time.monotonic() + EXIT_WAIT
        while True:
            inspected = api.exec_inspect(exec_id)
            if not inspected.get("Running"):
                return self.exec_exit_code(inspected, output)
            if time.monotonic() > deadline:
                raise EngineError(
                    f"{self.name}: the output of exec {exec_id[:12]} ended but the command still runs "
                    "(connection to the engine lost?)"
                )
            time.sleep(0.05)

    def _output_chunks(
        self,
        container_id: str,
        cmd: list[str],
        env: dict[str, str] | None,
        state: dict[str, Any],
        handle: StreamHandle,
    ) -> Iterator[bytes]:
        """Blocking (in the stream's thread): the command's stdout as it arrives; stderr goes to
        ``state["stderr"]`` (a :class:`Tail`), the exec id to ``state["exec_id"]``."""
        from .execio import READ_SIZE, FrameDemux, response_reader

        exec_id, response = self._exec_attach(container_id, cmd, env, stdin=False)
        handle.on_cancel(lambda: shutdown_response(response))
        state["exec_id"] = exec_id
        stderr: Tail = state["stderr"]
        stdout_tail: Tail = state["stdout"]
        reader = response_reader(response)
        demux = FrameDemux()
        try:
            while data := reader.read1(READ_SIZE):
                out = []
                for stream, piece in demux.feed(data):
                    if stream == 2:
                        stderr.add(piece)
                    else:
                        out.append(piece)
                if out:
                    chunk = b"".join(out)
                    stdout_tail.add(chunk[-512:])
                    yield chunk
        finally:
            response.close()

    async def exec_output(
        self, container_id: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """Run ``cmd`` and yield its stdout as it arrives (binary, any size; at most ``OUTPUT_QUEUE`` reads
        are held for a slow consumer, then the command waits). After the last chunk a non-zero exit raises
        :class:`ExecFailed` with the tail of stderr. Leaving early closes the connection; the engine has no
        call to kill an exec, so the command itself ends when it next writes (or when it finishes)."""
        # Imported on first use: the server loads this runtime at start, and only managed services stream.
        from .execio import Tail

        state: dict[str, Any] = {"stderr": Tail(8 * 1024), "stdout": Tail(512)}
        produce = functools.partial(self._output_chunks, container_id, cmd, env, state)
        async for chunk in self._stream(produce, container=container_id, maxsize=OUTPUT_QUEUE):
            yield chunk
        stderr = self._without_noise(state["stderr"].text())
        exit_code = await self._call(self._exec_exit, state["exec_id"], stderr, container=container_id)
        if exit_code in (126, 127) and not stderr.strip():
            stderr = state["stdout"].text()  # dockerd reports a command it cannot start on stdout
        if exit_code != 0:
            raise ExecFailed(exit_code, stderr)

    async def exec_input(
        self,
        container_id: str,
        cmd: list[str],
        chunks: AsyncIterable[bytes],
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run ``cmd`` with ``chunks`` as its stdin, streamed through the exec's hijacked connection as the
        command reads (binary, any size, bounded memory), then close stdin and wait for the exit. Returns the
        exit code and the last 64 KiB of output (stdout and stderr interleaved). If the command exits before
        reading everything, the rest of ``chunks`` is not consumed. If ``chunks`` raises, the connection is
        closed and the command sees the end of its input."""
        from .execio import StdinPipe

        exec_id, response = await self._call(
            self._exec_attach, container_id, cmd, env, True, container=container_id
        )
        pipe = StdinPipe(response)
        try:
            async for chunk in chunks:
                if chunk and not await self._call(pipe.send, chunk):
                    break  # the command stopped reading (exited): its exit code says how it went
            await self._call(pipe.close_input)
            await pipe.wait_output()
            output = self._without_noise(pipe.output.text())
            exit_code = await self._call(self._exec_exit, exec_id, output, container=container_id)
            return ExecResult(exit_code=exit_code, output=output)
        finally:
            pipe.close()

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
