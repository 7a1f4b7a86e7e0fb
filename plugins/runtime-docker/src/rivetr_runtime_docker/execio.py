"""Byte plumbing of the streamed execs (``exec_output`` / ``exec_input`` in :mod:`.exec`): the engine's
multiplexed stream split by hand, a bounded tail, and the stdin side of a hijacked exec connection.

Why by hand rather than the SDK's ``frames_iter``: it yields one item per engine frame (~3 KB on dockerd, so
hundreds of thousands of queue hops per GB) and reads the raw socket, bypassing the response's buffered
reader, which may already hold the first bytes. Here each read takes whatever the socket has (up to
:data:`READ_SIZE`) and a frame may be split across reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import struct
import threading
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import requests

from .engine import shutdown_response

#: Bytes asked of the socket per read: one read returns what has arrived, at most this.
READ_SIZE = 256 * 1024
#: How long a blocked stdin write waits before it looks again whether the command is still there.
SEND_POLL = 0.25


class FrameDemux:
    """Splits the engine's non-TTY exec stream (8-byte headers: stream type, 3 zero bytes, big-endian length)
    into stdout and stderr bytes, across reads of any size."""

    def __init__(self) -> None:
        self._header = b""
        self._stream = 1
        self._remaining = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """``(stream, payload)`` pieces that ``data`` completes, in order (stream 1 = stdout, 2 = stderr); a
        partial frame's payload is passed on at once, only a partial header waits for the next read."""
        pieces: list[tuple[int, bytes]] = []
        view = memoryview(data)
        while view:
            if self._remaining == 0:
                need = 8 - len(self._header)
                self._header += bytes(view[:need])
                view = view[need:]
                if len(self._header) < 8:
                    break
                self._stream, self._remaining = struct.unpack(">BxxxL", self._header)
                self._header = b""
                continue
            take = view[: self._remaining]
            self._remaining -= len(take)
            view = view[len(take) :]
            pieces.append((2 if self._stream == 2 else 1, bytes(take)))
        return pieces


class Tail:
    """The last ``limit`` bytes written to it (memory stays bounded whatever a command prints)."""

    def __init__(self, limit: int = 64 * 1024) -> None:
        self.limit = limit
        self._data = bytearray()

    def add(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > 2 * self.limit:  # trim now and then, not on every write
            del self._data[: len(self._data) - self.limit]

    def text(self) -> str:
        return bytes(self._data[-self.limit :]).decode("utf-8", "replace")


def response_socket(response: requests.Response) -> socket.socket:
    raw_socket = response.raw._fp.fp.raw  # type: ignore[union-attr]
    return getattr(raw_socket, "_sock", raw_socket)  # type: ignore[no-any-return]


def response_reader(response: requests.Response) -> Any:
    """The buffered reader over the hijacked connection (it may hold bytes read along with the headers)."""
    return response.raw._fp.fp  # type: ignore[union-attr]


class StdinPipe:
    """Both directions of a hijacked exec connection with stdin attached.

    A daemon thread drains the output (a command that prints while it reads would otherwise block, and the
    whole exchange deadlock) into a combined :class:`Tail`; :meth:`send` writes stdin without ever blocking
    for good: it waits for room in bounded slices and gives up once the output ended (the command exited:
    dockerd then stops reading the connection, podman resets it)."""

    def __init__(self, response: requests.Response, *, tail_limit: int = 64 * 1024) -> None:
        self._response = response
        self._sock = response_socket(response)
        self._reader = response_reader(response)
        self.output = Tail(tail_limit)
        self.ended = threading.Event()
        self._closed = threading.Event()
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._thread = threading.Thread(target=self._drain, name="rivetr-exec-input", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        demux = FrameDemux()
        try:
            while data := self._reader.read1(READ_SIZE):
                for _, piece in demux.feed(data):
                    self.output.add(piece)
        except Exception:  # connection reset (podman, when the command exits early) or closed by us
            pass
        self.ended.set()
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def send(self, data: bytes) -> bool:
        """Blocking: write ``data`` to the command's stdin. False when the command no longer reads it
        (exited, or the connection is gone)."""
        view = memoryview(data)
        while view:
            if self.ended.is_set() or self._closed.is_set():
                return False
            try:
                _, writable, _ = select.select([], [self._sock], [], SEND_POLL)
                if not writable:
                    continue
                sent = self._sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:  # broken pipe / reset: the other end is gone
                return False
            view = view[sent:]
        return True

    def close_input(self) -> None:
        """Blocking: end of stdin (a half-close: the output keeps coming until the command exits)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def wait_output(self) -> None:
        """Until the command's output ended (it exited, or the connection was closed)."""
        await asyncio.shield(self._done)

    def close(self) -> None:
        """Drop the connection (wakes the drain thread); idempotent."""
        self._closed.set()
        shutdown_response(self._response)
