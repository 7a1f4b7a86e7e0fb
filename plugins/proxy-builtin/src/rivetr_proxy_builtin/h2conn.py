"""HTTP/2 on the TLS listeners (ALPN ``h2``): one :class:`H2Conn` per connection, one :class:`H2Stream` per
request.

Every stream is proxied to its upstream over HTTP/1.1 with the same machinery as an HTTP/1.1 client: an
:class:`.exchange.Exchange` whose ``client`` is the :class:`H2Stream`, attached to a pooled
:class:`.upstream.UpstreamConn` through ``Worker.acquire``. The upstream side is unchanged: it writes the
(already rewritten) HTTP/1.1 response to ``ex.client.t``; here ``t`` is the stream itself, whose ``write``
parses that response with httptools and turns it into HEADERS and DATA frames. Everything the HTTP/1.1 path
decides about the upstream (pooling, retries, hop-by-hop fields, HSTS, 502/504, back-pressure through
``pause_reading``) applies to h2 streams as is.

Flow control both ways: request DATA is acknowledged (WINDOW_UPDATE) only once it has been written to an
upstream whose send buffer is not full; response bytes are sent as the client's stream and connection windows
allow, and the upstream's reading pauses while more than ``_OUT_HIGH`` bytes wait for window.

Defences (connection closed with GOAWAY): more than ``max_concurrent_streams`` open streams (REFUSED_STREAM /
PROTOCOL_ERROR by the h2 library), RST_STREAM floods (rapid reset, CVE-2023-44487), SETTINGS and PING floods
(ENHANCE_YOUR_CALM), header blocks beyond twice ``max_header_size`` and CONTINUATION floods (h2 library:
oversized header lists and more than 64 CONTINUATION frames per block are connection errors). A header list
beyond ``max_header_size`` on its own is a 431 on that stream. Idle connections close after ``idle_timeout``.

This module imports the ``h2`` library: it is imported (by :mod:`.alpn`) only when the first h2 connection
arrives, never in the control plane.
"""

from __future__ import annotations

import logging
import re
import sys
from itertools import chain
from time import perf_counter
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httptools

from .client import (
    _ACME_PREFIX,
    _H_AE,
    _H_CL,
    _H_HOST,
    _H_RID,
    _H_XFF,
    _H_XFH,
    _H_XFP,
    _SPECIAL,
    _route_key,
)
from .error_pages import entry_error, exchange_error
from .exchange import Exchange, drop_upstream
from .flow import P_PENDING, P_UPSTREAM_FULL, PENDING_LIMIT
from .h2in import take_requests
from .h2out import send_data, send_head, send_whole
from .h2out import window as out_window
from .hpack_memo import MemoDecoder, MemoEncoder
from .http11 import error_response, plain_response
from .route_metrics import observe
from .route_rules import apply_rules
from .upstream import response_parser

if TYPE_CHECKING:
    import asyncio

    from .worker import Worker

# Flood limits: events of each kind a client may cause per _FLOOD_WINDOW seconds before the connection is
# closed with GOAWAY ENHANCE_YOUR_CALM. Browsers cancel streams (navigation, aborted fetches) and send a handful
# of SETTINGS/PINGs per connection; these numbers are far above that and far below what an attack needs.
_FLOOD_WINDOW = 10.0
RST_LIMIT = 200  # RST_STREAM frames from the client (rapid reset, CVE-2023-44487)
PING_LIMIT = 100
SETTINGS_LIMIT = 100
EMPTY_DATA_LIMIT = 100  # DATA frames without data or END_STREAM (CVE-2019-9518)
PRIORITY_LIMIT = 1000  # PRIORITY frames (CVE-2019-9513); older Firefox sends a handful per connection

# Memory per connection stays bounded by these: request bodies are acknowledged only as the upstream takes them
# (so at most the connection window is unread), and a response stops being read from the upstream once this
# much of it waits for the client's flow-control window.
_OUT_HIGH = 64 * 1024
# TLS bytes waiting in the client transport before its streams stop reading their upstreams. uvloop's TLS
# transport asks the protocol to pause writing only when it reads from the client, and libuv reads an upstream
# up to 32 times per loop iteration: frames are handed to the transport every _OUT_HIGH bytes and the streams
# check its buffer themselves; the sweep looks again (timed_out) until it drains.
_SEND_HIGH = 1024 * 1024
_CONN_WINDOW = 1024 * 1024  # connection receive window
_STREAM_WINDOW = 256 * 1024  # per-stream receive window
_MAX_FRAME = 16384
# Header lists whose checked fields a connection remembers (_request), and the largest remembered (name and value
# bytes, as counted against max_header_size): a bound of a few tens of KiB per connection.
_FIELDS_MEMO_MAX = 32
_FIELDS_MEMO_BYTES = 1024
# Response heads whose parse a worker remembers (H2Stream.write): an upstream answers the same resources with
# the same head bytes (only Date changes, once a second), so a whole response in one write costs a dict lookup
# instead of a parser and a Python call per field. Head bytes -> (status, fields, body length); cleared when
# full, heads above _HEADS_MEMO_BYTES not kept.
_HEADS_MEMO_MAX = 64
_HEADS_MEMO_BYTES = 2048
_heads: dict[bytes, tuple[int, tuple[tuple[bytes, bytes], ...], int]] = {}

# Bytes that would split or bend the HTTP/1.1 request line built from :method, :path and :authority (the header
# block check below refuses only NUL, CR and LF in values).
_UNSAFE = re.compile(rb"[\x00-\x20\x7f]")

# The request header block checks of RFC 9113 §8.2.1/§8.3, in place of the h2 library's inbound validation
# (which loops over every byte of every field in Python: about a tenth of a worker's time). The block is joined
# as "name\nvalue\n..." and matched once: pseudo-header fields first and only the four a request may have; names
# without upper case, controls, space, DEL, non-ASCII or a colon; values without NUL, CR or LF and without
# surrounding SP/HTAB. A LF inside a value would shift names and values, so the LF count is checked too.
_VALUE = rb"(?:[^\x00\t\n\r ](?:[^\x00\n\r]*[^\x00\t\n\r ])?)?\n"
_HEADER_BLOCK = re.compile(
    rb"(?::(?:method|scheme|path|authority)\n"
    + _VALUE
    + rb")*(?:[^\x00-\x20:A-Z\x7f-\xff]+\n"
    + _VALUE
    + rb")*"
)
# Connection-specific fields (RFC 9113 §8.2.2) make a request malformed; TE is allowed as "trailers" only.
_H_MALFORMED, _H_TE_H2 = -1, -2
_H2_SPECIAL = {
    **_SPECIAL,
    b"connection": _H_MALFORMED,
    b"keep-alive": _H_MALFORMED,
    b"proxy-connection": _H_MALFORMED,
    b"transfer-encoding": _H_MALFORMED,
    b"upgrade": _H_MALFORMED,
    b"te": _H_TE_H2,
}

# Response fields that are meaningless (and forbidden) in HTTP/2: connection-specific (RFC 9113 §8.2.2).
_RESP_DROP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"}
)


class _Finished:
    """The ``t`` of a stream that is over: response bytes for it are dropped, as ``H2Stream.write`` drops them
    once the stream has ended."""

    __slots__ = ()

    def write(self, data: bytes) -> None:
        pass

    def writelines(self, parts: Any) -> None:
        pass


_FINISHED = _Finished()


def _retire(s: H2Stream) -> None:
    """A stream over on both sides (answered and released by the upstream side, or reset with its upstream
    dropped): break its reference cycles (itself as `t`, its Exchange's `client`, its parser's bound callbacks)
    so that reference counting frees it now. Left to the collector, ten objects per request filled the worker's
    50 000-object young generation every ~5000 requests, and each scan of it took ~5% of the worker's CPU under
    h2load."""
    s.t = _FINISHED
    s.ex = None
    s.parser = None


class H2Stream:
    """One request of an h2 connection; the ``client`` of its :class:`Exchange` (duck-typed like
    :class:`.client.ClientConn` for what :mod:`.upstream` and :mod:`.pool` call on it)."""

    __slots__ = (
        "body_bytes",
        "conn",
        "done",
        "ended",
        "ex",
        "head_sent",
        "headers",
        "in_trailers",
        "msg_done",
        "obuf",
        "obytes",
        "parser",
        "pause_mask",
        "sid",
        "status",
        "t",
        "trailers",
        "unacked",
        "url",
        "wpaused",
    )

    def __init__(self, conn: H2Conn, sid: int) -> None:
        self.conn = conn
        self.sid = sid
        # The upstream writes the HTTP/1.1 response "to the client transport": to write() here.
        self.t: H2Stream | _Finished = self
        self.ex: Exchange | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.in_trailers = False
        self.status = 0
        self.head_sent = False
        self.msg_done = False
        self.done = False  # the upstream side finished (exchange_done)
        self.ended = False  # END_STREAM or RST_STREAM sent: nothing more goes out
        self.obuf: list[bytes] = []  # response body waiting for flow-control window
        self.obytes = 0
        self.unacked = 0  # request body bytes received but not yet acknowledged (upstream full)
        self.pause_mask = 0
        self.wpaused = False  # reading from the upstream is paused (client window or socket full)
        self.body_bytes = 0
        self.url = b""  # the request's :path (route rules read it as ClientConn.url)

    # --------------------------------------- what ClientConn offers the upstream side, rules, access log
    tls = True

    @property
    def closing(self) -> bool:
        return self.ended

    @property
    def w(self) -> Worker:
        return self.conn.w

    @property
    def trusted(self) -> bool:
        return self.conn.trusted

    def _local(self, ex: Exchange, response: bytes, keep: bool) -> None:
        """A route rule answered (redirect, 401, 404): as ClientConn._local, on this stream."""
        self.conn._local(self, response)

    @property
    def peer(self) -> bytes:
        return self.conn.peer

    def write(self, data: bytes) -> None:
        """HTTP/1.1 response bytes from the upstream (head rewritten by it): parsed into frames."""
        if self.ended:
            return
        parser = self.parser
        if parser is None:
            end = data.find(b"\r\n\r\n") + 4
            head = data[:end] if end > 3 else b""
            known = _heads.get(head)
            if known is not None and len(data) - end == known[2] and not self.status:
                # The parse of these very head bytes by a fresh parser, remembered, and the whole body came
                # with them: what the callbacks below would set.
                self.status = known[0]
                self.headers = list(known[1])
                self.in_trailers = True
                self.trailers = []
                if end < len(data):
                    self.obuf.append(data[end:])
                    self.obytes += len(data) - end
                self.msg_done = True
            else:
                parser = self.parser = response_parser(self)
                try:
                    parser.feed_data(data)
                except httptools.HttpParserError:
                    self.abort()
                    return
                if (
                    head
                    and self.msg_done
                    and self.status
                    and not self.head_sent
                    and len(head) <= _HEADS_MEMO_BYTES
                    and (self.obuf == [data[end:]] if end < len(data) else not self.obuf)
                    and not self.trailers
                ):
                    # A final response, complete, its body exactly the bytes after the first head end (so
                    # no interim head came before it and the body was not chunked): remember the parse.
                    if len(_heads) >= _HEADS_MEMO_MAX:
                        _heads.clear()
                    _heads[head] = (self.status, tuple(self.headers), len(data) - end)
        else:
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                self.abort()
                return
        if not self.head_sent and self.status:
            if self.msg_done and len(self.obuf) == 1 and self._send_whole():
                return
            self._send_head(self.msg_done and not self.obuf)
        if self.obuf or self.msg_done:
            self._flush()

    def _send_whole(self) -> bool:
        """A complete response whose body came in one piece: HEADERS and the END_STREAM DATA frame in one step
        (h2out.send_whole), without the flow-control loop of _flush (nothing waits for window). False: nothing
        sent, the usual way follows."""
        c = self.conn
        body = self.obuf[0]
        if not send_whole(c.h2, self.sid, [(b":status", b"%d" % self.status), *self.headers], body):
            return False
        self.head_sent = True
        self.headers = []
        self.obuf.clear()
        self.obytes = 0
        n = len(body)
        c.unsent += n
        if c.unsent > _OUT_HIGH:
            c._send()
        self._end()
        c.want_send()
        return True

    def writelines(self, parts: Any) -> None:
        self.write(b"".join(parts))  # the response compressor writes chunk framing and data together

    def pause(self, reason: int) -> None:
        self.pause_mask |= reason

    def unpause(self, reason: int) -> None:
        if self.pause_mask & reason:
            self.pause_mask &= ~reason
            if not self.pause_mask and self.unacked and not self.ended:
                n, self.unacked = self.unacked, 0
                self.conn.ack(self.sid, n)

    def exchange_done(self, ex: Exchange) -> None:
        """The upstream side is finished with ``ex``: the response is complete (maybe still buffered here)."""
        c = self.conn
        c.w.release(ex)
        if ex.rstats is not None:
            observe(ex.rstats[2], ex.status, perf_counter() - ex.t0)  # the route's latency histogram
        if ex.log is not None:
            c.w.access(self, ex)  # type: ignore[arg-type]
        self.done = True
        if self.ended:
            c.forget(self)
            return
        if not self.head_sent:
            if not self.status:
                self.abort()  # no response head at all (cannot happen with a sane upstream)
                return
            self._send_head(not self.obuf and not self.trailers)
        self._flush()

    def respond_error(self, ex: Exchange, status: int) -> None:
        """The upstream failed: answer ``status`` if no response byte went out yet, else reset the stream."""
        ex.status = status
        if ex.rstats is not None:
            ex.rstats[1] += 1
        if self.ended or ex.dead:
            self.conn.w.release(ex)
            return
        if ex.resp_started or self.head_sent:
            self.abort()
            return
        ex.resp_started = True
        self.parser = None
        self.status = 0
        self.headers = []
        self.write(exchange_error(self.conn.w, ex, status, False))
        self.exchange_done(ex)

    def abort(self) -> None:
        """Reset this stream (a truncated or broken response must not look complete)."""
        ex = self.ex
        if ex is not None:
            ex.dead = True
            drop_upstream(ex)
            self.conn.w.release(ex)
        if not self.ended:
            self.ended = True
            self.conn.reset(self.sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
        self.conn.forget(self)

    # ------------------------------------------------------------------------- httptools response callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if self.in_trailers:
            if self.trailers is not None and name not in _RESP_DROP:
                self.trailers.append((name, value))
        elif name not in _RESP_DROP:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()  # type: ignore[union-attr]
        if status < 200:
            self._send_interim(status)
            return
        self.status = status
        self.in_trailers = True
        self.trailers = []

    def on_body(self, body: bytes) -> None:
        self.obuf.append(body)
        self.obytes += len(body)

    def on_message_complete(self) -> None:
        if self.status:
            self.msg_done = True

    # ----------------------------------------------------------------------------------------- sending
    def _send_interim(self, status: int) -> None:
        """An interim response (100 Continue, 103 Early Hints): an informational HEADERS frame on the stream
        (RFC 9113 §8.1), before the final one. 101 has no meaning in HTTP/2 (no upgrade on an h2 stream)."""
        headers, self.headers = self.headers, []
        if status == 101 or self.ended or self.head_sent:
            return
        try:
            self.conn.h2.send_headers(self.sid, [(b":status", b"%d" % status), *headers])
        except h2.exceptions.ProtocolError:
            return  # the client reset the stream meanwhile
        self.conn.want_send()

    def _send_head(self, end: bool) -> None:
        self.head_sent = True
        headers = [(b":status", b"%d" % self.status), *self.headers]
        try:
            if not send_head(self.conn.h2, self.sid, headers, end):
                self.conn.h2.send_headers(self.sid, headers, end_stream=end)
        except h2.exceptions.ProtocolError:
            end = True  # the client reset the stream (or closed the connection) meanwhile
        self.headers = []
        if end:
            self._end()
        self.conn.want_send()

    def _flush(self) -> None:
        """Send buffered body bytes as the client's windows allow; end the stream once the upstream is done."""
        if self.ended:
            return
        c = self.conn
        h2c = c.h2
        obuf = self.obuf
        sid = self.sid
        try:
            while obuf:
                window = out_window(h2c, sid)
                if window < 0:
                    window = h2c.local_flow_control_window(sid)  # raises: the stream is gone
                if window <= 0:
                    break
                chunk = obuf[0]
                if len(chunk) <= window:
                    obuf.pop(0)
                else:
                    obuf[0] = chunk[window:]
                    chunk = chunk[:window]
                self.obytes -= len(chunk)
                # The last DATA frame of a finished response carries END_STREAM (one frame less per request).
                last = not obuf and (self.done or self.msg_done) and self.head_sent and not self.trailers
                n = len(chunk)
                if not send_data(h2c, sid, chunk, last):
                    for i in range(0, n, _MAX_FRAME):
                        h2c.send_data(sid, chunk[i : i + _MAX_FRAME], end_stream=last and i + _MAX_FRAME >= n)
                c.unsent += n
                if c.unsent > _OUT_HIGH:
                    c._send()  # now, not at the end of the loop iteration (see _SEND_HIGH)
                if last:
                    self._end()
                    break
            if not obuf and (self.done or self.msg_done) and self.head_sent and not self.ended:
                if self.trailers:
                    h2c.send_headers(sid, self.trailers, end_stream=True)
                elif not send_data(h2c, sid, b"", True):
                    h2c.end_stream(sid)
                self._end()
        except h2.exceptions.ProtocolError:  # reset by the client, or the connection closed meanwhile
            self.ended = True
            c.forget(self)
        c.want_send()
        # Back-pressure to the upstream: stop reading it while the client's window holds much back.
        ex = self.ex
        up = ex.up if ex is not None else None
        if self.obytes > _OUT_HIGH or c.wpaused or c.backlogged():
            if not self.wpaused:
                self.wpaused = True
                if up is not None and up.t is not None:
                    up.t.pause_reading()
        elif self.wpaused:
            self.wpaused = False
            if up is not None and up.t is not None:
                up.t.resume_reading()

    def _end(self) -> None:
        self.ended = True
        if self.done:
            self.conn.forget(self)


class H2Conn:
    """One client connection speaking HTTP/2 (ALPN ``h2``). In ``Worker.clients`` like a ClientConn, for the
    timeout sweep and shutdown (``deadline``, ``timed_out``, ``abort``; ``active``/``tunnel`` are None)."""

    active = None
    tunnel = None

    def __init__(self, w: Worker) -> None:
        self.w = w
        self.t: asyncio.Transport | None = None
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,  # built here from parsed, filtered, lower-cased fields
            normalize_outbound_headers=False,
            validate_inbound_headers=False,  # checked in _request, at C speed (_HEADER_BLOCK)
            normalize_inbound_headers=False,  # cookie crumbs are joined in _request
        )
        self.h2 = h2c = h2.connection.H2Connection(config=config)
        h2c.encoder = MemoEncoder()  # repeated header lists cost a dict lookup (see .hpack_memo)
        h2c.decoder = MemoDecoder()
        # hpack logs every header it codes at DEBUG: with DEBUG disabled each of those calls returns at once.
        logging.disable(logging.DEBUG)
        self.streams: dict[int, H2Stream] = {}
        self.fields: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # header list -> _fields() (see _request)
        self.peer = b""
        self.trusted = False
        self.closing = False
        self.wpaused = False
        self.send_scheduled = False
        self.unsent = 0  # DATA bytes handed to h2 since the last write to the transport
        self.blocked = False  # the client transport's buffer was over _SEND_HIGH (see backlogged)
        self.tbuf = 0  # the client transport's buffer after the last write (see backlogged)
        self.deadline = 0.0
        self.window_start = 0.0
        self.rsts = self.pings = self.settings = self.empties = self.prios = 0

    # ------------------------------------------------------------------------------------------ transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        w = self.w
        w.clients.add(self)  # type: ignore[arg-type]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0].encode() if isinstance(peer, tuple) else b"unix"
        self.trusted = bool(w.trusted_proxies) and w.is_trusted(self.peer)
        h2c = self.h2
        h2c.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: w.h2_max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        h2c.initiate_connection()
        h2c.increment_flow_control_window(_CONN_WINDOW - 65535)
        # Hard bound on one decoded header block (HPACK bombs, CONTINUATION floods): a connection error. Lists
        # above max_header_size but within this get a 431 on their stream, like HTTP/1.1.
        h2c.decoder.max_header_list_size = 2 * w.max_header_size
        self.window_start = w.now
        self.deadline = w.now + w.header_timeout  # the preface and a first request must come soon
        self._send()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            events, pos = take_requests(self.h2, data)  # plain request HEADERS frames (see .h2in)
            if pos < len(data):
                if events:
                    events += self.h2.receive_data(data[pos:])
                else:
                    events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            code = getattr(exc, "error_code", None) or h2.errors.ErrorCodes.PROTOCOL_ERROR
            self._goaway(code)
            return
        ev: Any
        own = None  # the priority a request's HEADERS frame carried (browsers send one with every request)
        for ev in events:
            if self.closing:
                return
            kind = type(ev)
            if kind is h2.events.RequestReceived:
                own = ev.priority_updated
                self._request(ev)
            elif kind is h2.events.DataReceived:
                self._data(ev)
            elif kind is h2.events.StreamEnded:
                self._request_end(ev.stream_id)
            elif kind is h2.events.TrailersReceived:
                from .h2upstream import request_trailers  # kept for an h2c upstream only

                request_trailers(self, ev)
            elif kind is h2.events.WindowUpdated:
                self._window(ev.stream_id)
            elif kind is h2.events.StreamReset:
                self._reset_received(ev.stream_id)
            elif kind is h2.events.PingReceived:
                self.pings += 1
                self._flood_check()
            elif kind is h2.events.PriorityUpdated:
                if ev is not own:  # PRIORITY frames only: a request's own priority costs no extra frame
                    self.prios += 1
                    self._flood_check()
            elif kind is h2.events.RemoteSettingsChanged:
                self.settings += 1
                self._flood_check()
            elif kind is h2.events.ConnectionTerminated:
                self._close()
                return
        self._send()

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        # The client reads slower than we answer: stop reading its frames (control frames it sends meanwhile
        # would queue answers of their own) and let the streams stop their upstreams.
        self.wpaused = True
        if self.t is not None:
            self.t.pause_reading()
        for s in list(self.streams.values()):
            s._flush()

    def resume_writing(self) -> None:
        self.wpaused = False
        if self.t is not None and not self.closing:
            self.t.resume_reading()
        for s in list(self.streams.values()):
            s._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.w.clients.discard(self)  # type: ignore[arg-type]
        self._drop_streams()

    def _drop_streams(self) -> None:
        """End every stream's upstream side: nothing more can be sent on this connection."""
        streams = list(self.streams.values())
        self.streams.clear()
        for s in streams:
            s.ended = True
            ex = s.ex
            if ex is not None:
                ex.dead = True
                drop_upstream(ex)
                self.w.release(ex)

    # ------------------------------------------------------------------------------------------- requests
    def _request(self, ev: h2.events.RequestReceived) -> None:
        w = self.w
        sid = ev.stream_id
        s = H2Stream(self, sid)
        self.streams[sid] = s
        self.deadline = 0.0
        ex = s.ex = Exchange(s)  # type: ignore[arg-type]
        headers = ev.headers or ()
        # A client repeating a request (the same assets, polling, load generators) sends the same header list:
        # its checks and classification are a function of the list alone (and of `trusted`, fixed per
        # connection), so they are remembered per connection, like the HPACK blocks that carry it.
        key = tuple(headers)
        memo = self.fields
        fields = memo.get(key)
        if fields is None:
            fields = self._fields(headers)
            if fields is None:
                return self._goaway(h2.errors.ErrorCodes.PROTOCOL_ERROR)  # malformed (RFC 9113 §8.1.1)
            if fields[10] <= _FIELDS_MEMO_BYTES:
                if len(memo) >= _FIELDS_MEMO_MAX:
                    memo.clear()
                memo[key] = fields
        method, path, host, cl, xff, rid, fwd_proto, fwd_host, ae, lines, size = fields
        out: list[bytes] = [b"", b"", *lines]  # request line and Host set below, once they are checked
        has_body = ev.stream_ended is None
        ex.has_body = has_body
        ex.is_head = method == b"HEAD"
        if w.access_log:
            ex.log = (method or b"-", path or b"-", host or b"-", out, xff, rid)  # see .accesslog
        if size > w.max_header_size:
            return self._local(s, error_response(431, False))
        if (
            method is None
            or path is None
            or host is None
            or _UNSAFE.search(method + path + host) is not None
            or (path[0] != 47 and path != b"*")  # 47: "/"
            or (cl is not None and (not cl.isdigit() or len(cl) > 18))
        ):
            return self._local(s, error_response(400, False))
        if method == b"CONNECT":
            return self._local(s, error_response(405, False))  # no extended CONNECT (WebSockets use HTTP/1.1)
        if cl is not None and w.max_body_size and int(cl) > w.max_body_size:
            return self._local(s, error_response(413, False))
        s.url = path
        out[0] = b"%s %s HTTP/1.1\r\n" % (method, path)
        out[1] = b"Host: %s\r\n" % host
        hkey = _route_key(host)
        if w.acme and path.startswith(_ACME_PREFIX) and method in (b"GET", b"HEAD"):
            answer = w.acme.get(path[len(_ACME_PREFIX) :].partition(b"?")[0])
            if answer is not None:
                return self._local(s, plain_response(200, b"OK", answer, False))
        entry = w.routes.lookup(hkey)
        to_h2c = False
        if entry is not None and entry.special is not None:
            # Path routes, redirects, basic auth: the HTTP/1.1 path's rules, the stream standing in for the
            # client connection (it answers through _local; the request line in out[0] may be rewritten).
            entry = apply_rules(s, ex, entry, method, host, hkey, out, True)  # type: ignore[arg-type]
            if entry is None:
                return None
            # upstream_protocol = "h2c" (gRPC): the stream goes to the app as an HTTP/2 stream (.h2upstream).
            to_h2c = entry.special is not None and entry.special.h2c
        if entry is None:
            w.unmatched[0] += 1
            return self._local(s, error_response(404, False))
        rstats = ex.rstats = w.route_stats[entry.domain]
        rstats[0] += 1
        # https_redirect: this is the TLS listener already, nothing to redirect.
        upstream = entry.pick(w.unhealthy)
        if upstream is None and (upstream := w.outliers.last_resort(entry)) is None:
            rstats[1] += 1
            return self._local(s, entry_error(entry, 503, False))
        if rid is None or len(rid) > 128:
            w.rid_seq += 1
            rid = b"%s%016x" % (w.rid_prefix, w.rid_seq)
        peer = self.peer
        out.append(
            b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\nX-Request-Id: %s\r\n"
            % (peer if xff is None else xff + b", " + peer, fwd_proto or b"https", fwd_host or host, rid)
        )
        if entry.hsts:
            ex.hsts = True
        if to_h2c:
            from .h2upstream import forward  # a worker without h2c routes never loads it

            return forward(self, s, ex, upstream, out, cl, has_body, headers)
        if ae is not None and entry.compress and w.compress is not None:
            ex.accept = ae  # the upstream side compresses the response (see .compress)
        if has_body:
            if cl is not None:
                out.append(b"Content-Length: %s\r\n\r\n" % cl)
            else:
                ex.chunked = True  # h2 frames the body itself: HTTP/1.1 needs chunks when no length was given
                out.append(b"Transfer-Encoding: chunked\r\n\r\n")
        else:
            ex.req_done = True
            out.append(b"Content-Length: 0\r\n\r\n" if method in (b"POST", b"PUT", b"PATCH") else b"\r\n")
        ex.head = b"".join(out)
        ex.upstream = upstream
        addr = ex.addr = upstream.addr
        w.active[addr] = w.active.get(addr, 0) + 1
        ex.counted = True
        w.acquire(ex)

    def _fields(self, headers: Any) -> tuple[Any, ...] | None:
        """A request's header list checked (RFC 9113 §8.2.1/§8.3) and classified like the HTTP/1.1 path's
        fields: (method, path, host, content-length, X-Forwarded-For, X-Request-Id, X-Forwarded-Proto,
        X-Forwarded-Host, Accept-Encoding, the header lines for the upstream, the list's size); None when it is
        malformed (a connection error)."""
        method = path = authority = scheme = host = cl = xff = rid = fwd_proto = fwd_host = ae = None
        cookies: list[bytes] = []
        out: list[bytes] = []
        size = 0
        trusted = self.trusted
        block = b"\n".join(chain.from_iterable(headers)) + b"\n"
        if block.count(b"\n") != 2 * len(headers) or _HEADER_BLOCK.fullmatch(block) is None:
            return None  # malformed (RFC 9113 §8.1.1)
        bad = False
        # Fields classified like the HTTP/1.1 path's (client._SPECIAL), pseudo-headers taken apart.
        for name, value in headers:
            size += len(name) + len(value) + 4
            if name[0] == 58:  # ":" pseudo-header (_HEADER_BLOCK checked which and where)
                if name == b":method":
                    bad = bad or method is not None
                    method = value
                elif name == b":path":
                    bad = bad or path is not None
                    path = value
                elif name == b":authority":
                    bad = bad or authority is not None
                    authority = value
                else:
                    bad = bad or scheme is not None
                    scheme = value
                continue
            if name == b"cookie":
                cookies.append(value)  # crumbs of one field (RFC 9113 §8.2.3): joined for HTTP/1.1 below
                continue
            kind = _H2_SPECIAL.get(name)
            if kind is None:
                out.append(b"%s: %s\r\n" % (name, value))
            elif kind == _H_HOST:
                bad = bad or host is not None
                host = value
            elif kind == _H_MALFORMED:
                bad = True
            elif kind == _H_TE_H2:
                bad = bad or value.lower() != b"trailers"
            elif kind == _H_CL:
                cl = value
            elif kind == _H_XFF:
                if trusted:
                    xff = xff + b", " + value if xff else value
            elif kind == _H_XFP:
                if trusted:
                    fwd_proto = value
            elif kind == _H_XFH:
                if trusted:
                    fwd_host = value
            elif kind == _H_RID:
                rid = value
            elif kind == _H_AE:
                ae = ae + b"," + value if ae else value
                out.append(b"Accept-Encoding: %s\r\n" % value)
            # _H_DROP fields go.
        if (
            bad
            or method is None
            or (method != b"CONNECT" and (scheme is None or not path))
            or (authority is None and host is None)
            or (authority is not None and host is not None and authority != host)
        ):
            # Malformed (RFC 9113 §8.1.1): a connection error, as the h2 library's own checks made it.
            return None
        if cookies:
            out.append(b"Cookie: %s\r\n" % b"; ".join(cookies))
        return (method, path, authority or host, cl, xff, rid, fwd_proto, fwd_host, ae, tuple(out), size)

    def _local(self, s: H2Stream, response: bytes) -> None:
        """Answer a stream from the proxy itself (error pages, ACME), through the same HTTP/1.1 → h2 path."""
        ex = s.ex
        assert ex is not None
        ex.pending = None
        ex.status = int(response[9:12])
        ex.resp_started = True
        if not ex.has_body:
            ex.req_done = True
        s.write(response)
        s.exchange_done(ex)

    def _data(self, ev: h2.events.DataReceived) -> None:
        sid = ev.stream_id
        n = ev.flow_controlled_length
        if not n and ev.stream_ended is None:
            self.empties += 1  # costs us a frame's work and the client nothing
            self._flood_check()
        s = self.streams.get(sid)
        ex = s.ex if s is not None else None
        if s is None or ex is None or ex.req_done or s.ended:
            self.ack(
                sid, n
            )  # a body nobody reads (answered locally, or reset): keep the connection's window open
            return
        body = ev.data
        w = self.w
        if w.max_body_size:
            s.body_bytes += len(body)
            if s.body_bytes > w.max_body_size:
                if not s.head_sent and not ex.resp_started:
                    drop_upstream(ex)
                    w.release(ex)
                    ex.req_done = True
                    self._local(s, error_response(413, False))
                    self.reset(sid, h2.errors.ErrorCodes.NO_ERROR)  # answered: stop sending the body
                else:
                    s.abort()
                self.ack(sid, n)
                return
        up = ex.up
        if body:
            if up is not None:
                up.deadline = w.now + w.read_timeout
                if ex.chunked:
                    up.t.writelines((b"%x\r\n" % len(body), body, b"\r\n"))  # type: ignore[union-attr]
                else:
                    up.t.write(body)  # type: ignore[union-attr]
            elif ex.pending is not None:
                if ex.chunked:
                    ex.pending += (b"%x\r\n" % len(body), body, b"\r\n")
                else:
                    ex.pending.append(body)
                ex.pending_size += len(body)
                if ex.pending_size > PENDING_LIMIT:
                    s.pause(P_PENDING)
        # Window updates follow what the upstream takes: none while its buffer is full or nothing is connected.
        if s.pause_mask & (P_PENDING | P_UPSTREAM_FULL):
            s.unacked += n
        else:
            self.ack(sid, n)

    def _request_end(self, sid: int) -> None:
        s = self.streams.get(sid)
        ex = s.ex if s is not None else None
        if ex is None or ex.req_done:
            return
        ex.request_done(self.w.now + self.w.read_timeout)

    def _window(self, sid: int) -> None:
        if sid:
            s = self.streams.get(sid)
            if s is not None and s.obuf:
                s._flush()
        else:
            for s in list(self.streams.values()):
                if s.obuf:
                    s._flush()

    def _reset_received(self, sid: int) -> None:
        self.rsts += 1
        s = self.streams.pop(sid, None)
        if s is not None:
            s.ended = True
            ex = s.ex
            if ex is not None and not s.done:
                ex.dead = True
                drop_upstream(ex)
                self.w.release(ex)
            _retire(s)  # answered or cut off: nothing more comes for it (a rapid reset leaves no garbage)
        if not self.streams:
            self.deadline = self.w.now + self.w.idle_timeout
        self._flood_check()

    def _flood_check(self) -> None:
        now = self.w.now
        if now - self.window_start > _FLOOD_WINDOW:
            self.window_start = now
            self.rsts = self.pings = self.settings = self.empties = self.prios = 0
        elif (
            self.rsts > RST_LIMIT
            or self.pings > PING_LIMIT
            or self.settings > SETTINGS_LIMIT
            or self.empties > EMPTY_DATA_LIMIT
            or self.prios > PRIORITY_LIMIT
        ):
            print(
                f"rivetr-proxy worker {self.w.index}: h2 client {self.peer.decode()} closed: "
                f"{self.rsts} stream resets, {self.pings} pings, {self.settings} settings, {self.empties} empty "
                f"DATA, {self.prios} PRIORITY frames in {_FLOOD_WINDOW:g} s",
                file=sys.stderr,
                flush=True,
            )
            self._goaway(h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)

    # ------------------------------------------------------------------------------------------- helpers
    def ack(self, sid: int, n: int) -> None:
        if n and not self.closing:
            try:
                self.h2.acknowledge_received_data(n, sid)
            except h2.exceptions.StreamClosedError:
                self.h2.increment_flow_control_window(n)  # the stream is gone; the connection's window stays
            self.want_send()

    def reset(self, sid: int, code: Any) -> None:
        if not self.closing:
            try:
                self.h2.reset_stream(sid, code)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                pass
            self.want_send()

    def forget(self, s: H2Stream) -> None:
        if self.streams.get(s.sid) is s:
            del self.streams[s.sid]
            if not self.streams and not self.closing:
                self.deadline = self.w.now + self.w.idle_timeout
        ex = s.ex
        if s.ended and (s.done or ex is None or ex.dead):
            _retire(s)

    def want_send(self) -> None:
        """Frames are waiting in the h2 state machine: write them once this loop iteration is over (many
        streams answering at once leave in one write)."""
        if not self.send_scheduled and not self.closing:
            self.send_scheduled = True
            self.w.loop.call_soon(self._send)

    def _send(self) -> None:
        self.send_scheduled = False
        self.unsent = 0
        data = self.h2.data_to_send()
        t = self.t
        if data and t is not None and not t.is_closing():
            t.write(data)
            self.tbuf = t.get_write_buffer_size()

    def backlogged(self) -> bool:
        """The client transport holds more than _SEND_HIGH: streams pause, and the sweep retries them.
        The buffer only grows when we write: its size is taken once per write of a batch (in _send), not once
        per stream, and looked at again here only while it was over the mark."""
        t = self.t
        if self.tbuf <= _SEND_HIGH or t is None:
            return False
        self.tbuf = t.get_write_buffer_size()
        if self.tbuf <= _SEND_HIGH:
            return False
        if not self.blocked:
            self.blocked = True
            self.deadline = self.w.now  # the next sweep calls timed_out, which flushes the streams again
        return True

    def _goaway(self, code: Any) -> None:
        if self.closing:
            return
        try:
            self.h2.close_connection(error_code=code)
        except h2.exceptions.ProtocolError:
            pass
        self._send()
        self._close()

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            if self.t is not None:
                self.t.close()  # after the GOAWAY already written
            # Responses still on their way would have nowhere to go (h2 refuses to send once closed).
            self._drop_streams()

    # -------------------------------------------------------------------------------- sweep and shutdown
    def drain(self, addr: str) -> None:
        """Past the drain deadline of a removed upstream: reset the streams still on it (the connection and
        its other streams go on, unlike an HTTP/1.1 connection, which is closed)."""
        for s in list(self.streams.values()):
            ex = s.ex
            if ex is not None and ex.addr == addr and not s.done:
                s.abort()

    def timed_out(self) -> None:
        self.deadline = 0.0
        if self.blocked:
            self.blocked = False
            for s in list(self.streams.values()):
                s._flush()  # resumes the upstream if the client drained the buffer (else blocks again)
            if not self.streams and not self.deadline:
                self.deadline = self.w.now + self.w.idle_timeout
            return
        if not self.streams:
            self._goaway(h2.errors.ErrorCodes.NO_ERROR)

    def pending(self) -> bool:
        """A stopping worker waits for nothing here: the streams in flight count in ``Worker.active``."""
        return False

    def close_if_idle(self) -> None:
        """Left to the stopping worker's final abort (see ``MasterLink.shutdown``)."""

    def abort(self) -> None:
        self.closing = True
        if self.t is not None:
            self.t.abort()
