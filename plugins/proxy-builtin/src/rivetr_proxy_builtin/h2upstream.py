"""gRPC passthrough: the HTTP/2 streams of a route with ``upstream_protocol = "h2c"`` go to the app as streams of
pooled HTTP/2 cleartext connections (prior knowledge, RFC 9113 §3.3), not as HTTP/1.1 requests.

gRPC needs what HTTP/1.1 cannot carry: response trailers on every call (``grpc-status``), request and response
bodies streaming at the same time, and ``te: trailers``. :mod:`.h2conn` decides as for any stream (route rules,
upstream choice, X-Forwarded-*/X-Request-Id, access log, counters), then hands the stream to :func:`forward`
instead of ``Worker.acquire``. From there:

- :class:`Leg` is the stream's ``ex.up``: h2conn writes the request body to ``leg.t`` (the leg itself) as it
  would to an upstream socket, and the leg sends it as DATA frames as the app's windows allow. While bytes wait
  for window, the client stream is paused (``P_UPSTREAM_FULL``): its DATA is acknowledged only once it went
  up, so the client is held back by HTTP/2 flow control, not by the proxy's memory.
- The response is set straight on the :class:`.h2conn.H2Stream` (status, fields, body, trailers): no HTTP/1.1
  round trip. When the client's windows hold more than h2conn's mark back, h2conn calls ``pause_reading`` on
  the leg, which stops acknowledging the app's DATA (flow control the other way).
- Resets travel both ways: a client's RST_STREAM (or its connection's end) cancels the upstream stream; the
  app's RST_STREAM resets the client's stream with the same code.
- An upstream that refuses the connection, breaks it or sends GOAWAY before a stream was processed: 502 on
  the streams that have no response yet, a reset on the others.

The h2 library is imported here, as in :mod:`.h2conn`: only a worker that has HTTP/2 clients loads it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .exchange import Exchange
from .flow import P_UPSTREAM_FULL

if TYPE_CHECKING:
    from .h2conn import H2Conn, H2Stream
    from .routing import Upstream
    from .worker import Worker

_STREAM_WINDOW = 256 * 1024  # per-stream receive window for responses (as h2conn's for requests)
_CONN_WINDOW = 1024 * 1024
_MAX_FRAME = 16384
# Fields that must not cross into the other HTTP/2 connection (connection-specific, RFC 9113 §8.2.2).
_DROP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_CANCEL = h2.errors.ErrorCodes.CANCEL


class H2cExchange(Exchange):
    """An exchange forwarded over h2c: the end of the request is an END_STREAM (or trailers) for the app's
    stream, not a last chunk. Same layout as :class:`.exchange.Exchange` (h2conn made it; its class changes)."""

    __slots__ = ()

    def request_done(self, read_deadline: float) -> None:
        self.req_done = True
        up = self.up
        if up is not None:
            up.finish()  # type: ignore[attr-defined]


def forward(
    conn: H2Conn,
    s: H2Stream,
    ex: Exchange,
    upstream: Upstream,
    out: list[bytes],
    cl: bytes | None,
    has_body: bool,
    client_headers: Any,
) -> None:
    """Send stream ``s`` to ``upstream`` over h2c. ``out`` holds the request line and header lines h2conn built
    for HTTP/1.1 (after route rules and forwarding fields): they are turned back into an HTTP/2 field list."""
    w = conn.w
    ex.__class__ = H2cExchange
    ex.pending = None  # the leg buffers the body itself
    ex.upstream = upstream
    addr = ex.addr = upstream.addr
    w.active[addr] = w.active.get(addr, 0) + 1
    ex.counted = True
    if not has_body:
        ex.req_done = True
    if ex.log is not None:
        ex.up_start = w.now  # for the access log's upstream time
        ex.head = b"".join(out)  # where the access log finds the X-Request-Id the app got
    line = out[0]
    method, _, rest = line.partition(b" ")
    host = out[1][6:-2]  # b"Host: %s\r\n"
    headers = [
        (b":method", method),
        (b":scheme", b"http"),
        (b":authority", host),
        (b":path", rest[:-11]),  # b"<path> HTTP/1.1\r\n"
    ]
    for field in b"".join(out[2:]).split(b"\r\n"):
        if field:
            name, _, value = field.partition(b":")
            headers.append((name.lower(), value.strip()))
    if any(n == b"te" for n, _ in client_headers):  # h2conn let it through as "trailers" only
        headers.append((b"te", b"trailers"))  # gRPC servers refuse calls without it
    if cl is not None:
        headers.append((b"content-length", cl))
    leg = Leg(ex, s, headers, not has_body)
    ex.up = leg  # type: ignore[assignment]
    pool(w).open(leg, upstream)


def request_trailers(conn: H2Conn, ev: h2.events.TrailersReceived) -> None:
    """The client's request trailers: sent to the app at the end of the stream (HTTP/1.1 upstreams have no
    place for them on an HTTP/2 request and never got them)."""
    s = conn.streams.get(ev.stream_id)
    ex = s.ex if s is not None else None
    up = ex.up if ex is not None else None
    if type(up) is Leg:
        up.trailers = [(n, v) for n, v in ev.headers or () if n[:1] != b":" and n not in _DROP]


def pool(w: Worker) -> H2cPool:
    """The worker's h2c connections (made on the first h2c stream; the Worker class does not know them)."""
    p: H2cPool | None = w.__dict__.get("h2c_pool")
    if p is None:
        p = w.__dict__["h2c_pool"] = H2cPool(w)
    return p


class H2cPool:
    """HTTP/2 connections per upstream address; a stream goes on the first with room for one more."""

    def __init__(self, w: Worker) -> None:
        self.w = w
        self.conns: dict[str, list[H2cConn]] = {}

    def open(self, leg: Leg, upstream: Upstream) -> None:
        conns = self.conns.setdefault(upstream.addr, [])
        for c in conns:
            if c.has_room():
                c.add(leg)
                return
        c = H2cConn(self, upstream.addr)
        conns.append(c)
        c.add(leg)
        self.w.loop.create_task(c.connect(upstream.host, upstream.port))

    def remove(self, c: H2cConn) -> None:
        conns = self.conns.get(c.addr)
        if conns and c in conns:
            conns.remove(c)


class H2cConn(asyncio.Protocol):
    """One HTTP/2 cleartext connection to an app (client side), carrying many legs."""

    def __init__(self, pool: H2cPool, addr: str) -> None:
        self.pool = pool
        self.w = pool.w
        self.addr = addr
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            # The request fields were checked on the client's connection (h2conn) and the forwarding fields are
            # the proxy's own: checking them again per byte costs a third of the stream's CPU.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.t: asyncio.Transport | None = None
        self.legs: dict[int, Leg] = {}
        self.waiting: list[Leg] = []  # legs added before the connection is made
        self.closed = False
        self.goaway = False  # the app sent GOAWAY: no new streams here
        self.wpaused = False  # the app's socket is full: legs keep their bytes
        self.send_scheduled = False

    def has_room(self) -> bool:
        if self.closed or self.goaway:
            return False
        if self.t is None:
            return len(self.waiting) < 100
        return self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    def add(self, leg: Leg) -> None:
        leg.conn = self
        if self.t is None:
            self.waiting.append(leg)
        else:
            leg.open()

    async def connect(self, host: str, port: int) -> None:
        w = self.w
        try:
            await asyncio.wait_for(w.loop.create_connection(lambda: self, host, port), w.connect_timeout)
        except Exception:  # refused, timed out, anything: the streams get 502, the worker goes on
            self.closed = True  # never offered again: the next stream tries a new connection
            self.pool.remove(self)
            if self.t is not None:
                self.t.abort()
            w.outliers.failure(self.addr)  # passive health: one failure per connection, as HTTP/1.1 counts
            self._fail_all(None)

    # ------------------------------------------------------------------------------------------ transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        h2c = self.h2
        h2c.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            },
        )
        h2c.initiate_connection()
        h2c.increment_flow_control_window(_CONN_WINDOW - 65535)
        waiting, self.waiting = self.waiting, []
        for leg in waiting:
            if leg.ex is not None:
                leg.open()
        self.send()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.send()  # the library's GOAWAY
            self._close()
            return
        ev: Any
        for ev in events:
            kind = type(ev)
            if kind is h2.events.DataReceived:
                leg = self.legs.get(ev.stream_id)
                if leg is None:  # a stream the client gave up: keep the connection's window open
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                else:
                    leg.on_data(ev.data, ev.flow_controlled_length)
            elif (call := _STREAM_EVENTS.get(kind)) is not None:
                leg = self.legs.get(ev.stream_id)
                if leg is not None:  # else a stream the client gave up
                    call(leg, ev)
            elif kind is h2.events.WindowUpdated:
                self._window(ev.stream_id)
            elif kind is h2.events.ConnectionTerminated:
                self._goaway(ev.last_stream_id)
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.remove(self)
        self._fail_all(None)

    def pause_writing(self) -> None:
        self.wpaused = True

    def resume_writing(self) -> None:
        self.wpaused = False
        for leg in list(self.legs.values()):
            leg.pump()

    # ------------------------------------------------------------------------------------------- helpers
    def want_send(self) -> None:
        """Frames wait in the h2 state machine: write them once this loop iteration is over (the streams of
        a batch leave in one write)."""
        if not self.send_scheduled and not self.closed:
            self.send_scheduled = True
            self.w.loop.call_soon(self.send)

    def send(self) -> None:
        self.send_scheduled = False
        data = self.h2.data_to_send()
        t = self.t
        if data and t is not None and not t.is_closing():
            t.write(data)

    def forget(self, leg: Leg) -> None:
        if self.legs.get(leg.sid) is leg:
            del self.legs[leg.sid]
        if not self.legs and (self.goaway or self.addr not in self.w.routes.upstream_addrs):
            self._close()  # the app said GOAWAY, or it left every route: nothing more will come here

    def _window(self, sid: int) -> None:
        if sid:
            leg = self.legs.get(sid)
            if leg is not None:
                leg.pump()
        else:
            for leg in list(self.legs.values()):
                leg.pump()

    def _goaway(self, last_stream_id: int | None) -> None:
        """The app stops taking streams: the ones above ``last_stream_id`` were not processed (502), the others
        may finish."""
        self.goaway = True
        self.pool.remove(self)
        last = last_stream_id if last_stream_id is not None else 0
        for sid, leg in list(self.legs.items()):
            if sid > last:
                leg.fail()
        if not self.legs:
            self._close()

    def _fail_all(self, _: object) -> None:
        legs = self.waiting + list(self.legs.values())
        self.waiting = []
        self.legs.clear()
        for leg in legs:
            leg.fail()

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.remove(self)
            if self.t is not None:
                self.t.close()
            self._fail_all(None)


class Leg:
    """One client stream forwarded as one upstream stream; the ``up`` of its exchange (what h2conn and the
    exchange call on an upstream: ``t.write``/``t.writelines``/``t.pause_reading``/``t.resume_reading``,
    ``deadline``, ``ex``, ``close``; here ``t`` is the leg itself)."""

    __slots__ = (
        "conn",
        "deadline",
        "end",
        "ex",
        "headers",
        "out",
        "out_size",
        "paused",
        "s",
        "sid",
        "t",
        "trailers",
        "unacked",
    )

    def __init__(self, ex: Exchange, s: H2Stream, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        self.t = self
        self.ex: Exchange | None = ex
        self.s = s
        self.conn: H2cConn | None = None
        self.headers: list[tuple[bytes, bytes]] | None = headers
        self.sid = 0  # the upstream stream, once opened
        self.end = end  # the client's request is complete: END_STREAM once the body went up
        self.out: list[bytes] = []  # request body waiting for the connection or the app's windows
        self.out_size = 0
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.paused = False  # the client's windows are full: the app's DATA is not acknowledged meanwhile
        self.unacked = 0
        self.deadline = (
            0.0  # h2conn sets it as for an HTTP/1.1 upstream; gRPC calls carry their own deadlines
        )

    # ------------------------------------------------------------------------- what h2conn calls (request)
    def write(self, data: bytes) -> None:
        self.out.append(data)
        self.out_size += len(data)
        self.pump()

    def writelines(self, parts: Any) -> None:
        self.write(b"".join(parts))

    def finish(self) -> None:
        self.end = True
        self.pump()

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        c = self.conn
        if self.unacked and c is not None and not c.closed:
            n, self.unacked = self.unacked, 0
            self._ack(n)
            c.want_send()

    def close(self) -> None:
        """The client went away (RST_STREAM, connection closed, drain): cancel the app's stream."""
        self.ex = None
        c = self.conn
        if c is None:
            return
        if not self.sid:
            if self in c.waiting:
                c.waiting.remove(self)
            return
        c.forget(self)
        if not c.closed:
            try:
                c.h2.reset_stream(self.sid, _CANCEL)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                pass
            c.want_send()

    # --------------------------------------------------------------------------------------------- sending
    def open(self) -> None:
        c = self.conn
        assert c is not None and self.headers is not None
        h2c = c.h2
        whole = self.end and not self.out and self.trailers is None  # no body: END_STREAM with the head
        try:
            self.sid = sid = h2c.get_next_available_stream_id()
            h2c.send_headers(sid, self.headers, end_stream=whole)
        except h2.exceptions.NoAvailableStreamIDError:
            # 2^30 streams used this connection up: it finishes the ones it has, a new one takes this leg.
            self.sid = 0
            c.goaway = True
            c.pool.remove(c)
            ex = self.ex
            if ex is not None and ex.upstream is not None:
                c.pool.open(self, ex.upstream)
            return
        except h2.exceptions.ProtocolError:
            self.sid = 0
            self.fail()
            return
        self.headers = None
        c.legs[sid] = self
        if whole:
            self.end = False
        self.pump()
        c.want_send()

    def pump(self) -> None:
        """Send waiting body bytes as the app's windows allow; END_STREAM (or the trailers) once all went."""
        c = self.conn
        s = self.s
        if c is None or not self.sid or c.closed:
            if self.out:
                s.pause(P_UPSTREAM_FULL)
            return
        h2c = c.h2
        sid = self.sid
        try:
            while self.out and not c.wpaused:
                window = min(h2c.local_flow_control_window(sid), _MAX_FRAME)
                if window <= 0:
                    break
                chunk = self.out[0]
                if len(chunk) <= window:
                    self.out.pop(0)
                else:
                    self.out[0] = chunk[window:]
                    chunk = chunk[:window]
                self.out_size -= len(chunk)
                h2c.send_data(sid, chunk)
            if not self.out and self.end:
                self.end = False
                if self.trailers is not None:
                    h2c.send_headers(sid, self.trailers, end_stream=True)
                else:
                    h2c.end_stream(sid)
        except h2.exceptions.ProtocolError:  # the app reset the stream meanwhile (its event follows)
            self.out.clear()
            self.out_size = 0
        c.want_send()
        if self.out:
            s.pause(P_UPSTREAM_FULL)
        else:
            s.unpause(P_UPSTREAM_FULL)  # acknowledges what the client sent meanwhile

    # ---------------------------------------------------------------------------------- the app's answer
    def on_interim(self, headers: list[tuple[bytes, bytes]]) -> None:
        s = self.s
        status = 0
        fields = []
        for n, v in headers:
            if n == b":status":
                status = int(v)
            elif n[:1] != b":" and n not in _DROP:
                fields.append((n, v))
        s.headers = fields
        s._send_interim(status)

    def on_response(self, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        s = self.s
        ex = self.ex
        if ex is None:
            return
        status = 502
        fields = []
        for n, v in headers:
            if n == b":status":
                status = int(v)
            elif n[:1] != b":" and n not in _DROP:
                fields.append((n, v))
        if ex.hsts and all(n != _HSTS[0] for n, _ in fields):
            fields.append(_HSTS)
        ex.status = s.status = status
        ex.resp_started = True
        conn = self.conn
        if conn is not None:  # passive health: a failure, or a success to reset, as HTTP/1.1 counts them
            outliers = conn.w.outliers
            if 501 < status < 505 or outliers.fails:
                outliers.response(conn.addr, status)
        s.headers = fields
        s.trailers = []
        if not ended:
            s._send_head(False)  # now: a streaming call's messages may be long in coming

    def on_data(self, data: bytes, n: int) -> None:
        s = self.s
        if self.paused:
            self.unacked += n
        else:
            self._ack(n)
        if data:
            ex = self.ex
            if ex is not None and ex.log is not None:
                ex.sent += len(data)  # the access log's bytes: the response body, as DATA frames carry it
            s.obuf.append(data)
            s.obytes += len(data)
            s._flush()

    def on_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.s.trailers = [(n, v) for n, v in headers if n[:1] != b":" and n not in _DROP]

    def on_end(self) -> None:
        ex = self.ex
        self._detach()
        if ex is None:
            return
        s = self.s
        s.msg_done = True
        if ex.log is not None:
            ex.up_time = s.conn.w.now - ex.up_start
        s.exchange_done(ex)

    def on_reset(self, code: Any) -> None:
        """The app reset its stream: the client's stream is reset with the same code."""
        ex = self.ex
        self._detach()
        if ex is None:
            return
        s = self.s
        ex.dead = True
        s.conn.w.release(ex)
        if not s.ended:
            s.ended = True
            s.conn.reset(s.sid, code)
        s.conn.forget(s)

    def fail(self) -> None:
        """The connection to the app failed or ended: 502 if nothing of the answer went out, else a reset."""
        ex = self.ex
        self._detach()
        if ex is not None:
            self.s.respond_error(ex, 502)

    # ------------------------------------------------------------------------------------------- helpers
    def _detach(self) -> None:
        ex = self.ex
        if ex is not None and ex.up is self:
            ex.up = None
        self.ex = None
        c = self.conn
        if c is not None and self.sid:
            c.forget(self)

    def _ack(self, n: int) -> None:
        c = self.conn
        if n and c is not None:
            c.h2.acknowledge_received_data(n, self.sid)  # a closed stream: the connection's window only


#: The app's per-stream events and what each tells the stream's leg (DataReceived, with its window bookkeeping for
#: a stream the client gave up, is handled apart).
_STREAM_EVENTS: dict[type, Any] = {
    h2.events.ResponseReceived: lambda leg, ev: leg.on_response(ev.headers, ev.stream_ended is not None),
    h2.events.TrailersReceived: lambda leg, ev: leg.on_trailers(ev.headers),
    h2.events.StreamEnded: lambda leg, ev: leg.on_end(),
    h2.events.InformationalResponseReceived: lambda leg, ev: leg.on_interim(ev.headers),
    h2.events.StreamReset: lambda leg, ev: leg.on_reset(ev.error_code),
}
