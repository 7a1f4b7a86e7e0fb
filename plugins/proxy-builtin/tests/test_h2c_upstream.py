"""gRPC passthrough (``upstream_protocol = "h2c"``): HTTP/2 clients over TLS, a real proxy process, a real HTTP/2
cleartext app (an h2 server answering the way gRPC does: DATA, then trailers with grpc-status).

Unary and streamed calls, request and response trailers, bodies larger than every window both ways, resets
both ways, an app that is down (502), an HTTP/1.1 client on such a route (505), and the forwarding fields."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

from tests.support.proxy import SyncProxy, ThreadLoop, free_port, http_get, wait_until

HOST = "grpc.test"
MIB = 1024 * 1024


class GrpcLikeApp(asyncio.Protocol):
    """One connection of :class:`H2cApp`. Paths (gRPC methods):

    * ``/t.Echo/Unary``: after the request, HEADERS (with the request's fields as JSON in ``x-seen``), the
      request body back as DATA (as the windows allow), trailers ``grpc-status: 0`` and the request's own
      trailers as JSON in ``x-seen-trailers``;
    * ``/t.Echo/Stream``: HEADERS at once, every DATA frame echoed as it arrives, trailers at the end;
    * ``/t.Echo/Fail``: a trailers-only answer (HEADERS with END_STREAM, ``grpc-status: 5``);
    * ``/t.Echo/Hang``: HEADERS, then nothing (the test resets it; the app records the reset);
    * ``/t.Echo/Reset``: RST_STREAM CANCEL at once.
    """

    def __init__(self, app: H2cApp) -> None:
        self.app = app
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.t: asyncio.Transport | None = None
        self.streams: dict[int, dict[str, Any]] = {}
        self.queued: dict[int, list[Any]] = {}  # sid -> [body still to send, trailers]

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        self.h2.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.t is not None:
            self.t.write(data)

    def reply(self, sid: int, body: bytes, trailers: list[tuple[bytes, bytes]]) -> None:
        self.queued[sid] = [body, trailers]
        self.pump()

    def pump(self) -> None:
        for sid, q in list(self.queued.items()):
            while q[0]:
                window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
                if window <= 0:
                    break
                self.h2.send_data(sid, q[0][:window])
                q[0] = q[0][window:]
            if not q[0]:
                self.h2.send_headers(sid, q[1], end_stream=True)
                del self.queued[sid]

    def data_received(self, data: bytes) -> None:
        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                hdrs = dict(ev.headers)
                st = self.streams[ev.stream_id] = {"headers": hdrs, "body": b"", "trailers": {}}
                path = hdrs[b":path"]
                self.app.seen.append({k.decode(): v.decode() for k, v in ev.headers})
                head = [(b":status", b"200"), (b"content-type", b"application/grpc")]
                if path == b"/t.Echo/Stream" or path == b"/t.Echo/Hang":
                    self.h2.send_headers(ev.stream_id, head)
                elif path == b"/t.Echo/Fail":
                    self.h2.send_headers(
                        ev.stream_id,
                        [*head, (b"grpc-status", b"5"), (b"grpc-message", b"nope")],
                        end_stream=True,
                    )
                elif path == b"/t.Echo/Reset":
                    self.h2.reset_stream(ev.stream_id, h2.errors.ErrorCodes.CANCEL)
                st["path"] = path
            elif isinstance(ev, h2.events.DataReceived):
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                st = self.streams[ev.stream_id]
                if st["path"] == b"/t.Echo/Stream":
                    self.h2.send_data(ev.stream_id, ev.data)
                else:
                    st["body"] += ev.data
            elif isinstance(ev, h2.events.TrailersReceived):
                self.streams[ev.stream_id]["trailers"] = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h2.events.StreamEnded):
                st = self.streams[ev.stream_id]
                ok = [(b"grpc-status", b"0"), (b"grpc-message", b"ok")]
                if st["path"] == b"/t.Echo/Unary":
                    seen = json.dumps({k.decode(): v.decode() for k, v in st["headers"].items()})
                    self.h2.send_headers(
                        ev.stream_id,
                        [
                            (b":status", b"200"),
                            (b"content-type", b"application/grpc"),
                            (b"x-seen", seen.encode()),
                        ],
                    )
                    self.reply(
                        ev.stream_id,
                        st["body"],
                        [*ok, (b"x-seen-trailers", json.dumps(st["trailers"]).encode())],
                    )
                elif st["path"] == b"/t.Echo/Stream":
                    self.h2.send_headers(ev.stream_id, ok, end_stream=True)
            elif isinstance(ev, h2.events.StreamReset):
                st = self.streams.get(ev.stream_id, {})
                self.app.resets.append((st.get("path"), ev.error_code))
                self.queued.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.WindowUpdated):
                self.pump()
        self.flush()


class H2cApp:
    """An HTTP/2 cleartext (prior knowledge) server on loopback, in a thread of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[dict[str, str]] = []
        self.resets: list[tuple[bytes | None, int]] = []
        self.tl = ThreadLoop()
        self.server = self.tl.run(
            self.tl.loop.create_server(lambda: GrpcLikeApp(self), "127.0.0.1", self.port)  # type: ignore[arg-type]
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.close()
        self.tl.stop()


class Client:
    """An HTTP/2 client (the h2 library) over TLS with ALPN h2, as a gRPC client connects to the proxy."""

    def __init__(self, port: int) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        self.sock = ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname=HOST
        )
        assert self.sock.selected_alpn_protocol() == "h2"
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.flush()
        self.r: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def flush(self) -> None:
        if data := self.h2.data_to_send():
            self.sock.sendall(data)

    def start(self, method: str, end: bool = False, *, authority: str = HOST, prefix: str = "") -> int:
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(
            sid,
            [
                (b":method", b"POST"),
                (b":scheme", b"https"),
                (b":path", f"{prefix}/t.Echo/{method}".encode()),
                (b":authority", authority.encode()),
                (b"content-type", b"application/grpc"),
                (b"te", b"trailers"),
                (b"x-forwarded-for", b"6.6.6.6"),  # an untrusted client's: replaced
            ],
            end_stream=end,
        )
        self.flush()
        self.r[sid] = {"body": b"", "done": False}
        return sid

    def send(self, sid: int, data: bytes, end: bool = False) -> None:
        while data:
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.read()
                continue
            self.h2.send_data(sid, data[:window])
            data = data[window:]
            self.flush()
        if end:
            self.h2.end_stream(sid)
        self.flush()

    def read(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the proxy closed the connection"
        for ev in self.h2.receive_data(data):
            r = self.r.setdefault(getattr(ev, "stream_id", 0) or 0, {"body": b"", "done": False})
            if isinstance(ev, h2.events.ResponseReceived):
                r["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                r["body"] += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                r["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                r["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                r["reset"] = ev.error_code
                r["done"] = True
        self.flush()

    def until(self, sid: int, pred: Any) -> dict[str, Any]:
        while not pred(self.r[sid]):
            self.read()
        return self.r[sid]

    def call(
        self, method: str, body: bytes, trailers: list[tuple[bytes, bytes]] | None = None
    ) -> dict[str, Any]:
        sid = self.start(method)
        self.send(sid, body, end=trailers is None)
        if trailers is not None:
            self.h2.send_headers(sid, trailers, end_stream=True)
            self.flush()
        return self.until(sid, lambda r: r["done"])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SyncProxy, H2cApp]]:
    app = H2cApp()
    proxy = SyncProxy(tmp_path_factory.mktemp("h2c"), workers=1)
    proxy.set_route(HOST, app.address, upstream_protocol="h2c", hsts=True)
    try:
        yield proxy, app
    finally:
        proxy.close()
        app.stop()


@pytest.fixture
def client(grpc: tuple[SyncProxy, H2cApp]) -> Iterator[Client]:
    assert grpc[0].https_port
    c = Client(grpc[0].https_port)
    yield c
    c.close()


def message(payload: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def test_unary_call_gets_body_and_trailers_with_forwarding_fields(grpc: Any, client: Client) -> None:
    r = client.call("Unary", message(b"hello"), trailers=[(b"x-client-trailer", b"t1")])
    assert r["headers"][b":status"] == b"200" and r["body"] == message(b"hello"), r
    assert r["headers"][b"strict-transport-security"] == b"max-age=31536000"  # the route's hsts
    assert r["trailers"][b"grpc-status"] == b"0" and r["trailers"][b"grpc-message"] == b"ok"
    assert json.loads(r["trailers"][b"x-seen-trailers"]) == {
        "x-client-trailer": "t1"
    }  # request trailers went up
    seen = json.loads(r["headers"][b"x-seen"])
    assert seen[":method"] == "POST" and seen[":path"] == "/t.Echo/Unary" and seen[":scheme"] == "http"
    assert seen[":authority"] == HOST
    assert seen["te"] == "trailers" and seen["content-type"] == "application/grpc"
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-host"] == HOST and len(seen["x-request-id"]) == 32


def test_trailers_only_error_answer(client: Client) -> None:
    sid = client.start("Fail", end=True)
    r = client.until(sid, lambda r: r["done"])
    assert r["headers"][b":status"] == b"200" and r["headers"][b"grpc-status"] == b"5" and r["body"] == b""


def test_streamed_call_echoes_each_message_before_the_next_is_sent(client: Client) -> None:
    sid = client.start("Stream")
    sent = b""
    for i in range(3):
        m = message(b"ping %d" % i)
        client.send(sid, m)
        sent += m
        # Each message comes back while the request stream is still open: both bodies stream at once.
        r = client.until(sid, lambda r, n=len(sent): len(r["body"]) >= n)
        assert r["body"] == sent and not r["done"]
    client.send(sid, b"", end=True)
    r = client.until(sid, lambda r: r["done"])
    assert r["trailers"][b"grpc-status"] == b"0" and r["body"] == sent


def test_bodies_larger_than_every_window_both_ways(client: Client) -> None:
    payload = bytes(range(256)) * (3 * MIB // 256)  # beyond the client's, the proxy's and the app's windows
    r = client.call("Unary", payload)
    assert r["body"] == payload and r["trailers"][b"grpc-status"] == b"0"


def test_client_reset_reaches_the_app(grpc: Any, client: Client) -> None:
    _proxy, app = grpc
    sid = client.start("Hang", end=True)
    client.until(sid, lambda r: "headers" in r)
    client.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    client.flush()
    wait_until(lambda: (b"/t.Echo/Hang", h2.errors.ErrorCodes.CANCEL) in app.resets)


def test_app_reset_reaches_the_client(client: Client) -> None:
    sid = client.start("Reset", end=True)
    r = client.until(sid, lambda r: r["done"])
    assert r.get("reset") == h2.errors.ErrorCodes.CANCEL and "headers" not in r
    assert client.call("Unary", message(b"after"))["body"] == message(b"after")  # the connection goes on


def test_app_down_is_a_502(grpc: Any) -> None:
    proxy, _app = grpc
    proxy.set_route("down.test", f"127.0.0.1:{free_port()}", upstream_protocol="h2c")
    c = Client(proxy.https_port)  # type: ignore[arg-type]
    try:
        for _ in range(2):  # a failed connection is not offered to the next stream
            r = c.until(c.start("Unary", end=True, authority="down.test"), lambda r: r["done"])
            assert r["headers"][b":status"] == b"502", r
    finally:
        c.close()


def test_http11_client_on_an_h2c_route_gets_505(grpc: Any) -> None:
    proxy, _app = grpc
    status, _headers, body = http_get(proxy.port, HOST, "/t.Echo/Unary")
    assert status == 505 and b"HTTP/2 only" in body


def test_path_route_with_stripped_prefix(grpc: Any) -> None:
    proxy, _app = grpc
    proxy.set_route(HOST, _app.address, path_prefix="/svc", strip_prefix=True, upstream_protocol="h2c")
    c = Client(proxy.https_port)  # type: ignore[arg-type]
    try:
        r = c.until(c.start("Unary", end=True, prefix="/svc"), lambda r: r["done"])
        seen = json.loads(r["headers"][b"x-seen"])
        assert seen[":path"] == "/t.Echo/Unary" and seen["x-forwarded-prefix"] == "/svc", seen
        assert r["trailers"][b"grpc-status"] == b"0"
    finally:
        c.close()


def test_health_probes_speak_http2_to_h2c_upstreams(grpc: Any, tmp_path: Any) -> None:
    """An HTTP/1.1 GET is no health probe for a gRPC server: an h2c route's upstreams get the HTTP/2 preface."""
    _proxy, app = grpc
    p = SyncProxy(tmp_path / "hc", health_interval=0.2, health_timeout=1, health_threshold=2)
    try:
        p.set_route("hc.grpc.test", app.address, upstream_protocol="h2c")
        p.set_route("gone.grpc.test", f"127.0.0.1:{free_port()}", upstream_protocol="h2c")

        def upstream(domain: str) -> Any:
            return next(r for r in p.call("routes") if r.domain == domain).upstreams[0]

        wait_until(lambda: not upstream("gone.grpc.test").healthy)  # probes ran: the down one is out...
        wait_until(lambda: upstream("hc.grpc.test").detail == "HTTP/2 SETTINGS")
        assert upstream("hc.grpc.test").healthy  # ...and the gRPC server stays in
        c = Client(p.https_port)  # type: ignore[arg-type]
        try:
            sid = c.start("Fail", end=True, authority="hc.grpc.test")
            assert c.until(sid, lambda r: r["done"])["headers"][b"grpc-status"] == b"5"
        finally:
            c.close()
    finally:
        p.close()


def test_access_log_line_of_an_h2c_call(grpc: Any, tmp_path: Any) -> None:
    _proxy, app = grpc
    p = SyncProxy(tmp_path / "log", access_log=True)
    try:
        p.set_route(HOST, app.address, upstream_protocol="h2c")
        c = Client(p.https_port)  # type: ignore[arg-type]
        try:
            r = c.call("Unary", message(b"logged"))
        finally:
            c.close()
        rid = json.loads(r["headers"][b"x-seen"])["x-request-id"]
        log = tmp_path / "log" / "access-0.log"
        line = json.loads(wait_until(lambda: log.exists() and log.read_text().strip() and log.read_text()))
        assert (line["method"], line["host"], line["path"], line["status"]) == (
            "POST",
            HOST,
            "/t.Echo/Unary",
            200,
        )
        assert line["upstream"] == app.address and line["upstream_ms"] >= 0
        assert line["request_id"] == rid and line["bytes"] == len(message(b"logged"))
    finally:
        p.close()


def test_a_refused_h2c_upstream_is_ejected_by_passive_health(grpc: Any, tmp_path: Any) -> None:
    """Connection failures to an h2c upstream count towards ejection as they do over HTTP/1.1: after
    ``outlier_consecutive_failures`` of them the other upstream takes every call."""
    _proxy, app = grpc
    proxy = SyncProxy(
        tmp_path / "pair", workers=1, outlier_consecutive_failures=2, outlier_base_ejection=60.0
    )
    dead = f"127.0.0.1:{free_port()}"
    c = None
    try:
        proxy.set_route("pair.test", app.address, dead, upstream_protocol="h2c")
        assert proxy.https_port
        c = Client(proxy.https_port)
        statuses = [
            c.until(c.start("Unary", end=True, authority="pair.test"), lambda r: r["done"])["headers"][
                b":status"
            ]
            for _ in range(12)
        ]
        # Round robin: the refused one answers 502 until its second failure ejects it, then the app takes all.
        assert statuses.count(b"502") == 2, statuses
        assert statuses[-6:] == [b"200"] * 6, statuses
        route = next(r for r in proxy.call("routes") if r.domain == "pair.test")
        ups = {u.address: u for u in route.upstreams}
        assert ups[dead].ejections == 1 and ups[dead].ejected_until is not None
        assert ups[app.address].ejections == 0
    finally:
        if c is not None:
            c.close()
        proxy.close()
