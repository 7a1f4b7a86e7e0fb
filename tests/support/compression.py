"""A real HTTP/1.1 backend with content types, for response-compression tests (proxy plugin and API tests).

:class:`ContentBackend` serves deterministic bodies (:func:`make_body`) with the framing, type and caching fields a
test asks for in the query string, and a server-sent-events stream it holds open until told to finish.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import threading
from urllib.parse import parse_qs, urlsplit

import brotli
import zstandard

from tests.support.proxy import ThreadLoop, free_port

WORDS = [b"proxy", b"route", b"<div>", b"</div>", b"class=", b"stream", b"gzip", b"rivetr", b"\n", b"  "]


def make_body(size: int, seed: int = 7) -> bytes:
    """Deterministic HTML-ish text: compressible, but not a single repeated byte."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(WORDS) + b"%d " % rnd.randrange(1000)
    return bytes(out[:size])


def decompress(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)
    assert encoding == "zstd"
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


class ContentBackend:
    """An HTTP/1.1 server with content types. ``/body`` query: ``size``, ``type`` (default text/html), ``mode``
    (``cl`` Content-Length, ``chunked`` in 16 KB chunks, ``close`` close-delimited), ``ce`` (a Content-Encoding
    to state), ``cc`` (Cache-Control), ``etag``, ``vary``, ``status``. ``/sse`` sends one event, waits for
    :attr:`release`, then a second one and ends."""

    def __init__(self) -> None:
        self.port = free_port()
        self.tl = ThreadLoop()
        self.release = threading.Event()
        self.server: asyncio.AbstractServer | None = None
        self.tl.run(self._start())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port)

    def stop(self) -> None:
        self.release.set()

        async def _stop() -> None:
            assert self.server is not None
            self.server.close()

        self.tl.run(_stop(), timeout=5)
        self.tl.stop()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                if not await self._handle(method, target, writer):
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, method: str, target: str, writer: asyncio.StreamWriter) -> bool:
        url = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/sse":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            first = b"data: one\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(first), first))
            await writer.drain()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
            second = b"data: two\n\n"
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(second), second))
            await writer.drain()
            return True
        body = make_body(int(q.get("size", "0")))
        mode = q.get("mode", "cl")
        head = [f"HTTP/1.1 {q.get('status', '200')} X", f"Content-Type: {q.get('type', 'text/html')}"]
        for key, name in (
            ("ce", "Content-Encoding"),
            ("cc", "Cache-Control"),
            ("etag", "ETag"),
            ("vary", "Vary"),
        ):
            if key in q:
                head.append(f"{name}: {q[key]}")
        head.append("Accept-Ranges: bytes")
        if mode == "cl":
            head.append(f"Content-Length: {len(body)}")
        elif mode == "chunked":
            head.append("Transfer-Encoding: chunked")
        else:
            head.append("Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if method == "HEAD":
            await writer.drain()
            return mode != "close"
        if mode == "chunked":
            for i in range(0, len(body), 16384):
                part = body[i : i + 16384]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(body)
        await writer.drain()
        return mode != "close"
