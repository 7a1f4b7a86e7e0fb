"""The upstream side of the proxy: :class:`UpstreamConn`, one keep-alive connection to an app's instance.

It answers the :class:`.exchange.Exchange` attached to it by passing the response through to the client raw
(the head rewritten once), then goes back to the worker's pool (:mod:`.pool`) or closes. A 101 to an upgrade
request turns it into one end of a byte tunnel.

Dependency direction: at run time this module imports only :mod:`.flow` and :mod:`.http11`; it reaches the
client connection and the worker through the objects it holds (``ex.client``, ``self.w``), never through an
import. :mod:`.pool` imports it to make new connections.
"""

from __future__ import annotations

import re
import sys
from time import perf_counter
from typing import TYPE_CHECKING

import httptools

from .compress import compress_whole, start_stream
from .flow import P_PENDING, PENDING_LIMIT, UpstreamFlow
from .http11 import CONN_PLAIN

if TYPE_CHECKING:
    import asyncio

    from .client import ClientConn
    from .compress import StreamEncoder
    from .exchange import Exchange
    from .routing import Upstream
    from .worker import Worker

# Hop-by-hop fields of a response head (searched in the lower-cased head; Transfer-Encoding is not among
# them because chunked bodies are passed through encoded, and neither is Trailer: the trailer fields it
# announces pass through with them, and RFC 9110 §6.6.2 makes it end-to-end).
_RESP_HOP = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|upgrade|te):")
_RESP_HOP_LINE = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|upgrade|te):[^\r\n]*", re.I)
_HSTS = b"Strict-Transport-Security: max-age=31536000\r\n\r\n"
_CONN_VALUE = re.compile(rb"\r\nconnection:([^\r\n]*)")
#: End of a response head written with bare LF line ends, and any line end (for rewriting it to CRLF).
_LF_HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


def response_parser(protocol: object) -> httptools.HttpResponseParser:
    """A response parser that tolerates LF without CR from upstreams (they are the operator's own apps, and
    nginx accepts the same); requests from clients stay strict, which is where smuggling lives."""
    parser = httptools.HttpResponseParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
    return parser


class UpstreamConn(UpstreamFlow):
    """One keep-alive connection to an upstream, pooled between exchanges.

    Responses pass through raw: httptools only tracks framing (it calls back at the end of the head and of
    the message, nothing per header or per body chunk), the head is rewritten once with a couple of C-level
    searches, and the head plus whatever body bytes came with it leave in one write. Chunked bodies keep
    their encoding (so ``Transfer-Encoding`` is passed on with them); HTTP/1.0 clients get their request
    forwarded as HTTP/1.0, so an upstream never chunks a response they couldn't read.
    """

    __slots__ = (
        "addr",
        "close_delimited",
        "closed",
        "deadline",
        "enc",
        "ex",
        "got_bytes",
        "hbuf",
        "heads",
        "idle_since",
        "in_head",
        "ka",
        "msgs",
        "parser",
        "reused",
        "t",
        "trailing",
        "tunnel",
        "unfinished",
        "up",
        "upclose",
        "w",
    )

    def __init__(self, w: Worker, up: Upstream) -> None:
        self.w = w
        self.up = up
        self.addr = up.addr
        self.t: asyncio.Transport | None = None
        self.parser = response_parser(self)
        self.ex: Exchange | None = None
        self.enc: StreamEncoder | None = None  # compresses the current response body (see .compress)
        self.tunnel: ClientConn | None = None
        self.closed = False
        self.reused = False
        self.got_bytes = False
        self.close_delimited = False
        self.in_head = True
        self.hbuf = b""
        self.heads: list[int] = []  # status codes of heads completed in the current feed
        self.msgs = 0  # messages completed in the current feed
        # Messages begun but not ended (parser path): any once the response is complete means the upstream sent
        # bytes past its end, and the connection is not reused. Back to 0 by itself after every clean response
        # (and reset where a HEAD response leaves its parser mid-message), so attach() need not reset it.
        self.unfinished = 0
        self.trailing = False  # another response head came after the final one (set by _head for each)
        self.ka = False
        self.upclose = False
        self.deadline = 0.0
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def attach(self, ex: Exchange) -> None:
        w = self.w
        self.ex = ex
        ex.up = self
        if ex.log is not None:
            ex.up_start = perf_counter()  # upstream time for the access log (.accesslog)
        self.got_bytes = False
        self.close_delimited = False
        self.in_head = True
        self.hbuf = b""
        self.msgs = 0
        self.deadline = w.now + w.read_timeout
        w.busy.add(self)
        t = self.t
        pending = ex.pending
        ex.pending = None
        if pending:
            t.writelines((ex.head, *pending))  # type: ignore[union-attr]
            if ex.pending_size > PENDING_LIMIT:
                ex.client.unpause(P_PENDING)
        else:
            t.write(ex.head)  # type: ignore[union-attr]
        if ex.client.wpaused:
            t.pause_reading()  # type: ignore[union-attr]

    # httptools callbacks: only these three are defined, so the parser makes no per-header Python calls.
    def on_message_begin(self) -> None:
        self.unfinished += 1

    def on_headers_complete(self) -> None:
        self.heads.append(self.parser.get_status_code())

    def on_message_complete(self) -> None:
        self.msgs += 1
        self.unfinished -= 1
        self.ka = self.parser.should_keep_alive()  # llhttp resets its flags once the callback returns

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.t.write(data)  # type: ignore[union-attr]
            return
        ex = self.ex
        if ex is None:
            self.close()  # bytes on an idle pooled connection: protocol violation, don't reuse it
            return
        self.got_bytes = True
        if self.in_head and not self.hbuf and not ex.is_head and self._whole(data, ex):
            return  # (no deadline to renew: the exchange is over)
        self.deadline = self.w.now + self.w.read_timeout
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgraded(self.hbuf + data, len(self.hbuf) + exc.args[0])
            return
        except httptools.HttpParserError:
            self._broken()
            return
        if self.in_head:
            if not self.heads:
                self.hbuf += data
                if len(self.hbuf) > 65536:
                    self._broken()
                return
            if not self._head(self.hbuf + data if self.hbuf else data):
                return
        elif self.enc is not None:
            self.enc.feed(data)
        else:
            if ex.log is not None:
                ex.sent += len(data)
            ex.client.t.write(data)  # type: ignore[union-attr]
        if self.msgs:
            if self.trailing or self.heads or self.unfinished:
                # Bytes past the end of the response (an app answering twice, or a body where none may be):
                # neither side can be trusted to be on a message boundary, so both connections end here.
                ex.keep = False
                self._finish(False)
            else:
                self._finish(self.ka)

    def _whole(self, data: bytes, ex: Exchange) -> bool:
        """Fast path: ``data`` is one complete, Content-Length-framed final response (the common case for
        small responses). Forward it without running the parser (whose state stays fresh for the next
        response); anything unusual returns False and takes the parser path."""
        if not data.startswith(b"HTTP/1.1 ") or data[9:10] not in b"2345":
            return False
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        end += 4
        status_text = data[9:12]
        if not status_text.isdigit() or data[12:13] not in b" \r":
            return False
        status = int(status_text)
        if status == 204 or status == 304:
            return False
        low = data[:end].lower()
        i = low.find(b"\r\ncontent-length:")
        if i < 0 or b"\r\ntransfer-encoding:" in low or low.find(b"\r\ncontent-length:", i + 17) >= 0:
            return False
        cl = low[i + 17 : low.find(b"\r\n", i + 17)].strip()
        if not cl.isdigit() or len(data) - end != int(cl):
            return False
        ex.resp_started = True
        self.in_head = False
        head = self._rewrite(data[:end], status, ex, low, True)
        if ex.accept is not None:
            head, data, end = compress_whole(ex, head, data, end, status)
        if ex.log is not None:
            ex.sent += len(head) + len(data) - end
        ex.client.t.write(head + data[end:] if end < len(data) else head)  # type: ignore[union-attr]
        self._finish(not self.upclose)
        return True

    def _head(self, buf: bytes) -> bool:
        """Forward the response head(s) in ``buf`` (and the body bytes after the final one).
        False when the exchange already finished here (HEAD) or failed."""
        ex = self.ex
        assert ex is not None
        client = ex.client
        heads = self.heads
        pos = 0
        while heads:
            status = heads.pop(0)
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                # Bare-LF line ends (busybox httpd passes CGI headers through as the script wrote them):
                # rewrite this head to CRLF so everything after, and the client, sees standard framing.
                lf_end = _LF_HEAD_END.search(buf, pos)
                if lf_end is None:
                    self._broken()
                    return False
                fixed = _LINE_END.sub(b"\r\n", buf[pos : lf_end.end()])
                buf = buf[:pos] + fixed + buf[lf_end.end() :]
                end = pos + len(fixed) - 4
            end += 4
            if status < 200:
                # Interim response (100 Continue, 103 Early Hints): pass it on and wait for the final one.
                client.t.write(buf[pos:end])  # type: ignore[union-attr]
                pos = end
                self.msgs -= 1
                continue
            self.trailing = bool(heads)  # more heads after the final one: the app answered twice
            heads.clear()
            self.in_head = False
            self.hbuf = b""
            head = self._rewrite(buf[pos:end] if pos else buf[:end], status, ex)
            ex.resp_started = True
            if ex.is_head or status == 204 or status == 304:
                # No body, whatever the head says (RFC 9110 §6.4.1): done now. httptools can't be told a HEAD
                # response has none, so a fresh parser next time. Bytes after the head are the app's mistake
                # (maybe the start of more it sends late): not passed on, and the connection is not reused.
                client.t.write(head)  # type: ignore[union-attr]
                if ex.log is not None:
                    ex.sent += len(head)
                keep = self.ka if self.msgs else self.parser.should_keep_alive()
                if ex.is_head:
                    self.parser = response_parser(self)
                    self.unfinished = 0
                self._finish(keep and end == len(buf) and not self.trailing)
                return False
            if ex.accept is not None and (zhead := start_stream(self, ex, head, status)) is not None:
                client.t.write(zhead)  # type: ignore[union-attr]
                self.enc.feed(buf[end:])  # type: ignore[union-attr]
                return True
            if ex.log is not None:
                ex.sent += len(head) + len(buf) - end
            if end < len(buf):
                client.t.write(head + buf[end:])  # type: ignore[union-attr]
            else:
                client.t.write(head)  # type: ignore[union-attr]
            return True
        self.hbuf = buf[pos:]  # only interim heads so far
        return False

    def _rewrite(
        self, head: bytes, status: int, ex: Exchange, low: bytes = b"", framed: bool = False
    ) -> bytes:
        """Strip hop-by-hop fields from a response head and state the client connection's fate. ``framed``:
        the caller already knows the head has one Content-Length and no Transfer-Encoding (``_whole``)."""
        low = low or head.lower()
        ex.status = status
        if 501 < status < 505 or self.w.outliers.fails:  # passive health: a failure, or a success to reset
            self.w.outliers.response(self.addr, status)
        if head.startswith(b"HTTP/1.0"):
            head = b"HTTP/1.1" + head[8:]
        # Common case first (nginx, for one, always sends "Connection: keep-alive" and nothing else
        # hop-by-hop): cut that one line with two finds; anything more goes the general way.
        conn = b""
        i = low.find(b"\r\nconnection:")
        if i >= 0:
            j = low.find(b"\r\n", i + 13)
            conn = low[i + 13 : j]
            head = head[:i] + head[j:]
            low = low[:i] + low[j:]
        self.upclose = b"close" in conn  # the upstream closes this connection after the response
        if _RESP_HOP.search(low) is not None or (conn and conn.strip() not in CONN_PLAIN):
            # One C-level substitution drops every other hop-by-hop line.
            extra: set[bytes] = {t.strip() for t in conn.split(b",")}
            for m in _CONN_VALUE.finditer(low):
                extra.update(t.strip() for t in m.group(1).split(b","))
            if b"close" in extra:
                self.upclose = True
            head = _RESP_HOP_LINE.sub(b"", head)
            extra -= CONN_PLAIN
            extra -= {b"transfer-encoding", b"content-length"}
            if extra:  # headers named in Connection are hop-by-hop too (rare: the slow way)
                lines = head[:-4].split(b"\r\n")
                kept = [lines[0]] + [
                    ln for ln in lines[1:] if ln.partition(b":")[0].strip().lower() not in extra
                ]
                head = b"\r\n".join(kept) + b"\r\n\r\n"
        if not (
            framed
            or ex.is_head
            or status == 204
            or status == 304
            or b"\r\ncontent-length:" in low
            or b"\r\ntransfer-encoding:" in low
        ):
            self.close_delimited = True  # the body ends when the upstream closes
            ex.keep = False
        if ex.hsts and b"\r\nstrict-transport-security:" not in low:
            head = head[:-2] + _HSTS
        if not ex.keep or (ex.has_body and not ex.req_done):
            # After this response the client connection can't resync (or the body ends at close).
            ex.keep = False
            return head[:-2] + b"Connection: close\r\n\r\n"
        if ex.http10:
            return head[:-2] + b"Connection: keep-alive\r\n\r\n"
        return head

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self.w
        w.busy.discard(self)
        tunnel = self.tunnel
        if tunnel is not None:
            self.tunnel = None
            tunnel.tunnel = None
            ex = tunnel.active
            tunnel._close()
            if ex is not None:
                w.release(ex)
            return
        ex = self.ex
        if ex is None:
            w.pool_remove(self)
            return
        self.ex = None
        ex.up = None
        client = ex.client
        if ex.resp_started:
            if self.close_delimited:
                if self.enc is not None:
                    self.enc.finish()
                client.exchange_done(ex)  # EOF is how this response ends
            else:
                client.abort()  # truncated response: the client must see an error, not a short body
                w.release(ex)
                if ex.rstats is not None:
                    ex.rstats[1] += 1
            return
        if self.reused and not self.got_bytes and not ex.has_body and not ex.retried and not ex.dead:
            # The pooled connection was closed by the upstream just as we reused it: retry once, fresh.
            ex.retried = True
            ex.pending = []
            w.acquire(ex, fresh=True)
            return
        if not w.outliers.lost(ex):  # counted; True if an idempotent request went to another upstream
            client.respond_error(ex, 502)

    # ------------------------------------------------------------------------------------------ lifecycle
    def _finish(self, keep_upstream: bool) -> None:
        ex = self.ex
        if ex is None:
            return
        w = self.w
        self.ex = None
        ex.up = None
        self.deadline = 0.0
        w.busy.discard(self)
        if ex.log is not None:
            ex.up_time = perf_counter() - ex.up_start
        # A refused upgrade ends the connection too: the app may have switched state for it (issue 14, hole 1).
        if keep_upstream and ex.req_done and not self.closed and not ex.upgrade:
            if ex.client.wpaused:
                # The client's back-pressure paused reading from us (its resume_writing only reaches the
                # upstream still attached); pooled, we must read again: the next response, or a close.
                self.t.resume_reading()  # type: ignore[union-attr]
            w.pool_put(self)
        else:
            self.close()
        ex.client.exchange_done(ex)

    def _upgraded(self, buf: bytes, offset: int) -> None:
        """The upstream switched protocols: pass its 101 on and tunnel bytes both ways from now on."""
        ex = self.ex
        if ex is None or not ex.upgrade or not self.heads or self.heads[-1] != 101:
            self._broken()  # a 101 the client never asked for: no tunnel
            return
        client = ex.client
        self.ex = None
        self.hbuf = b""
        self.deadline = 0.0
        self.w.busy.discard(self)
        self.tunnel = client
        ex.resp_started = True
        # The 101 head passes as is: its Connection/Upgrade fields are exactly what the client needs.
        client.t.write(buf)  # type: ignore[union-attr]
        client.start_tunnel(self)  # and what the client sent after its request (held so far) goes up now

    def _broken(self, status: int = 502) -> None:
        """The upstream sent something unparseable (502) or nothing in time (504): drop it, answer ``status``."""
        ex = self.ex
        self.deadline = 0.0
        self.ex = None
        self.close()
        self.w.outliers.failure(self.addr)
        if ex is not None:
            ex.up = None
            ex.client.respond_error(ex, status)

    def timed_out(self) -> None:
        # Rare and worth a line in proxy.log (like nginx's "upstream timed out"): whether the connection came
        # from the pool and whether reading it was paused tell a slow app from a proxy back-pressure bug.
        ex = self.ex
        print(
            f"rivetr-proxy worker {self.w.index}: upstream {self.addr} timed out "
            f"({'mid-response' if self.got_bytes else 'no response head'}; "
            f"{'pooled' if self.reused else 'new'} connection, reading "
            f"{'active' if self.t is not None and self.t.is_reading() else 'paused'}, "
            f"client write-paused {ex.client.wpaused if ex is not None else '-'})",
            file=sys.stderr,
            flush=True,
        )
        self._broken(504)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.w.busy.discard(self)
            if self.t is not None:
                self.t.close()
