"""An exchange: one request/response pair (or one WebSocket tunnel) between a client and an upstream.

The object both protocols hold while a request is in flight (:mod:`.client` creates it, :mod:`.upstream`
answers it); it imports neither, so either can import it.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ClientConn
    from .routing import Upstream
    from .upstream import UpstreamConn


class Exchange:
    """One request/response pair (or one WebSocket tunnel) between a client and an upstream."""

    __slots__ = (
        "accept",
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
        "rerouted",
        "resp_started",
        "retried",
        "rstats",
        "sent",
        "status",
        "t0",
        "trailers",
        "up",
        "up_start",
        "up_time",
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
        self.rerouted = False  # sent to another upstream of its route once (see outlier.py)
        self.upgrade = False  # the client asked to switch protocols: only then may a 101 start a tunnel
        self.status = 0
        # With access_log on: (method, target, host, header lines, X-Forwarded-For, X-Request-Id) (.accesslog).
        self.log: tuple[Any, ...] | None = None
        self.t0 = perf_counter()  # for the route's latency histogram (.route_metrics) and the access log
        self.sent = 0  # response bytes written to the client (counted while access_log is on)
        self.up_start = 0.0  # access_log on: when the request went to the upstream connection…
        self.up_time = -1.0  # …and the seconds until its response was complete (-1: no upstream answer)
        self.dead = False  # the client went away
        self.counted = False
        # Accept-Encoding, kept only when compression is on for the route (see .compress); None: pass through.
        self.accept: bytes | None = None
        self.rstats: list[Any] | None = None  # [requests, upstream_errors, latency histogram] of the route
        self.trailers: bytes | None = None  # trailer lines of a chunked request body, for its last chunk

    def request_done(self, read_deadline: float) -> None:
        """The client's request ended (HTTP/1.1 message complete or an HTTP/2 END_STREAM): from now on the
        upstream's answer is awaited until ``read_deadline``, and a chunked body gets its last chunk (now, or
        queued until the upstream connection is attached)."""
        self.req_done = True
        up = self.up
        if up is not None:
            up.deadline = read_deadline
        if self.chunked:
            last = b"0\r\n\r\n" if self.trailers is None else b"0\r\n" + self.trailers + b"\r\n"
            if up is not None:
                up.t.write(last)  # type: ignore[union-attr]
            elif self.pending is not None:
                self.pending.append(last)


def drop_upstream(ex: Exchange) -> None:
    """Detach and close the upstream connection of an exchange cut short (it can't be reused mid-way)."""
    up = ex.up
    if up is not None:
        ex.up = None
        up.ex = None
        up.close()
