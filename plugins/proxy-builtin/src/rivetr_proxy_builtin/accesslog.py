"""The worker's access log: one line per finished request, to ``access-<worker>.log``, rotated by size.

Off by default (``[proxy] access_log``). With it on, the client side keeps a reference to what the request
already parsed (``Exchange.log``: method, target, Host, the header lines, the client's X-Forwarded-For and
X-Request-Id) and :meth:`AccessLog.record` builds the line when the response is complete; nothing is parsed
again and nothing extra is copied while the request is in flight.

Lines collect in memory and reach the file in one ``write`` when 64 KiB are waiting, on a 1-second timer and
when the worker exits, so a request never waits for the disk (a write to a regular file lands in the page
cache; nginx's ``access_log ... buffer=`` works the same way). Each worker writes its own file (no locks
between processes). When a file would pass ``access_log_max_bytes`` it is renamed ``.1`` (older ones move up,
``access_log_keep`` are kept) and a new one starts.

Sampling (``access_log_sample`` < 1) is a deterministic credit counter, not a random draw: 0.1 logs exactly
every tenth successful request; responses with status >= 400 are always logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ClientConn
    from .exchange import Exchange
    from .settings import ProxySettings

FORMATS = ("json", "common", "combined")
FLUSH_BYTES = 64 * 1024
FLUSH_INTERVAL = 1.0
_RID = b"\r\nX-Request-Id: "
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_JSON_LINE = (
    b'{"time":"%s","client":%s,"method":%s,"host":%s,"path":%s,"status":%d,"bytes":%d,"duration_ms":%.3f,'
    b'"upstream":%s,"upstream_ms":%s,"request_id":%s,"user_agent":%s,"referer":%s}\n'
)
#: Bytes a JSON string can't hold as they are: quotes, backslashes, control characters, anything not ASCII.
_NEEDS_ESCAPE = re.compile(rb'["\\\x00-\x1f\x7f-\xff]')
_json_str = json.JSONEncoder(ensure_ascii=False).encode


def log_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"access-{index}.log")


class AccessLog:
    """One worker's buffered, rotating access-log file."""

    def __init__(
        self, settings: ProxySettings, index: int, state_dir: str, is_trusted: Callable[[bytes], bool]
    ) -> None:
        directory = settings.access_log_dir or state_dir or "."
        os.makedirs(directory, exist_ok=True)
        self.path = log_path(directory, index)
        self.fmt = settings.access_log_format if settings.access_log_format in FORMATS else "json"
        self.max_bytes = max(int(settings.access_log_max_bytes), 1)
        self.keep = max(int(settings.access_log_keep), 0)
        self.sample = min(max(float(settings.access_log_sample), 0.0), 1.0)
        self.query = settings.access_log_query
        self.is_trusted = is_trusted
        self.credit = 0.0
        self.buf: list[bytes] = []
        self.pending = 0
        self.fd = -1
        self.size = 0
        self._sec = -1
        self._stamp = b""
        self._clf_sec = -1
        self._clf_stamp = b""
        self._open()

    # ------------------------------------------------------------------------------------------- lines
    def record(self, client: ClientConn, ex: Exchange) -> None:
        """The response of ``ex`` is complete (or the proxy answered it): log it, unless sampled out."""
        log = ex.log
        ex.log = None
        if log is None:
            return
        status = ex.status
        if self.sample < 1.0 and status < 400:
            self.credit += self.sample
            if self.credit < 1.0:
                return
            self.credit -= 1.0
        method, target, host, lines, xff, rid = log
        now = time.time()
        took = perf_counter() - ex.t0
        path = target if self.query else target.partition(b"?")[0]
        ua = referer = None
        for line in lines[1:]:
            c = line[:1]
            if c in b"Uu" and line[:11].lower() == b"user-agent:":
                ua = line[11:-2].strip()
            elif c in b"Rr" and line[:8].lower() == b"referer:":
                referer = line[8:-2].strip()
        head = ex.head
        i = head.find(_RID) if head else -1
        if i >= 0:
            rid = head[i + len(_RID) : head.find(b"\r\n", i + len(_RID))]
        client_ip = self._client_ip(client.peer, xff) if client.trusted and xff else client.peer
        if self.fmt == "json":
            # Formatted as bytes with a C-level check per field instead of json.dumps of a dict: several times
            # cheaper per request, and the same JSON (fields that need escaping take json's own encoder).
            line = _JSON_LINE % (
                self._iso(now),
                _jstr(client_ip),
                _jstr(method),
                _jstr(host),
                _jstr(path),
                status,
                ex.sent,
                took * 1000,
                b'"%s"' % ex.addr.encode() if ex.addr else b"null",
                b"%.3f" % (ex.up_time * 1000) if ex.up_time >= 0 else b"null",
                _jstr(rid) if rid else b"null",
                _jstr(ua) if ua is not None else b"null",
                _jstr(referer) if referer is not None else b"null",
            )
        else:
            line = b'%s - - [%s] "%s %s %s" %d %d' % (
                client_ip,
                self._clf(now),
                method,
                _esc(path),
                b"HTTP/1.0" if ex.http10 else b"HTTP/1.1",
                status,
                ex.sent,
            )
            if self.fmt == "combined":
                line += b' "%s" "%s"' % (_esc(referer or b"-"), _esc(ua or b"-"))
            line += b"\n"
        self.buf.append(line)
        self.pending += len(line)
        if self.pending >= FLUSH_BYTES:
            self.flush()

    def _client_ip(self, peer: bytes, xff: bytes) -> bytes:
        """The client behind trusted proxies: walking X-Forwarded-For from the right (the nearest hop first),
        the first address that is not a trusted proxy itself (nginx's ``real_ip_recursive on``)."""
        hops = [h.strip() for h in xff.split(b",")]
        for hop in reversed(hops):
            if hop and not self.is_trusted(hop):
                return hop
        return hops[0] or peer

    def _iso(self, now: float) -> bytes:
        sec = int(now)
        if sec != self._sec:
            self._sec = sec
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
        return b"%s.%03dZ" % (self._stamp, int((now - sec) * 1000))

    def _clf(self, now: float) -> bytes:
        sec = int(now)
        if sec != self._clf_sec:
            t = time.gmtime(sec)
            self._clf_sec = sec
            self._clf_stamp = (
                f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
            ).encode()
        return self._clf_stamp

    # -------------------------------------------------------------------------------------------- file
    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.size = os.fstat(self.fd).st_size

    def flush(self) -> None:
        """Write what is buffered, rotating whenever the next line would take the file past the limit."""
        lines = self.buf
        if not lines:
            return
        self.buf = []
        self.pending = 0
        chunk: list[bytes] = []
        size = self.size
        for line in lines:
            if size + len(line) > self.max_bytes and size > 0:
                self._write(chunk)
                chunk = []
                self._rotate()
                size = 0
            chunk.append(line)
            size += len(line)
        self._write(chunk)

    def _write(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        data = b"".join(chunk)
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError:
            return  # a full disk loses log lines, never requests
        self.size += len(data)

    def _rotate(self) -> None:
        os.close(self.fd)
        with contextlib.suppress(OSError):
            if self.keep:
                for i in range(self.keep - 1, 0, -1):
                    older = f"{self.path}.{i}"
                    if os.path.exists(older):
                        os.replace(older, f"{self.path}.{i + 1}")
                os.replace(self.path, f"{self.path}.1")
            else:
                os.unlink(self.path)
        self._open()

    async def run(self) -> None:
        """Flush on a timer, so a quiet route's lines show up within a second."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _jstr(value: bytes) -> bytes:
    """``value`` as a JSON string (UTF-8; a byte that is not UTF-8 becomes U+FFFD)."""
    if _NEEDS_ESCAPE.search(value) is None:
        return b'"%s"' % value
    return _json_str(value.decode("utf-8", "replace")).encode()


def _esc(value: bytes) -> bytes:
    """Quotes and backslashes inside a quoted CLF field, escaped as nginx does (``\\x22``)."""
    if b'"' in value or b"\\" in value:
        return value.replace(b"\\", b"\\x5C").replace(b'"', b"\\x22")
    return value


def access_log_settings(proxy: Any, own: Any) -> dict[str, Any]:
    """The ``access_log*`` fields of :class:`.settings.ProxySettings` from core's ``[proxy]`` section; the
    deprecated ``[plugins.proxy-builtin] access_log`` (a line per request on stderr) turns the file log on."""
    return {
        "access_log": bool(getattr(proxy, "access_log", False) or getattr(own, "access_log", False)),
        "access_log_format": getattr(proxy, "access_log_format", "json"),
        "access_log_dir": str(getattr(proxy, "access_log_dir", None) or ""),
        "access_log_max_bytes": int(getattr(proxy, "access_log_max_bytes", 100 * 1024 * 1024)),
        "access_log_keep": int(getattr(proxy, "access_log_keep", 5)),
        "access_log_sample": float(getattr(proxy, "access_log_sample", 1.0)),
        "access_log_query": bool(getattr(proxy, "access_log_query", False)),
    }
