"""Fixtures for a real proxy-builtin data plane and small real backends (owned by issue 4, proxy-builtin).

Everything runs on 127.0.0.1 free ports. Backends run on their own event loop in a daemon thread, so tests
may be plain synchronous functions using blocking sockets / httpx / websockets' sync client.

Fixtures:

* ``proxy_factory(**settings)`` → :class:`SyncProxy`: starts a proxy process (master + workers) with its
  state dir under ``tmp_path``; shut down at teardown. ``proxy.port`` is the HTTP port;
  ``proxy.set_route(domain, *upstreams)``, ``proxy.call("routes")`` etc. run the async ``BuiltinProxy``
  methods on a private loop.
* ``backend_factory(name)`` → :class:`HttpBackend`: a keep-alive HTTP/1.1 backend (see its docstring for
  the paths it serves); ``ws_backend_factory(name)`` → :class:`WsBackend`: a websockets echo server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.waiting import wait_for


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free right now (TCP by default, ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 5) -> None:
    """Terminate ``proc`` if it still runs; kill it if it does not exit within ``timeout`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def echoed_headers(body: bytes) -> dict[str, str]:
    """The request headers an :class:`HttpBackend` ``/headers`` response reports, by lower-case name."""
    return {name.lower(): value.strip() for name, value in json.loads(body)["headers"]}


class ThreadLoop:
    """An asyncio loop in a daemon thread: ``run(coro)`` from synchronous test code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                self.run(cancel_all(), timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


# ----------------------------------------------------------------------------------------------- backends
class HttpBackend:
    """A small HTTP/1.1 keep-alive server. Paths:

    * ``/`` (any other path too) → 200, body ``"<name>"``, header ``X-Backend: <name>``
    * ``/headers`` → 200 JSON ``{"request_line", "headers": [[name, value], ...]}``
    * ``/sleep?s=1.5`` → waits, then 200 ``"<name>"``
    * ``/upload`` (POST/PUT, Content-Length or chunked) → 200 JSON ``{"bytes": n, "chunked": bool}``
    * ``/download?size=N&chunked=1`` → N bytes of ``x`` (chunked when asked)
    * ``/close`` → a close-delimited response (no Content-Length), then closes
    * ``/status?code=N`` → that status
    * ``/continue`` → ``100 Continue`` first, then like ``/upload``; ``/early`` → ``103`` + 200 in one write
    * ``/hop`` → a response carrying hop-by-hop fields (``Connection: keep-alive, X-Hop``, ``Keep-Alive``)
    * ``/health`` → 200, or 503 while ``backend.healthy`` is False

    ``requests`` counts requests, ``connections`` accepted connections.
    """

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.healthy = True
        self.requests = 0
        self.connections = 0
        self.tl = ThreadLoop()
        self.server: asyncio.AbstractServer | None = None
        self.tl.run(self._start())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", self.port, backlog=1024)

    def stop(self) -> None:
        if self.tl.loop.is_closed():
            return

        async def _stop() -> None:
            if self.server is not None:
                self.server.close()
                if hasattr(self.server, "close_clients"):
                    self.server.close_clients()

        with contextlib.suppress(Exception):
            self.tl.run(_stop(), timeout=5)
        self.tl.stop()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.split(":", 1)) for x in lines[1:] if x]
                hmap = {k.strip().lower(): v.strip() for k, v in headers}
                self.requests += 1
                keep = hmap.get("connection", "").lower() != "close"
                if not await self._handle(method, target, lines[0], headers, hmap, reader, writer, keep):
                    break
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # teardown: end quietly (asyncio logs a cancelled connection callback as an error)
        finally:
            writer.close()

    async def _read_body(self, hmap: dict[str, str], reader: asyncio.StreamReader) -> tuple[int, bool]:
        n = 0
        if hmap.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return n, True
                left = size
                while left:
                    chunk = await reader.read(min(left, 1 << 20))
                    if not chunk:
                        raise ConnectionError("eof in body")
                    left -= len(chunk)
                n += size
                await reader.readexactly(2)
        left = int(hmap.get("content-length", "0"))
        while left:
            chunk = await reader.read(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("eof in body")
            left -= len(chunk)
            n += len(chunk)
        return n, False

    @staticmethod
    def _resp(status: int, body: bytes, extra: str = "", keep: bool = True) -> bytes:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}"
        if not keep:
            head += "Connection: close\r\n"
        return head.encode() + b"\r\n" + body

    async def _handle(
        self,
        method: str,
        target: str,
        request_line: str,
        headers: list[Any],
        hmap: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep: bool,
    ) -> bool:
        url = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path
        name_hdr = f"X-Backend: {self.name}\r\n"
        if path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        if path == "/early":  # an interim 103 and the final response in one write
            await self._read_body(hmap, reader)
            writer.write(
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + self._resp(200, b"early")
            )
        elif path in ("/upload", "/continue"):
            n, chunked = await self._read_body(hmap, reader)
            body = json.dumps({"bytes": n, "chunked": chunked}).encode()
            writer.write(self._resp(200, body, name_hdr + "Content-Type: application/json\r\n", keep))
        else:
            await self._read_body(hmap, reader)
            if path == "/headers":
                body = json.dumps({"request_line": request_line, "headers": headers}).encode()
                writer.write(self._resp(200, body, name_hdr, keep))
            elif path == "/sleep":
                await asyncio.sleep(float(q.get("s", "1")))
                writer.write(self._resp(200, self.name.encode(), name_hdr, keep))
            elif path == "/download":
                size = int(q.get("size", "0"))
                chunked = q.get("chunked") == "1"
                framing = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {size}\r\n"
                writer.write(f"HTTP/1.1 200 OK\r\n{name_hdr}{framing}\r\n".encode())
                block = b"x" * (256 * 1024)
                # A HEAD response has no body (RFC 9110 9.3.2): bytes here would corrupt the pooled connection.
                left = 0 if method == "HEAD" else size
                while left:
                    part = block[: min(left, len(block))]
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                    left -= len(part)
                    await writer.drain()
                if chunked and method != "HEAD":
                    writer.write(b"0\r\n\r\n")
            elif path == "/close":
                writer.write(
                    f"HTTP/1.1 200 OK\r\n{name_hdr}Connection: close\r\n\r\n{self.name}-close".encode()
                )
                await writer.drain()
                return False
            elif path == "/hop":
                extra = "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-End: 1\r\n"
                writer.write(self._resp(200, b"hop", name_hdr + extra, keep))
            elif path == "/status":
                writer.write(self._resp(int(q.get("code", "200")), b"status", name_hdr, keep))
            elif path == "/health":
                code = 200 if self.healthy else 503
                writer.write(self._resp(code, b"ok" if self.healthy else b"down", name_hdr, keep))
            else:
                writer.write(self._resp(200, self.name.encode(), name_hdr, keep))
        await writer.drain()
        return True


class WsBackend:
    """A websockets echo server: replies ``"<name>:<message>"`` to every message."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.open = 0
        self.tl = ThreadLoop()
        self.server: Any = None
        self.tl.run(self._start())

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _start(self) -> None:
        from websockets.asyncio.server import serve

        async def echo(ws: Any) -> None:
            self.open += 1
            try:
                async for msg in ws:
                    await ws.send(f"{self.name}:{msg}")
            except Exception:
                pass
            finally:
                self.open -= 1

        self.server = await serve(echo, "127.0.0.1", self.port)

    def stop(self) -> None:
        if self.tl.loop.is_closed():
            return

        async def _stop() -> None:
            self.server.close()

        with contextlib.suppress(Exception):
            self.tl.run(_stop(), timeout=5)
        self.tl.stop()


# ------------------------------------------------------------------------------------------------- proxy
class SyncProxy:
    """A running proxy-builtin (its own process) driven from synchronous code."""

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        from rivetr_proxy_builtin.backend import BuiltinProxy
        from rivetr_proxy_builtin.settings import ProxySettings

        defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "https_port": 0, "health_interval": 60.0}
        self.settings = ProxySettings(**{**defaults, **settings})
        self.state_dir = state_dir
        self.tl = ThreadLoop()
        self.backend = BuiltinProxy(self.settings, state_dir)
        self.tl.run(self.backend.start())
        assert self.backend.port
        self.port: int = self.backend.port
        self.https_port: int | None = self.backend.https_port

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.tl.run(getattr(self.backend, method)(*args, **kwargs), timeout=120)

    def set_route(self, domain: str, *upstreams: str, **flags: Any) -> None:
        from rivetr_core.contract import Route

        self.call("set_route", Route(domain, list(upstreams), **flags))

    def status(self) -> dict[str, Any]:
        return self.call("status")  # type: ignore[no-any-return]

    def worker_pids(self) -> list[int]:
        return list(self.status()["worker_pids"])

    def log(self) -> str:
        """What the proxy processes wrote to ``proxy.log`` (errors, upstream timeouts), for failure messages."""
        path = self.state_dir / "proxy.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("shutdown")
        self.tl.stop()


def http_get(
    port: int, host: str, path: str = "/", timeout: float = 10.0, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (``Connection: close``): (status, lower-cased headers, body)."""
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return parse_response(data)


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """:func:`tests.support.waiting.wait_for` with this module's shorter defaults."""
    return wait_for(pred, timeout, interval=interval)


def exited(pid: int) -> bool:
    """The process is gone, or a zombie (exited, not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[Callable[..., SyncProxy]]:
    made: list[SyncProxy] = []

    def make(**settings: Any) -> SyncProxy:
        p = SyncProxy(tmp_path / f"proxy-{len(made)}", **settings)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def backend_factory() -> Iterator[Callable[..., HttpBackend]]:
    made: list[HttpBackend] = []

    def make(name: str, port: int | None = None) -> HttpBackend:
        b = HttpBackend(name, port)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


@pytest.fixture
def ws_backend_factory() -> Iterator[Callable[..., WsBackend]]:
    made: list[WsBackend] = []

    def make(name: str) -> WsBackend:
        b = WsBackend(name)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()
