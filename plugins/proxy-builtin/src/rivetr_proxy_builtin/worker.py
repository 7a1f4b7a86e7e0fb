"""The proxy worker: one process serving HTTP/1.1 and WebSocket traffic on a listening socket.

Run by the master (``python -m rivetr_proxy_builtin.worker --listen-fd N --ctl-fd M --settings JSON``), never
by hand. It imports only the standard library, httptools and uvloop (a test checks ``sys.modules``): the
control plane's heavy libraries must not cost memory or start-up time here.

Hot path shape, per request, with no per-request task, timer or log line:

* :class:`ClientConn` feeds client bytes to httptools; ``on_header`` callbacks collect raw header pairs;
  ``on_headers_complete`` validates framing (smuggling defenses), routes by Host, and builds the upstream
  request head in one ``b"".join``.
* An :class:`Exchange` (one small slotted object) ties the request to an :class:`UpstreamConn` taken from the
  per-upstream keep-alive pool (a connect task only when the pool is empty).
* Bodies stream both ways as they arrive: Content-Length bodies byte for byte, chunked bodies re-framed from
  httptools' de-chunked ``on_body`` data. Transport flow control (``pause_writing``) pauses the other side's
  reading, so memory stays flat whatever the body size.
* Timeouts (slowloris header timeout, idle keep-alive, upstream read) are deadlines on the connection
  objects checked by one periodic sweep per worker, instead of one timer per request.

The master talks to the worker over a socketpair with JSON lines: ``state`` snapshots (routes, unhealthy
upstreams, ACME challenges) that the worker applies atomically and acknowledges, and ``stats`` requests that
report how many requests/WebSockets use each upstream (drain tracking) and, when asked (``"routes": true``),
the per-route request counters.

Per-route counters: ``Worker.route_stats`` maps a route's domain (the route key, ``*.example.com`` for a
wildcard) to a two-int list ``[requests, upstream_errors]``, created for every domain when a snapshot is
applied and never dropped (counters are monotonic for the life of the worker; a removed and re-added route
continues). The hot path only does ``stats[0] += 1`` on that list (the Exchange keeps a reference for the
error count); requests that match no route count under ``_unmatched``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import sys
from typing import Any

import httptools

from .http11 import error_response, plain_response, redirect_response
from .routing import RouteTable, Upstream
from .settings import ProxySettings

# Request header names the head builder treats specially (value: what to do with it).
_H_HOST, _H_CL, _H_TE, _H_CONN, _H_UPGRADE, _H_XFF, _H_DROP, _H_RID, _H_XFP, _H_XFH = range(10)
_SPECIAL: dict[bytes, int] = {
    b"host": _H_HOST,
    b"content-length": _H_CL,
    b"transfer-encoding": _H_TE,
    b"connection": _H_CONN,
    b"upgrade": _H_UPGRADE,
    b"x-forwarded-for": _H_XFF,
    # The proxy is the edge: it states the client, scheme and host itself, and keeps what the client said only
    # from a trusted load balancer in front of it ([proxy] trusted_proxies); anyone else could forge them.
    b"x-forwarded-proto": _H_XFP,
    b"x-forwarded-host": _H_XFH,
    b"x-request-id": _H_RID,
    b"keep-alive": _H_DROP,
    b"proxy-connection": _H_DROP,
    b"te": _H_DROP,
    b"trailer": _H_DROP,
    b"proxy-authorization": _H_DROP,  # credentials meant for this hop only
}
_CONN_PLAIN = frozenset({b"close", b"keep-alive", b"upgrade", b""})
_ACME_PREFIX = b"/.well-known/acme-challenge/"

# Why a client read is paused (bit mask: reading resumes only when every reason is gone).
_P_UPSTREAM_FULL = 1  # the upstream's send buffer is full
_P_PENDING = 2  # body bytes buffered while the upstream connection is being made
_P_PIPELINE = 4  # a pipelined request waits for the previous response
_P_UPGRADE = 8  # an upgrade request waits for the upstream's 101: what follows it is held, not read on

# What a ClientConn deadline means when it passes.
_D_NONE, _D_IDLE, _D_HEAD, _D_BODY = range(4)

_PENDING_LIMIT = 256 * 1024
# Chunked request bodies: framing bytes (size lines, extensions, CRLFs) beyond 16 per chunk plus twice the data
# may add up to this much before the request is refused, so chunk extensions can't make the proxy read (and
# the app receive) unbounded non-data for a tiny body (the rule of Go's net/http, CVE-2023-39326).
_CHUNK_EXCESS_LIMIT = 16 * 1024

# Hop-by-hop fields of a response head (searched in the lower-cased head; Transfer-Encoding is not among
# them because chunked bodies are passed through encoded).
_RESP_HOP = re.compile(rb"\r\n(?:connection|keep-alive|proxy-connection|upgrade|te|trailer):")
_RESP_HOP_LINE = re.compile(
    rb"\r\n(?:connection|keep-alive|proxy-connection|upgrade|te|trailer):[^\r\n]*", re.I
)
_HSTS = b"Strict-Transport-Security: max-age=31536000\r\n\r\n"
_CONN_VALUE = re.compile(rb"\r\nconnection:([^\r\n]*)")
_POOL_MAX = 512
_UNMATCHED = "_unmatched"  # route_stats key of requests no route matched (404)


class Exchange:
    """One request/response pair (or one WebSocket tunnel) between a client and an upstream."""

    __slots__ = (
        "addr",
        "chunked",
        "client",
        "counted",
        "dead",
        "has_body",
        "head",
        "hsts",
        "http10",
        "is_head",
        "keep",
        "local",
        "log",
        "pending",
        "pending_size",
        "req_done",
        "resp_started",
        "retried",
        "rstats",
        "status",
        "up",
        "upgrade",
        "upstream",
    )

    def __init__(self, client: ClientConn) -> None:
        self.client = client
        self.upstream: Upstream | None = None
        self.addr = ""
        self.head = b""
        self.local: bytes | None = None  # a response the proxy makes itself (errors, ACME, redirects)
        self.pending: list[bytes] | None = []  # body bytes received before the upstream is attached
        self.pending_size = 0
        self.up: UpstreamConn | None = None
        self.keep = True  # keep the client connection after this exchange
        self.chunked = False
        self.has_body = False
        self.req_done = False
        self.resp_started = False
        self.is_head = False
        self.http10 = False
        self.hsts = False
        self.retried = False
        self.upgrade = False  # the client asked to switch protocols: only then may a 101 start a tunnel
        self.status = 0
        self.log: tuple[bytes, bytes, bytes] | None = None  # (method, target, host) when access_log is on
        self.dead = False  # the client went away
        self.counted = False
        self.rstats: list[int] | None = None  # [requests, upstream_errors] of the matched route


class ClientConn(asyncio.Protocol):
    __slots__ = (
        "active",
        "bad",
        "body_bytes",
        "closing",
        "deadline",
        "discard",
        "dkind",
        "excess",
        "hdr",
        "head_bytes",
        "held",
        "host",
        "hsize",
        "in_head",
        "out",
        "parser",
        "parsing",
        "pause_mask",
        "peer",
        "t",
        "tls",
        "trusted",
        "tunnel",
        "upgrade_wait",
        "url",
        "w",
        "waiting",
        "wpaused",
    )

    def __init__(self, w: Worker, tls: bool = False) -> None:
        self.w = w
        self.tls = tls
        self.t: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # Per request, filled by on_header: forwarded header lines (out[0] is the request line, set last)
        # and the fields that need a decision.
        self.out: list[bytes] = [b""]
        self.host: bytes | None = None
        self.hdr: dict[int, bytes] = {}  # _H_* kind → value, for the rarer special fields
        self.bad = False
        self.url = b""
        self.in_head = False
        self.head_bytes = 0
        self.hsize = 0
        self.body_bytes = 0
        self.excess = 0  # chunked framing bytes beyond their allowance (see _CHUNK_EXCESS_LIMIT)
        self.parsing: Exchange | None = None  # the exchange whose request body is being received
        self.active: Exchange | None = None  # the exchange whose response is being sent
        self.waiting: list[Exchange] = []  # pipelined requests behind `active`
        self.tunnel: UpstreamConn | None = None
        self.upgrade_wait = False  # upgrade request sent, waiting for the upstream's 101
        # Client bytes after an upgrade request, held until the 101 (then they are the tunnel's first bytes).
        # Forwarded earlier, they would sit on the upstream connection as a request of their own when the app
        # refuses the upgrade (issue 14, hole 1); dropped with the connection if it does.
        self.held: list[bytes] | None = None
        self.pause_mask = 0
        self.wpaused = False
        self.closing = False
        self.discard = False
        self.deadline = 0.0
        self.dkind = _D_NONE
        self.peer = b""
        self.trusted = False  # the peer is a trusted proxy: its X-Forwarded-* headers are kept

    # ------------------------------------------------------------------------------------------ transport
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        w = self.w
        w.clients.add(self)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0].encode() if isinstance(peer, tuple) else b"unix"
        self.trusted = bool(w.trusted_proxies) and w.is_trusted(self.peer)
        # A fresh connection must start a request within the header timeout (slowloris).
        self.deadline = w.now + w.header_timeout
        self.dkind = _D_IDLE

    def data_received(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is not None:
            tunnel.t.write(data)  # type: ignore[union-attr]
            return
        if self.upgrade_wait:
            if self.held is not None:
                self.held.append(data)  # reading is paused: at most what was already on its way
            return
        if self.discard:
            return  # lingering close after an error: read and drop what the client still sends
        ex = self.parsing
        if ex is not None:
            self.deadline = self.w.now + self.w.idle_timeout  # body upload: idle timeout between reads
            if ex.chunked:
                self.excess += len(data)  # on_body and on_chunk_header take the allowance off again
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_rest(data[exc.args[0] :])
            return
        except httptools.HttpParserCallbackError:
            status = self.w.last_error_status or 400
            self.w.last_error_status = 0
            self._fail(status)
            return
        except httptools.HttpParserError:
            self._fail(400)
            return
        if ex is not None and ex.chunked and self.parsing is ex:
            if self.excess > _CHUNK_EXCESS_LIMIT:
                self._fail(400)  # chunk extensions (or 1-byte chunks) far beyond the data they frame
                return
            if self.excess < 0:
                self.excess = 0
        if self.in_head:
            self.head_bytes += len(data)
            if self.head_bytes > self.w.max_header_size:
                self._fail(431)

    def eof_received(self) -> bool | None:
        tunnel = self.tunnel
        if tunnel is not None:
            # A tunnel passes the half-close on (the app then ends its side, which closes ours); kept open
            # instead, a client gone without a WebSocket close frame would hold the tunnel until the app spoke.
            if tunnel.t is not None and not tunnel.closed and tunnel.t.can_write_eof():
                tunnel.t.write_eof()
                return True
            return None
        # Half-close from the client: keep the socket open while a response is still on its way.
        if self.active is not None and not self.closing and not self.discard:
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        w = self.w
        w.clients.discard(self)
        tunnel = self.tunnel
        if tunnel is not None:
            self.tunnel = None
            tunnel.tunnel = None
            tunnel.close()
        exs = [self.active, *self.waiting] if self.active is not None else list(self.waiting)
        self.active = None
        self.waiting = []
        self.parsing = None
        for ex in exs:
            ex.dead = True
            _drop_upstream(ex)
            w.release(ex)

    def pause_writing(self) -> None:
        self.wpaused = True
        ex = self.active
        up = self.tunnel or (ex.up if ex is not None else None)
        if up is not None and up.t is not None:
            up.t.pause_reading()

    def resume_writing(self) -> None:
        self.wpaused = False
        ex = self.active
        up = self.tunnel or (ex.up if ex is not None else None)
        if up is not None and up.t is not None:
            up.t.resume_reading()

    def pause(self, reason: int) -> None:
        if not self.pause_mask and self.t is not None:
            self.t.pause_reading()
        self.pause_mask |= reason

    def unpause(self, reason: int) -> None:
        if self.pause_mask & reason:
            self.pause_mask &= ~reason
            if not self.pause_mask and self.t is not None and not self.closing:
                self.t.resume_reading()

    # --------------------------------------------------------------------------------- httptools callbacks
    # No on_message_begin: the request target is the first thing of every request, so on_url starts one
    # (one Python call less per request).
    def on_url(self, url: bytes) -> None:
        if self.in_head:
            self.url += url  # the target arrived in pieces
            self.hsize += len(url)
        else:
            self.in_head = True
            self.head_bytes = 0
            self.hsize = len(url)
            self.body_bytes = 0
            self.out = [b""]
            self.host = None
            self.hdr = {}
            self.bad = False
            self.url = url
            w = self.w
            self.deadline = w.now + w.header_timeout
            self.dkind = _D_HEAD
        if self.hsize > self.w.max_header_size:
            self.w.last_error_status = 431
            raise ValueError("request head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.hsize += len(name) + len(value) + 4
        if self.hsize > self.w.max_header_size:
            self.w.last_error_status = 431
            raise ValueError("request head too large")
        # Classified as they arrive: ordinary fields become output lines at once (one pass, no tuples).
        kind = _SPECIAL.get(name.lower())
        if kind is None:
            self.out.append(b"%s: %s\r\n" % (name, value))
        elif kind == _H_HOST:
            if self.host is not None:
                self.bad = True  # RFC 9112 §3.2: more than one Host is a 400
            self.host = value
            self.out.append(b"Host: %s\r\n" % value)
        else:
            hdr = self.hdr
            if kind == _H_CL:
                if _H_CL in hdr:
                    self.bad = True
                hdr[_H_CL] = value
                self.out.append(b"Content-Length: %s\r\n" % value)
            elif kind == _H_TE:
                if _H_TE in hdr:
                    self.bad = True
                hdr[_H_TE] = value
            elif kind == _H_CONN:
                hdr[_H_CONN] = hdr[_H_CONN] + b"," + value if _H_CONN in hdr else value
            elif kind == _H_XFF:
                if self.trusted:
                    hdr[_H_XFF] = hdr[_H_XFF] + b", " + value if _H_XFF in hdr else value
            elif kind == _H_XFP or kind == _H_XFH:
                if self.trusted:
                    hdr[kind] = value
            elif kind != _H_DROP:
                hdr[kind] = value  # Upgrade, X-Request-Id

    def on_headers_complete(self) -> None:
        self.in_head = False
        w = self.w
        p = self.parser
        ex = Exchange(self)
        method = p.get_method()
        host = self.host
        hdr = self.hdr
        if hdr:
            cl, te, conn = hdr.get(_H_CL), hdr.get(_H_TE), hdr.get(_H_CONN)
            upgrade, xff, rid = hdr.get(_H_UPGRADE), hdr.get(_H_XFF), hdr.get(_H_RID)
        else:
            cl = te = conn = upgrade = xff = rid = None
        bad = self.bad
        http10 = ex.http10 = p.get_http_version() == "1.0"
        if w.access_log:
            ex.log = (method, self.url, host or b"-")
        if self.url[0] != 47 and method != b"CONNECT":  # 47: "/"
            # Absolute-form (``GET http://a.example/ HTTP/1.1``, RFC 9112 §3.2.2) or ``OPTIONS *``. The app gets
            # origin-form only: an absolute URI naming another host than the one routed by must not steer it.
            target = _origin_form(self.url, host, method)
            if target is None:
                bad = True
            else:
                self.url, authority = target
                if host is None and authority and http10:
                    host = self.host = authority  # HTTP/1.0 without Host: the target names it
                    self.out.append(b"Host: %s\r\n" % authority)
        out = self.out
        # HTTP/1.0 requests go upstream as HTTP/1.0 so the response is never chunked (1.0 can't read it).
        out[0] = b"%s %s %s" % (method, self.url, b"HTTP/1.0\r\n" if http10 else b"HTTP/1.1\r\n")
        append = out.append
        keep = p.should_keep_alive()
        is_upgrade = p.should_upgrade()
        if is_upgrade:
            keep = False  # after an upgrade request the parser can't resync: never reuse the connection
            ex.upgrade = True
        ex.keep = keep
        ex.is_head = method == b"HEAD"
        # Request-smuggling defenses (llhttp already rejects most of this; stay strict even if it relaxes).
        if te is not None:
            # Only "chunked" alone, never with a Content-Length, never in HTTP/1.0 (RFC 9112 §6.1: such framing
            # is faulty; a 1.0 app ignoring the field would take the body for a second request). An upgrade
            # request with a body is refused too: llhttp hands everything after its head over as tunnel data,
            # body included, while the app would wait for that body first.
            if cl is not None or http10 or is_upgrade or te.strip().lower() != b"chunked":
                bad = True
            ex.chunked = ex.has_body = True
            self.excess = 0
        elif cl is not None:
            if not cl.isdigit() or len(cl) > 18:
                bad = True
            elif (size := int(cl)) > 0:
                ex.has_body = True
                if is_upgrade:
                    bad = True  # see above
                if w.max_body_size and size > w.max_body_size:
                    return self._local(ex, error_response(413, True), False)
        if host is None and not http10:
            bad = True
        if bad:
            return self._local(ex, error_response(400, True), False)
        if method == b"CONNECT":
            return self._local(ex, error_response(405, True), False)
        if conn is not None:
            tokens = {t.strip().lower() for t in conn.split(b",")}
            if not tokens <= _CONN_PLAIN:
                # Headers named in Connection are hop-by-hop (RFC 9110 §7.6.1): rebuild without them.
                out = [out[0]] + [
                    line for line in out[1:] if line.split(b":", 1)[0].strip().lower() not in tokens
                ]
                append = out.append
        # Route by Host: the rule of _route_key, inlined on the hot path (lower-cased, port stripped, trailing
        # dot ignored).
        hkey = (host or b"").lower()
        if hkey.startswith(b"["):
            hkey = hkey[: hkey.find(b"]") + 1]
        else:
            hkey = hkey.partition(b":")[0]
        if hkey.endswith(b"."):
            hkey = hkey[:-1]
        url = self.url
        if w.acme and url.startswith(_ACME_PREFIX) and method in (b"GET", b"HEAD"):
            answer = w.acme.get(url[len(_ACME_PREFIX) :].partition(b"?")[0])
            if answer is not None:
                return self._local(ex, plain_response(200, b"OK", answer, not keep), keep)
        entry = w.routes.lookup(hkey)
        if entry is None:
            w.unmatched[0] += 1
            return self._local(ex, error_response(404, not keep or ex.has_body), keep and not ex.has_body)
        rstats = ex.rstats = w.route_stats[entry.domain]  # filled for every domain by apply_state
        rstats[0] += 1
        if entry.https_redirect and not self.tls and w.tls_port and w.cert_domain(hkey.decode()) is not None:
            port = b"" if w.tls_port == 443 else b":%d" % w.tls_port
            loc = b"https://" + hkey + port + url
            return self._local(ex, redirect_response(loc, not keep or ex.has_body), keep and not ex.has_body)
        upstream = entry.pick(w.unhealthy)
        if upstream is None:
            rstats[1] += 1
            return self._local(ex, error_response(503, not keep or ex.has_body), keep and not ex.has_body)
        # Forwarding headers: the peer is appended to the X-Forwarded-For chain of a trusted proxy and starts a
        # new one otherwise; scheme and original host are ours unless a trusted proxy stated them. An
        # X-Request-Id from the client is kept so traces can join up.
        peer = self.peer
        fwd_proto = fwd_host = None
        if self.trusted:
            fwd_proto, fwd_host = hdr.get(_H_XFP), hdr.get(_H_XFH)
        if rid is None or len(rid) > 128:
            # Random per-worker prefix + counter: unique without a getrandom() syscall per request.
            w.rid_seq += 1
            rid = b"%s%016x" % (w.rid_prefix, w.rid_seq)
        append(
            b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\nX-Request-Id: %s\r\n"
            % (
                peer if xff is None else xff + b", " + peer,
                fwd_proto or (b"https" if self.tls else b"http"),
                fwd_host or host or b"",
                rid,
            )
        )
        if self.tls and entry.hsts:
            ex.hsts = True
        if ex.chunked:
            append(b"Transfer-Encoding: chunked\r\n")
        if upgrade is not None and is_upgrade:
            append(b"Connection: upgrade\r\nUpgrade: %s\r\n\r\n" % upgrade)
        else:
            append(b"\r\n")
        ex.head = b"".join(out)
        ex.upstream = upstream
        addr = ex.addr = upstream.addr
        active = w.active
        active[addr] = active.get(addr, 0) + 1
        ex.counted = True
        if ex.has_body:
            self.parsing = ex
            self.deadline = w.now + w.idle_timeout
            self.dkind = _D_BODY
        else:
            ex.req_done = True
            self.deadline = 0.0
            self.dkind = _D_NONE
        if self.active is None:
            # Common case, inlined: nothing in flight on this connection and a pooled upstream ready.
            self.active = ex
            conns = w.pool.get(addr)
            while conns:
                pooled = conns.pop()
                if not pooled.closed:
                    pooled.reused = True
                    pooled.attach(ex)
                    return
            w.loop.create_task(w._connect(ex))
        else:
            self.waiting.append(ex)
            self.pause(_P_PIPELINE)

    def on_chunk_header(self) -> None:
        self.excess -= 16  # framing allowance per chunk (size line and CRLFs); see _CHUNK_EXCESS_LIMIT

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is None:
            return
        if ex.chunked:
            self.excess -= 3 * len(body)  # the data itself, plus twice its size of framing allowance
        w = self.w
        if w.max_body_size:
            self.body_bytes += len(body)
            if self.body_bytes > w.max_body_size:
                w.last_error_status = 413
                raise ValueError("request body too large")
        up = ex.up
        if up is not None:
            # The upstream read timeout counts from the end of the request: a long upload is not a 504.
            up.deadline = w.now + w.read_timeout
            if ex.chunked:
                up.t.writelines((b"%x\r\n" % len(body), body, b"\r\n"))  # type: ignore[union-attr]
            else:
                up.t.write(body)  # type: ignore[union-attr]
        elif ex.pending is not None:
            if ex.chunked:
                ex.pending.append(b"%x\r\n" % len(body))
                ex.pending.append(body)
                ex.pending.append(b"\r\n")
            else:
                ex.pending.append(body)
            ex.pending_size += len(body)
            if ex.pending_size > _PENDING_LIMIT:
                self.pause(_P_PENDING)

    def on_message_complete(self) -> None:
        ex = self.parsing
        if ex is None:
            return
        self.parsing = None
        ex.req_done = True
        up = ex.up
        if up is not None:
            up.deadline = self.w.now + self.w.read_timeout
        if ex.chunked:
            if up is not None:
                up.t.write(b"0\r\n\r\n")  # type: ignore[union-attr]
            elif ex.pending is not None:
                ex.pending.append(b"0\r\n\r\n")
        if ex.local is None and self.active is ex and not ex.resp_started:
            self.deadline = 0.0
            self.dkind = _D_NONE

    # ---------------------------------------------------------------------------------------- exchanges
    def _local(self, ex: Exchange, response: bytes, keep: bool) -> None:
        """Answer ``ex`` from the proxy itself (never touching an upstream)."""
        ex.local = response
        ex.keep = keep
        ex.pending = None
        if ex.has_body:
            self.parsing = ex  # swallow (and count) the body so a kept connection stays in sync
        else:
            ex.req_done = True
        self._enqueue(ex)

    def _enqueue(self, ex: Exchange) -> None:
        if self.active is None:
            self.active = ex
            self._start(ex)
        else:
            self.waiting.append(ex)
            self.pause(_P_PIPELINE)

    def _start(self, ex: Exchange) -> None:
        if ex.local is not None:
            t = self.t
            ex.resp_started = True
            ex.status = int(ex.local[9:12])
            if ex.log is not None and not ex.keep:
                self.w.access(self, ex)
            t.write(ex.local)  # type: ignore[union-attr]
            if not ex.keep:
                self._linger()
            else:
                self.exchange_done(ex)
            return
        self.w.acquire(ex)

    def exchange_done(self, ex: Exchange) -> None:
        """The response of ``ex`` (the active exchange) has been fully written."""
        w = self.w
        w.release(ex)
        if ex.log is not None:
            w.access(self, ex)
        if self.active is ex:
            self.active = None
        if not ex.keep or not ex.req_done or self.closing:
            self._close()
            return
        if self.waiting:
            nxt = self.waiting.pop(0)
            self.active = nxt
            if not self.waiting:
                self.unpause(_P_PIPELINE)
            self._start(nxt)
        else:
            self.unpause(_P_PIPELINE)
            if self.parsing is None and not self.in_head:
                self.deadline = w.now + w.idle_timeout
                self.dkind = _D_IDLE

    def respond_error(self, ex: Exchange, status: int) -> None:
        """The upstream failed before any response byte: answer with ``status``."""
        ex.status = status
        if self.closing or ex.dead:
            self.w.release(ex)
            return
        rstats = ex.rstats
        if rstats is not None:
            rstats[1] += 1  # an upstream error the client sees (a 502/504, or an abort mid-response)
        if ex.resp_started:
            self.abort()
            return
        close = not ex.keep or not ex.req_done
        ex.resp_started = True
        ex.keep = not close
        self.t.write(error_response(status, close))  # type: ignore[union-attr]
        self.exchange_done(ex)

    def _fail(self, status: int) -> None:
        """A malformed request: answer ``status`` if nothing else is being sent, then close."""
        if self.closing:
            return
        ex = self.active
        if ex is not None:
            if ex.resp_started:
                self.abort()
                return
            _drop_upstream(ex)
        self.t.write(error_response(status, True))  # type: ignore[union-attr]
        self._linger()

    def _upgrade_rest(self, rest: bytes) -> None:
        """httptools stopped at the end of an upgrade request's head: bytes after it belong to the tunnel, if
        there is to be one. They wait here (and reading pauses) until the upstream's 101: the upgrade request
        may still be queued behind a pipelined one, whose upstream connection must never see them, and an app
        that refuses the upgrade would read them as a request of their own."""
        self.upgrade_wait = True
        self.held = [rest] if rest else []
        self.pause(_P_UPGRADE)

    def start_tunnel(self, up: UpstreamConn) -> None:
        self.upgrade_wait = False
        self.tunnel = up
        self.deadline = 0.0
        self.dkind = _D_NONE
        held = self.held
        self.held = None
        if held:
            up.t.writelines(held)  # type: ignore[union-attr]
        self.unpause(_P_UPGRADE)

    def timed_out(self) -> None:
        kind = self.dkind
        self.deadline = 0.0
        if self.discard:
            self.abort()
        elif kind == _D_HEAD or kind == _D_BODY:
            self._fail(408)
        elif kind == _D_IDLE and self.active is None:
            self._close()

    def _linger(self) -> None:
        """Close after an error response without losing it: closing a socket with unread input sends a
        RST that can destroy the response in flight, so half-close and drop input for a moment first."""
        if self.closing or self.t is None:
            return
        self.closing = self.discard = True
        self.pause_mask = 0
        self.t.resume_reading()
        try:
            self.t.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self.t.close()
            return
        self.deadline = self.w.now + 2.0
        self.dkind = _D_NONE

    def _close(self) -> None:
        if not self.closing:
            self.closing = True
            if self.t is not None:
                self.t.close()

    def abort(self) -> None:
        self.closing = True
        if self.t is not None:
            self.t.abort()


def _route_key(host: bytes) -> bytes:
    """The route table key of a Host value (or an absolute-form authority): lower-cased, port stripped,
    trailing dot ignored."""
    key = host.lower()
    key = key[: key.find(b"]") + 1] if key.startswith(b"[") else key.partition(b":")[0]
    return key[:-1] if key.endswith(b".") else key


def _origin_form(url: bytes, host: bytes | None, method: bytes) -> tuple[bytes, bytes] | None:
    """(origin-form target, authority) for a request target that does not start with ``/``, or None to refuse
    it (400): ``*`` is for OPTIONS only; an absolute URI must be http(s), carry no userinfo, and name the same
    host as the Host field (routing uses Host, so a different authority could only mislead the app)."""
    if url == b"*":
        return (url, b"") if method == b"OPTIONS" else None
    low = url[:8].lower()
    if low.startswith(b"http://"):
        rest = url[7:]
    elif low.startswith(b"https://"):
        rest = url[8:]
    else:
        return None
    end = len(rest)
    for sep in (b"/", b"?", b"#"):
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    authority, path = rest[:end], rest[end:]
    if not authority or b"@" in authority or not _route_key(authority):
        return None
    if host is not None and _route_key(authority) != _route_key(host):
        return None
    return (path if path.startswith(b"/") else b"/" + path), authority


def _drop_upstream(ex: Exchange) -> None:
    """Detach and close the upstream connection of an exchange cut short (it can't be reused mid-way)."""
    up = ex.up
    if up is not None:
        ex.up = None
        up.ex = None
        up.close()


#: End of a response head written with bare LF line ends, and any line end (for rewriting it to CRLF).
_LF_HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


def _response_parser(protocol: object) -> httptools.HttpResponseParser:
    """A response parser that tolerates LF without CR from upstreams (they are the operator's own apps, and
    nginx accepts the same); requests from clients stay strict, which is where smuggling lives."""
    parser = httptools.HttpResponseParser(protocol)
    parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
    return parser


class UpstreamConn(asyncio.Protocol):
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
        self.parser = _response_parser(self)
        self.ex: Exchange | None = None
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
            if ex.pending_size > _PENDING_LIMIT:
                ex.client.unpause(_P_PENDING)
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
        self.deadline = self.w.now + self.w.read_timeout
        if self.in_head and not self.hbuf and not ex.is_head and self._whole(data, ex):
            return
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
        else:
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
        head = self._rewrite(data[:end], status, ex, low)
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
                keep = self.ka if self.msgs else self.parser.should_keep_alive()
                if ex.is_head:
                    self.parser = _response_parser(self)
                    self.unfinished = 0
                self._finish(keep and end == len(buf) and not self.trailing)
                return False
            if end < len(buf):
                client.t.write(head + buf[end:])  # type: ignore[union-attr]
            else:
                client.t.write(head)  # type: ignore[union-attr]
            return True
        self.hbuf = buf[pos:]  # only interim heads so far
        return False

    def _rewrite(self, head: bytes, status: int, ex: Exchange, low: bytes = b"") -> bytes:
        """Strip hop-by-hop fields from a response head and state the client connection's fate."""
        low = low or head.lower()
        ex.status = status
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
        if _RESP_HOP.search(low) is not None or (conn and conn.strip() not in _CONN_PLAIN):
            # One C-level substitution drops every other hop-by-hop line.
            extra: set[bytes] = {t.strip() for t in conn.split(b",")}
            for m in _CONN_VALUE.finditer(low):
                extra.update(t.strip() for t in m.group(1).split(b","))
            if b"close" in extra:
                self.upclose = True
            head = _RESP_HOP_LINE.sub(b"", head)
            extra -= _CONN_PLAIN
            extra -= {b"transfer-encoding", b"content-length"}
            if extra:  # headers named in Connection are hop-by-hop too (rare: the slow way)
                lines = head[:-4].split(b"\r\n")
                kept = [lines[0]] + [
                    ln for ln in lines[1:] if ln.partition(b":")[0].strip().lower() not in extra
                ]
                head = b"\r\n".join(kept) + b"\r\n\r\n"
        if not (
            ex.is_head
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
        client.respond_error(ex, 502)

    def pause_writing(self) -> None:
        client = self.tunnel or (self.ex.client if self.ex is not None else None)
        if client is not None:
            client.pause(_P_UPSTREAM_FULL)

    def resume_writing(self) -> None:
        client = self.tunnel or (self.ex.client if self.ex is not None else None)
        if client is not None:
            client.unpause(_P_UPSTREAM_FULL)

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


class Worker:
    """Per-process state: the route table, health view, upstream pools and the control link."""

    def __init__(self, settings: ProxySettings, index: int = 0) -> None:
        self.index = index
        self.max_header_size = settings.max_header_size
        self.max_body_size = settings.max_body_size
        self.header_timeout = settings.header_timeout
        self.idle_timeout = settings.idle_timeout
        self.read_timeout = settings.upstream_read_timeout
        self.connect_timeout = settings.upstream_connect_timeout
        self.drain_timeout = settings.drain_timeout
        self.access_log = settings.access_log
        self.trusted_proxies = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]
        self.rid_prefix = os.urandom(8).hex().encode()
        self.rid_seq = 0
        # Close pooled upstream connections before a typical upstream keep-alive timeout (Node: 5 s) fires.
        self.pool_idle = min(settings.idle_timeout, 4.0)
        self.routes = RouteTable()
        self.unhealthy: frozenset[str] = frozenset()
        self.acme: dict[bytes, bytes] = {}
        self.certs: dict[str, int] = {}  # domain → version
        self.state_dir = ""
        self.tls_contexts: dict[str, tuple[int, ssl.SSLContext]] = {}
        self.tls_port = 0  # set once an HTTPS listener exists (https_redirect only then)
        self.active: dict[str, int] = {}
        # Per-route counters, domain → [requests, upstream_errors] (see the module docstring).
        self.unmatched = [0, 0]
        self.route_stats: dict[str, list[int]] = {_UNMATCHED: self.unmatched}
        self.pool: dict[str, list[UpstreamConn]] = {}
        self.clients: set[ClientConn] = set()
        self.busy: set[UpstreamConn] = set()
        self.draining: dict[str, float] = {}
        self.last_error_status = 0
        self.loop = asyncio.get_running_loop()
        self.now = self.loop.time()
        self.tick = max(0.05, min(0.5, settings.header_timeout / 4, settings.upstream_read_timeout / 4))
        self.servers: list[asyncio.AbstractServer] = []

    def access(self, client: ClientConn, ex: Exchange) -> None:
        """One access-log line (only with ``access_log`` on: logging is the costliest thing per request)."""
        method, target, host = ex.log or (b"-", b"-", b"-")
        ex.log = None
        sys.stderr.write(
            f'{client.peer.decode()} {host.decode("latin-1")} "{method.decode()} '
            f'{target.decode("latin-1")}" {ex.status} {ex.addr or "-"}\n'
        )
        sys.stderr.flush()

    # ------------------------------------------------------------------------------------------------ TLS
    def is_trusted(self, peer: bytes) -> bool:
        """Whether ``peer`` (a client address) is in ``[proxy] trusted_proxies``; once per connection."""
        try:
            address = ipaddress.ip_address(peer.decode())
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def cert_domain(self, host: str) -> str | None:
        """The certificate name covering ``host``: itself, else its one-level ``*.`` wildcard."""
        if host in self.certs:
            return host
        wild = "*." + host.partition(".")[2]
        return wild if wild in self.certs else None

    def tls_context(self, fallback: tuple[str, str]) -> ssl.SSLContext:
        ctx = _server_context(*fallback)
        ctx.sni_callback = self._sni
        return ctx

    def _sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        """Pick the certificate by SNI; unknown names (or none) keep the self-signed fallback."""
        if not server_name:
            return
        dom = self.cert_domain(server_name.lower().rstrip("."))
        if dom is None:
            return
        version = self.certs[dom]
        cached = self.tls_contexts.get(dom)
        if cached is None or cached[0] != version:
            base = os.path.join(self.state_dir, "certs", dom.replace("*", "_wildcard_"))
            try:
                cached = (version, _server_context(base + ".crt", base + ".key"))
            except (OSError, ssl.SSLError) as exc:
                print(f"rivetr-proxy worker {self.index}: certificate for {dom}: {exc}", file=sys.stderr)
                return
            self.tls_contexts[dom] = cached
        sslobj.context = cached[1]

    # ----------------------------------------------------------------------------------------- counting
    def release(self, ex: Exchange) -> None:
        if ex.counted:
            ex.counted = False
            n = self.active[ex.addr] - 1
            if n:
                self.active[ex.addr] = n
            else:
                del self.active[ex.addr]

    # ------------------------------------------------------------------------------------------ upstream
    def acquire(self, ex: Exchange, fresh: bool = False) -> None:
        if not fresh:
            conns = self.pool.get(ex.addr)
            while conns:
                conn = conns.pop()
                if not conn.closed:
                    conn.reused = True
                    conn.attach(ex)
                    return
        self.loop.create_task(self._connect(ex))

    async def _connect(self, ex: Exchange) -> None:
        up = ex.upstream
        assert up is not None
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: UpstreamConn(self, up), up.host, up.port),
                self.connect_timeout,
            )
        except Exception:  # refused, timed out, or anything else: never let one upstream take the worker down
            ex.client.respond_error(ex, 502)
            return
        if ex.dead:
            self.pool_put(conn)
            return
        conn.attach(ex)

    def pool_put(self, conn: UpstreamConn) -> None:
        if conn.addr not in self.routes.upstream_addrs or conn.closed:
            conn.close()  # the upstream left every route: don't keep it alive
            return
        conns = self.pool.setdefault(conn.addr, [])
        if len(conns) >= _POOL_MAX:
            conn.close()
            return
        conn.idle_since = self.now
        conns.append(conn)

    def pool_remove(self, conn: UpstreamConn) -> None:
        conns = self.pool.get(conn.addr)
        if conns and conn in conns:
            conns.remove(conn)

    # ------------------------------------------------------------------------------------------- control
    def apply_state(self, state: dict[str, Any]) -> None:
        """Swap in a new snapshot. One event-loop step: every request sees the old or the new table."""
        old = self.routes.upstream_addrs
        table = RouteTable(state.get("routes") or [])
        stats = self.route_stats
        for entry in (*table.exact.values(), *table.wild.values()):
            if entry.domain not in stats:
                stats[entry.domain] = [0, 0]
        self.routes = table
        self.unhealthy = frozenset(state.get("unhealthy") or ())
        self.acme = {k.encode(): v.encode() for k, v in (state.get("acme") or {}).items()}
        self.certs = dict(state.get("certs") or {})
        for dom in [d for d in self.tls_contexts if d not in self.certs]:
            del self.tls_contexts[dom]
        self.tls_port = int(state.get("tls_port") or 0)
        if "drain_timeout" in state:
            self.drain_timeout = float(state["drain_timeout"])
        for addr in old - table.upstream_addrs:
            for conn in self.pool.pop(addr, ()):
                conn.close()
            if self.active.get(addr):
                self.draining[addr] = self.now + self.drain_timeout
        for addr in table.upstream_addrs:
            self.draining.pop(addr, None)

    async def sweep(self) -> None:
        loop = self.loop
        while True:
            await asyncio.sleep(self.tick)
            now = self.now = loop.time()
            try:
                for c in [c for c in self.clients if c.deadline and c.deadline < now]:
                    c.timed_out()
                for u in [u for u in self.busy if u.deadline and u.deadline < now]:
                    u.timed_out()
                limit = now - self.pool_idle
                for conns in self.pool.values():
                    while conns and conns[0].idle_since < limit:
                        conns.pop(0).close()
                if self.draining:
                    self._enforce_drain(now)
            except Exception as exc:  # a bug in one connection's timeout must not stop the sweep
                print(f"rivetr-proxy worker {self.index}: sweep error: {exc!r}", file=sys.stderr)

    def _enforce_drain(self, now: float) -> None:
        """Past the drain deadline, close what still uses a removed upstream (the old side is released)."""
        for addr, deadline in list(self.draining.items()):
            if not self.active.get(addr):
                del self.draining[addr]
            elif deadline <= now:
                del self.draining[addr]
                for c in list(self.clients):
                    ex = c.active
                    if (c.tunnel is not None and c.tunnel.addr == addr) or (
                        ex is not None and ex.addr == addr
                    ):
                        c.abort()

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await reader.readline()
            if not line:
                break  # the master is gone: stop serving (a fresh master will start new workers)
            msg = json.loads(line)
            op = msg.get("op")
            reply: dict[str, Any] = {"op": "ack", "seq": msg.get("seq")}
            if op == "state":
                self.apply_state(msg)
            elif op == "stats":
                reply["active"] = dict(self.active)
                reply["clients"] = len(self.clients)
                if msg.get("routes"):
                    reply["routes"] = {d: c for d, c in self.route_stats.items() if c[0] or c[1]}
            elif op == "stop":
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
                break
            writer.write((json.dumps(reply) + "\n").encode())
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight exchanges finish (bounded by the drain timeout), then exit."""
        for server in self.servers:
            server.close()
        deadline = self.loop.time() + self.drain_timeout
        while self.active and self.loop.time() < deadline:  # noqa: ASYNC110 - counters have no event
            await asyncio.sleep(0.05)
        for c in list(self.clients):
            c.abort()


def _server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(cert, key)
    return ctx


def _quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Failed handshakes (scanners, wrong SNI, old clients) are routine for an edge proxy: don't log them.
    if isinstance(context.get("exception"), ssl.SSLError | ConnectionError | TimeoutError):
        return
    loop.default_exception_handler(context)


async def serve(
    settings: ProxySettings,
    listen: socket.socket,
    ctl: socket.socket,
    index: int,
    tls: socket.socket | None = None,
    state_dir: str = "",
) -> None:
    w = Worker(settings, index)
    w.state_dir = state_dir
    w.loop.set_exception_handler(_quiet_tls_errors)
    reader, writer = await asyncio.open_connection(sock=ctl)
    writer.write(b'{"op":"ready","index":%d,"pid":%d}\n' % (index, os.getpid()))
    # Serve only once the first state snapshot is applied: until then every request would be a 404.
    first = await reader.readline()
    if not first:
        return
    msg = json.loads(first)
    w.apply_state(msg)
    writer.write(b'{"op":"ack","seq":%d}\n' % int(msg.get("seq") or 0))
    w.servers.append(await w.loop.create_server(lambda: ClientConn(w), sock=listen, backlog=4096))
    if tls is not None:
        certs = os.path.join(state_dir, "certs")
        ctx = w.tls_context((os.path.join(certs, "_fallback.crt"), os.path.join(certs, "_fallback.key")))
        w.servers.append(
            await w.loop.create_server(
                lambda: ClientConn(w, True),
                sock=tls,
                backlog=4096,
                ssl=ctx,
                ssl_handshake_timeout=settings.header_timeout,
            )
        )
    sweeper = w.loop.create_task(w.sweep())
    stop = asyncio.Event()
    w.loop.add_signal_handler(signal.SIGTERM, stop.set)
    w.loop.add_signal_handler(signal.SIGINT, stop.set)
    ctl_task = w.loop.create_task(w.control(reader, writer))
    stop_task = w.loop.create_task(stop.wait())
    await asyncio.wait({ctl_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    if not ctl_task.done():
        ctl_task.cancel()
        await w.shutdown()
    sweeper.cancel()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="rivetr_proxy_builtin.worker")
    ap.add_argument("--listen-fd", type=int, required=True)
    ap.add_argument("--ctl-fd", type=int, required=True)
    ap.add_argument("--settings", required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--tls-fd", type=int)
    ap.add_argument("--state-dir", default="")
    args = ap.parse_args(argv)
    settings = ProxySettings.from_json(args.settings)
    listen = socket.socket(fileno=args.listen_fd)
    ctl = socket.socket(fileno=args.ctl_fd)
    # Long-lived, allocation-heavy server: move start-up objects out of the GC's way and collect less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    import uvloop

    profile_to = os.environ.get("RIVETR_PROXY_PROFILE")  # debugging aid: cProfile stats per worker
    if profile_to:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        tls = socket.socket(fileno=args.tls_fd) if args.tls_fd is not None else None
        runner.run(serve(settings, listen, ctl, args.index, tls, args.state_dir))
    if profile_to:
        prof.disable()
        prof.dump_stats(f"{profile_to}.{os.getpid()}")


if __name__ == "__main__":
    main()
