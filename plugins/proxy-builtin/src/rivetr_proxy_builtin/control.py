"""Client side of the proxy's control socket: JSON lines over a unix socket.

Request ``{"id": 1, "cmd": "set_route", "route": {...}}`` → response ``{"id": 1, "ok": true, "result": ...}``
or ``{"id": 1, "ok": false, "error": "..."}``. Requests may overlap (a long ``wait_drained`` does not block
a route change); responses are matched by ``id``.

Commands: ``status``, ``replace_routes {routes}``, ``set_route {route}``, ``remove_route {domain}``,
``routes``, ``wait_drained {upstream, timeout}``, ``set_acme {token, key_authorization}``,
``remove_acme {token}``, ``set_cert {domain, cert_pem, key_pem}``, ``remove_cert {domain}``, ``shutdown``,
``restart {settings?}`` (hand the listening sockets to a new master, see :mod:`.handover`; answers
``{"pid", "previous_pid"}`` once the new master is ready) and ``reload`` (re-read ``state.json`` and ``certs/``).
``status`` includes ``route_stats``: ``{domain: {"requests": n, "upstream_errors": n}}`` since the master
started (see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any


class ControlError(Exception):
    """The proxy answered a command with an error."""


class ControlClient:
    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return (
            self._writer is not None
            and not self._writer.is_closing()
            and self._task is not None
            and not self._task.done()
        )

    async def connect(self, timeout: float = 2.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_unix_connection(self.path), timeout)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                fut = self._waiters.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("proxy control connection lost"))
            self._waiters.clear()

    async def call(self, cmd: str, _timeout: float = 10.0, **args: Any) -> Any:
        if not self.connected:
            raise ConnectionError("not connected to the proxy")
        assert self._writer is not None
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        try:
            self._writer.write((json.dumps({"id": rid, "cmd": cmd, **args}) + "\n").encode())
            await self._writer.drain()
            msg = await asyncio.wait_for(fut, _timeout)
        finally:
            self._waiters.pop(rid, None)
        if not msg.get("ok"):
            raise ControlError(msg.get("error") or "proxy error")
        return msg.get("result")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._writer = self._reader = None
        self._task = None
