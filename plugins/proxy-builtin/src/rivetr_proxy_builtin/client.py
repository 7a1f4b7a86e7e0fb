"""The client side of the proxy: one :class:`ClientConn` per accepted connection (plain HTTP or TLS).

Client bytes go to httptools (strict: this is where request smuggling lives). ``on_header`` classifies each
field as it arrives; ``on_headers_complete`` checks framing, routes by Host, builds the upstream head in one
``b"".join`` and attaches the request to a pooled :class:`.upstream.UpstreamConn` (inlined: the common case);
bodies stream on as they arrive. Pipelined requests queue behind the active one; an upgrade request turns the
connection into a byte tunnel once the upstream answers 101.

Dependency direction: at run time this module imports only :mod:`.exchange`, :mod:`.flow` and :mod:`.http11`;
it reaches the upstream connection and the worker through the objects it holds (``ex.up``, ``self.w``), never
through an import, so no import cycle (and no late binding) is needed.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

import httptools

from .error_pages import entry_error, exchange_error
from .exchange import Exchange, drop_upstream
from .flow import P_PENDING, P_PIPELINE, P_UPGRADE, PENDING_LIMIT, ClientFlow
from .http11 import CONN_PLAIN, error_response, plain_response, redirect_response
from .route_metrics import observe
from .route_rules import apply_rules

if TYPE_CHECKING:
    import asyncio

    from .routing import RouteEntry
    from .upstream import UpstreamConn
    from .worker import Worker

# Request header names the head builder treats specially (value: what to do with it).
_H_HOST, _H_CL, _H_TE, _H_CONN, _H_UPGRADE, _H_XFF, _H_DROP, _H_RID, _H_XFP, _H_XFH, _H_AE = range(11)
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
    b"accept-encoding": _H_AE,  # forwarded, and kept for response compression (see .compress)
    b"keep-alive": _H_DROP,
    b"proxy-connection": _H_DROP,
    b"te": _H_DROP,
    b"proxy-authorization": _H_DROP,  # credentials meant for this hop only
}
_ACME_PREFIX = b"/.well-known/acme-challenge/"
# The forwarding fields the proxy adds, in one format operation (a generated X-Request-Id in the same one).
_FWD = b"X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\nX-Request-Id: %s\r\n"
_FWD_NEW_RID = _FWD[:-4] + b"%s%016x\r\n"

# What a ClientConn deadline means when it passes.
_D_NONE, _D_IDLE, _D_HEAD, _D_BODY = range(4)

# Chunked request bodies: framing bytes (size lines, extensions, CRLFs) beyond 16 per chunk plus twice the data
# may add up to this much before the request is refused, so chunk extensions can't make the proxy read (and
# the app receive) unbounded non-data for a tiny body (the rule of Go's net/http, CVE-2023-39326).
_CHUNK_EXCESS_LIMIT = 16 * 1024


class ClientConn(ClientFlow):
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
        "peer",
        "served",
        "t",
        "tls",
        "trusted",
        "tunnel",
        "upgrade_wait",
        "url",
        "w",
        "waiting",
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
        self.served = False  # a response was sent in full: idle from then on, it is a keep-alive connection

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
            drop_upstream(ex)
            w.release(ex)

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
        # Classified as they arrive: ordinary fields become output lines at once (one pass, no tuples). Their
        # size is checked once per head, as the size of those lines (on_headers_complete): a browser sends
        # a dozen of them per request and this is the shortest way through for each.
        kind = _SPECIAL.get(name.lower())
        if self.in_head:
            if kind is None:
                self.out.append(b"%s: %s\r\n" % (name, value))
                return
            if kind == _H_HOST:
                if self.host is not None:
                    self.bad = True  # RFC 9112 §3.2: more than one Host is a 400
                self.host = value
                self.out.append(b"Host: %s\r\n" % value)
                return
        self.hsize += len(name) + len(value) + 4
        if self.hsize > self.w.max_header_size:
            self.w.last_error_status = 431
            raise ValueError("request head too large")
        if not self.in_head:
            # llhttp reports a chunked body's trailer fields through on_header too, after the last chunk.
            self._trailer(name, value, kind)
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
            elif kind == _H_AE:
                hdr[_H_AE] = hdr[_H_AE] + b"," + value if _H_AE in hdr else value
                self.out.append(b"%s: %s\r\n" % (name, value))
            elif kind == _H_XFP or kind == _H_XFH:
                if self.trusted:
                    hdr[kind] = value
            elif kind != _H_DROP:
                hdr[kind] = value  # type: ignore[index]  # Upgrade, X-Request-Id (kind is set here)

    def on_headers_complete(self) -> None:
        self.in_head = False
        w = self.w
        # The ordinary fields' lines (on_header counted only the special ones and the target in hsize).
        if self.hsize + sum(map(len, self.out)) > w.max_header_size:
            w.last_error_status = 431
            raise ValueError("request head too large")
        p = self.parser
        ex = Exchange(self)
        method = p.get_method()
        host = self.host
        hdr = self.hdr
        if hdr:
            cl, te, conn = hdr.get(_H_CL), hdr.get(_H_TE), hdr.get(_H_CONN)
            upgrade, xff, rid = hdr.get(_H_UPGRADE), hdr.get(_H_XFF), hdr.get(_H_RID)
            ae = hdr.get(_H_AE)
        else:
            cl = te = conn = upgrade = xff = rid = ae = None
        bad = self.bad
        keep = p.should_keep_alive()
        # Kept alive with no Connection field can only be HTTP/1.1 (1.0 needs "Connection: keep-alive"): the
        # common case skips get_http_version, which formats a new str per call.
        http10 = ex.http10 = (conn is not None or not keep) and p.get_http_version() == "1.0"
        if w.access_log:
            ex.log = (method, self.url, host or b"-", self.out, xff, rid)  # see .accesslog
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
        is_upgrade = p.should_upgrade()
        if is_upgrade:
            keep = False  # after an upgrade request the parser can't resync: never reuse the connection
            ex.upgrade = True
        ex.keep = keep and not w.stopping  # a draining worker says Connection: close
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
        if (
            conn is not None and conn.lower() not in CONN_PLAIN
        ):  # one plain token ("keep-alive"): nothing to do
            tokens = {t.strip().lower() for t in conn.split(b",")}
            if not tokens <= CONN_PLAIN:
                # Headers named in Connection are hop-by-hop (RFC 9110 §7.6.1): rebuild without them.
                out = [out[0]] + [
                    line for line in out[1:] if line.split(b":", 1)[0].strip().lower() not in tokens
                ]
                append = out.append
        # Route by Host: the Host values seen before map straight to (route key, entry) in the table's cache;
        # others take the rule of _route_key, inlined (lower-cased, port stripped, trailing dot ignored).
        routes = w.routes
        entry: RouteEntry | None
        hit = routes.hosts.get(host)  # type: ignore[arg-type]
        if hit is not None:
            hkey, entry = hit
        else:
            hkey = (host or b"").lower()
            if hkey.startswith(b"["):
                hkey = hkey[: hkey.find(b"]") + 1]
            else:
                hkey = hkey.partition(b":")[0]
            if hkey.endswith(b"."):
                hkey = hkey[:-1]
            entry = routes.lookup(hkey)
            if entry is not None and host is not None:
                routes.remember(host, hkey, entry)
        url = self.url
        if w.acme and url.startswith(_ACME_PREFIX) and method in (b"GET", b"HEAD"):
            answer = w.acme.get(url[len(_ACME_PREFIX) :].partition(b"?")[0])
            if answer is not None:
                return self._local(ex, plain_response(200, b"OK", answer, not keep), keep)
        if entry is not None and entry.special is not None:
            # Path routes, redirects, basic auth (route_rules): only the hosts using them pay for the call.
            entry = apply_rules(self, ex, entry, method, host or b"", hkey, out, keep)
            if entry is None:
                return None
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
        if upstream is None and (upstream := w.outliers.last_resort(entry)) is None:
            rstats[1] += 1
            return self._local(ex, entry_error(entry, 503, not keep or ex.has_body), keep and not ex.has_body)
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
            append(
                _FWD_NEW_RID
                % (
                    peer if xff is None else xff + b", " + peer,
                    fwd_proto or (b"https" if self.tls else b"http"),
                    fwd_host or host or b"",
                    w.rid_prefix,
                    w.rid_seq,
                )
            )
        else:
            append(
                _FWD
                % (
                    peer if xff is None else xff + b", " + peer,
                    fwd_proto or (b"https" if self.tls else b"http"),
                    fwd_host or host or b"",
                    rid,
                )
            )
        if self.tls and entry.hsts:
            ex.hsts = True
        if ae is not None and entry.compress and w.compress is not None:
            ex.accept = ae
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
            self.pause(P_PIPELINE)

    def _trailer(self, name: bytes, value: bytes, kind: int | None) -> None:
        """A trailer field of a chunked request body: kept for the upstream's last chunk, unless it is one the
        proxy decides itself (routing, forwarding, hop-by-hop: the fields of _SPECIAL); llhttp already refuses
        framing fields there. Not for an exchange the proxy answers itself (its body is only swallowed)."""
        ex = self.parsing
        if ex is None or kind is not None or ex.local is not None:
            return
        line = b"%s: %s\r\n" % (name, value)
        ex.trailers = line if ex.trailers is None else ex.trailers + line

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
            if ex.pending_size > PENDING_LIMIT:
                self.pause(P_PENDING)

    def on_message_complete(self) -> None:
        ex = self.parsing
        if ex is None:
            return
        self.parsing = None
        ex.request_done(self.w.now + self.w.read_timeout)
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
            self.pause(P_PIPELINE)

    def _start(self, ex: Exchange) -> None:
        if ex.local is not None:
            t = self.t
            ex.resp_started = True
            ex.status = int(ex.local[9:12])
            t.write(ex.local)  # type: ignore[union-attr]
            if not ex.keep:
                self._finished(ex)  # closing after it: exchange_done won't run
                self._linger()
            else:
                self.exchange_done(ex)
            return
        self.w.acquire(ex)

    def exchange_done(self, ex: Exchange) -> None:
        """The response of ``ex`` (the active exchange) has been fully written."""
        w = self.w
        w.release(ex)
        rstats = ex.rstats
        if rstats is not None:
            observe(rstats[2], ex.status, perf_counter() - ex.t0)  # the route's latency histogram
        if ex.log is not None:
            if ex.local is not None:
                ex.sent = len(ex.local)
            w.access(self, ex)
        if self.active is ex:
            self.active = None
        self.served = True
        if not ex.keep or not ex.req_done or self.closing or w.stopping:
            self._close()
            return
        if self.waiting:
            nxt = self.waiting.pop(0)
            self.active = nxt
            if not self.waiting:
                self.unpause(P_PIPELINE)
            self._start(nxt)
        else:
            if self.pause_mask:
                self.unpause(P_PIPELINE)
            if self.parsing is None and not self.in_head:
                self.deadline = w.now + w.idle_timeout
                self.dkind = _D_IDLE

    def _finished(self, ex: Exchange) -> None:
        """Count and log an exchange the proxy answered itself and then closes the connection after."""
        rstats = ex.rstats
        if rstats is not None:
            observe(rstats[2], ex.status, perf_counter() - ex.t0)
        if ex.log is not None:
            ex.sent = len(ex.local or b"")
            self.w.access(self, ex)

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
        response = exchange_error(self.w, ex, status, close)
        ex.sent = len(response)
        self.t.write(response)  # type: ignore[union-attr]
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
            drop_upstream(ex)
        self.t.write(error_response(status, True))  # type: ignore[union-attr]
        self._linger()

    def _upgrade_rest(self, rest: bytes) -> None:
        """httptools stopped at the end of an upgrade request's head: bytes after it belong to the tunnel, if
        there is to be one. They wait here (and reading pauses) until the upstream's 101: the upgrade request
        may still be queued behind a pipelined one, whose upstream connection must never see them, and an app
        that refuses the upgrade would read them as a request of their own."""
        self.upgrade_wait = True
        self.held = [rest] if rest else []
        self.pause(P_UPGRADE)

    def start_tunnel(self, up: UpstreamConn) -> None:
        self.upgrade_wait = False
        self.tunnel = up
        self.deadline = 0.0
        self.dkind = _D_NONE
        held = self.held
        self.held = None
        if held:
            up.t.writelines(held)  # type: ignore[union-attr]
        self.unpause(P_UPGRADE)

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

    def pending(self) -> bool:
        """Whether a stopping worker still owes this connection an answer: a request is under way, or none came
        yet on a connection accepted just before the listeners closed (its request may be on its way: closing
        it would drop that request). An idle keep-alive connection owes nothing; a tunnel is not waited for."""
        if self.tunnel is not None:
            return False
        return not self.served or self.active is not None or self.parsing is not None or self.in_head

    def close_if_idle(self) -> None:
        """Close a keep-alive connection with nothing under way (a stopping worker's)."""
        if self.served and not self.pending() and not self.closing:
            self._close()

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
