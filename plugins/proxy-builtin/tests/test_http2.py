"""HTTP/2 on the TLS listener (ALPN h2): curl and a raw h2 client against a real proxy process and real backends.

Requests, bodies both ways, many streams on one connection, the ALPN fallback to HTTP/1.1, the proxy's own
answers, and the defences (rapid reset, CONTINUATION, PING and SETTINGS floods, header list size, concurrent
streams, idle timeout)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from hyperframe.frame import ContinuationFrame, HeadersFrame

from tests.support.proxy import http_get, wait_until

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")


def tls_socket(port: int, sni: str, alpn: list[str]) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname=sni)


class H2Client:
    """A raw HTTP/2 client (the h2 library over a blocking TLS socket): what curl can't do (floods, resets)."""

    def __init__(self, port: int, host: str) -> None:
        self.host = host
        self.sock = tls_socket(port, host, ["h2"])
        assert self.sock.selected_alpn_protocol() == "h2"
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.flush()
        self.responses: dict[int, dict[str, Any]] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.closed = False

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(
        self, path: str, method: str = "GET", extra: list[tuple[str, str]] | None = None
    ) -> list[Any]:
        return [
            (b":method", method.encode()),
            (b":path", path.encode()),
            (b":scheme", b"https"),
            (b":authority", self.host.encode()),
            *[(k.encode(), v.encode()) for k, v in extra or []],
        ]

    def request(self, path: str, method: str = "GET", body: bytes | None = None, **kw: Any) -> int:
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(sid, self.headers(path, method, kw.get("extra")), end_stream=body is None)
        if body is not None:
            self.send_body(sid, body)
        self.flush()
        return sid

    def send_body(self, sid: int, body: bytes) -> None:
        """Send ``body`` as the windows allow (reading WINDOW_UPDATEs meanwhile), then end the stream."""
        while body:
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.read_once()
                continue
            self.h2.send_data(sid, body[:window])
            body = body[window:]
            self.flush()
        self.h2.end_stream(sid)
        self.flush()

    def read_once(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (ConnectionError, ssl.SSLError, OSError):
            data = b""
        if not data:
            self.closed = True
            return False
        for ev in self.h2.receive_data(data):
            if isinstance(ev, h2.events.InformationalResponseReceived):
                r = self.responses.setdefault(ev.stream_id, {"body": b"", "done": False})
                r.setdefault("interim", []).append(dict(ev.headers))
            elif isinstance(ev, h2.events.ResponseReceived):
                r = self.responses.setdefault(ev.stream_id, {"body": b"", "done": False})
                r["headers"] = dict(ev.headers)
                r["status"] = int(r["headers"][b":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.responses[ev.stream_id]["body"] += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                self.responses[ev.stream_id]["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                self.responses[ev.stream_id]["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                self.responses.setdefault(ev.stream_id, {"body": b""})["reset"] = ev.error_code
                self.responses[ev.stream_id]["done"] = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev
        self.flush()
        return True

    def wait(self, sids: list[int]) -> list[dict[str, Any]]:
        while not all(self.responses.get(s, {}).get("done") for s in sids):
            assert self.read_once(), f"connection closed; goaway={self.goaway}"
        return [self.responses[s] for s in sids]

    def read_until_closed(self) -> None:
        while self.read_once():
            pass

    def close(self) -> None:
        self.sock.close()


def curl(*args: str, port: int, host: str = "h2.test") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sk", "--resolve", f"{host}:{port}:127.0.0.1", "--max-time", "30", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def h2proxy(proxy_factory, backend_factory):
    b = backend_factory("h2app")
    p = proxy_factory()
    assert p.https_port
    p.set_route("h2.test", b.address, hsts=True)
    return p, b


def test_curl_get_over_h2_with_forwarding_headers(h2proxy):
    p, _b = h2proxy
    url = f"https://h2.test:{p.https_port}/headers"
    r = curl("--http2", "-D", "-", "-H", "Cookie: a=1", "-H", "Cookie: b=2", url, port=p.https_port)
    head, _, body = r.stdout.partition("\n\n")  # (text mode: curl's CRLFs read as LFs)
    assert head.startswith("HTTP/2 200"), r.stdout + r.stderr
    assert "strict-transport-security: max-age=31536000" in head  # the route's HSTS, as over HTTP/1.1
    seen = json.loads(body)
    assert seen["request_line"] == "GET /headers HTTP/1.1"
    hdrs = {k.lower(): v.strip() for k, v in seen["headers"]}
    assert hdrs["host"] == f"h2.test:{p.https_port}"  # from :authority
    assert hdrs["x-forwarded-proto"] == "https"
    assert hdrs["x-forwarded-for"] == "127.0.0.1"
    assert hdrs["x-forwarded-host"] == f"h2.test:{p.https_port}"
    assert len(hdrs["x-request-id"]) == 32
    assert hdrs["cookie"] == "a=1; b=2"  # h2 cookie crumbs joined for HTTP/1.1 (RFC 9113 §8.2.3)


def test_curl_post_1mb_and_download_3mb(h2proxy, tmp_path):
    p, _b = h2proxy
    payload = tmp_path / "body"
    payload.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    out = "\n%{http_version} %{http_code}"
    r = curl(
        "--http2",
        "-w",
        out,
        "--data-binary",
        f"@{payload}",
        f"https://h2.test:{p.https_port}/upload",
        port=p.https_port,
    )
    body, _, tail = r.stdout.rpartition("\n")
    assert tail == "2 200", r.stdout + r.stderr
    assert json.loads(body) == {"bytes": 1024 * 1024, "chunked": False}
    for chunked in ("0", "1"):
        r = curl(
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code} %{size_download}",
            f"https://h2.test:{p.https_port}/download?size=3000000&chunked={chunked}",
            port=p.https_port,
        )
        assert r.stdout == "2 200 3000000", r.stdout + r.stderr


def test_upload_without_length_goes_up_chunked_and_windows_follow_the_upstream(h2proxy):
    p, _b = h2proxy
    c = H2Client(p.https_port, "h2.test")
    body = b"y" * (3 * 1024 * 1024)  # three times the stream window: needs WINDOW_UPDATEs from the proxy
    sid = c.request("/upload", "POST", body)
    (resp,) = c.wait([sid])
    assert resp["status"] == 200
    assert json.loads(resp["body"]) == {"bytes": len(body), "chunked": True}
    c.close()


def test_twenty_concurrent_streams_on_one_connection(h2proxy):
    p, b = h2proxy
    c = H2Client(p.https_port, "h2.test")
    sids = [c.request(f"/sleep?s=0.3&n={i}") for i in range(20)]
    before = b.requests
    responses = c.wait(sids)
    assert [r["status"] for r in responses] == [200] * 20
    assert {r["body"] for r in responses} == {b"h2app"}
    assert b.requests - before <= 20 and b.requests >= 20
    # All twenty were in flight at once: the backend needed (at least nearly) one connection per stream.
    assert b.connections >= 15
    c.close()
    if shutil.which("nghttp"):  # and nghttp2's own client: 20 streams at once on one connection
        r = subprocess.run(
            [
                "nghttp",
                "-ns",
                "-m",
                "20",
                f"https://127.0.0.1:{p.https_port}/sleep?s=0.2",
                "-H",
                ":authority: h2.test",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count(" 200    5 /sleep?s=0.2") == 20, r.stdout


def test_alpn_falls_back_to_http11(h2proxy):
    p, _ = h2proxy
    r = curl("--http1.1", "-w", "\n%{http_version}", f"https://h2.test:{p.https_port}/", port=p.https_port)
    assert r.stdout == "h2app\n1.1", r.stdout + r.stderr
    s = tls_socket(p.https_port, "h2.test", ["http/1.1"])
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()
    s = tls_socket(p.https_port, "h2.test", ["h2", "http/1.1"])
    assert s.selected_alpn_protocol() == "h2"
    s.close()


def test_http2_off_offers_only_http11(proxy_factory, backend_factory):
    b = backend_factory("plain")
    p = proxy_factory(http2=False)
    p.set_route("h2.test", b.address)
    s = tls_socket(p.https_port, "h2.test", ["h2", "http/1.1"])
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()
    r = curl("--http2", "-w", "\n%{http_version}", f"https://h2.test:{p.https_port}/", port=p.https_port)
    assert r.stdout == "plain\n1.1"


def test_proxy_answers_over_h2(h2proxy, backend_factory):
    p, _b = h2proxy
    c = H2Client(p.https_port, "h2.test")
    c.host = "nowhere.test"
    s404 = c.request("/")
    c.host = "h2.test"
    big = c.request("/", extra=[("x-big", "v" * 20000)])  # header list above max_header_size (16 KiB)
    ok = c.request("/status?code=201")
    r404, r431, r201 = c.wait([s404, big, ok])
    assert r404["status"] == 404 and b"No application" in r404["body"]
    assert r431["status"] == 431
    assert r201["status"] == 201 and r201["body"] == b"status"
    # A space in :path would bend the HTTP/1.1 request line built from it (h2 itself refuses only CR, LF, NUL).
    (bad,) = c.wait([c.request("/a HTTP/1.0\tx")])
    assert bad["status"] == 400
    head = c.request("/download?size=10", "HEAD")
    (rhead,) = c.wait([head])
    assert rhead["status"] == 200 and rhead["body"] == b"" and rhead["headers"][b"content-length"] == b"10"
    c.close()
    # A route whose only upstream refuses connections: 502, as over HTTP/1.1.
    dead = backend_factory("dead")
    p.set_route("down.test", dead.address)
    dead.stop()
    r = curl(
        "--http2",
        "-w",
        "\n%{http_version} %{http_code}",
        f"https://down.test:{p.https_port}/",
        port=p.https_port,
        host="down.test",
    )
    assert r.stdout.endswith("\n2 502") and "Bad Gateway" in r.stdout, r.stdout


def test_max_concurrent_streams_advertised_and_enforced(h2proxy):
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    c.request("/")  # a first round trip brings the server's SETTINGS
    while c.h2.remote_settings.max_concurrent_streams != 100:
        assert c.read_once()
    # The client library refuses to exceed it; a raw frame writer is needed to break the rule.
    c.h2.remote_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000}
    )
    for i in range(120):
        c.request(f"/sleep?s=2&i={i}")
    c.read_until_closed()
    assert c.goaway is not None and c.goaway.error_code in (
        h2.errors.ErrorCodes.PROTOCOL_ERROR,
        h2.errors.ErrorCodes.REFUSED_STREAM,
    )


def worker_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_rapid_reset_flood_gets_goaway_and_the_worker_serves_on(h2proxy):
    p, _b = h2proxy
    (pid,) = p.worker_pids()
    c = H2Client(p.https_port, "h2.test")
    sid = c.request("/")
    c.wait([sid])
    rss_before = worker_rss_kb(pid)
    frames = bytearray()
    hdrs = c.headers("/sleep?s=5")
    sent = 0
    try:
        for _ in range(20000):
            s = c.h2.get_next_available_stream_id()
            c.h2.send_headers(s, hdrs, end_stream=True)
            c.h2.reset_stream(s, h2.errors.ErrorCodes.CANCEL)
            frames += c.h2.data_to_send()
            if len(frames) > 64 * 1024:
                c.sock.sendall(frames)
                sent += 1
                frames.clear()
        c.sock.sendall(frames)
    except (ConnectionError, ssl.SSLError, OSError):
        pass  # the proxy closed the connection mid-flood: what it should do
    c.read_until_closed()
    assert c.goaway is not None, "no GOAWAY"
    assert c.goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    assert p.worker_pids() == [pid]
    status, _, body = http_get(p.port, "h2.test")
    assert (status, body) == (200, b"h2app")
    c2 = H2Client(p.https_port, "h2.test")
    (r,) = c2.wait([c2.request("/")])
    assert r["status"] == 200 and r["body"] == b"h2app"
    c2.close()
    assert worker_rss_kb(pid) - rss_before < 64 * 1024  # KiB: bounded, not proportional to the flood
    assert "stream resets" in p.log()


def test_continuation_flood_closes_the_connection(h2proxy):
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    enc = c.h2.encoder
    first = HeadersFrame(1)
    first.data = enc.encode(c.headers("/"))
    first.flags.add("END_STREAM")  # no END_HEADERS: CONTINUATION frames must follow
    payload = bytearray(first.serialize())
    for i in range(2000):
        cont = ContinuationFrame(1)
        cont.data = enc.encode([(b"x-flood-%d" % i, b"z" * 100)])
        payload += cont.serialize()
    try:
        c.sock.sendall(bytes(payload))
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    # The client's own h2 state machine never saw that stream: read the frames raw.
    data = b""
    while True:
        try:
            chunk = c.sock.recv(65536)
        except (ConnectionError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    c.close()
    goaway_codes = []
    pos = 0
    while pos + 9 <= len(data):  # frame header: length (3), type (1), flags (1), stream id (4)
        length, ftype = int.from_bytes(data[pos : pos + 3], "big"), data[pos + 3]
        if ftype == 7:  # GOAWAY: last stream id (4), error code (4)
            goaway_codes.append(int.from_bytes(data[pos + 13 : pos + 17], "big"))
        pos += 9 + length
    assert goaway_codes and goaway_codes[-1] in (
        h2.errors.ErrorCodes.PROTOCOL_ERROR,
        h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
    ), data[-64:]
    status, _, _ = http_get(p.port, "h2.test")
    assert status == 200


@pytest.mark.parametrize("kind", ["ping", "settings", "empty_data", "priority"])
def test_control_frame_floods_get_enhance_your_calm(h2proxy, kind):
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    sid = c.h2.get_next_available_stream_id()
    c.h2.send_headers(sid, c.headers("/upload", "POST"))  # an upload whose body never comes
    c.flush()
    try:
        for i in range(2000):
            if kind == "ping":
                c.h2.ping(b"%08d" % i)
            elif kind == "settings":
                c.h2.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384 + i})
            elif kind == "empty_data":
                c.h2.send_data(sid, b"")
            else:
                c.h2.prioritize(sid, weight=1 + i % 255)
            c.flush()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    c.read_until_closed()
    assert c.goaway is not None and c.goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


def test_requests_with_priority_in_their_headers_are_not_a_priority_flood(h2proxy):
    """Browsers put a priority in every request's HEADERS frame: more requests on one connection than the
    PRIORITY frame limit (1000 per 10 s) are all served (they were cut off with ENHANCE_YOUR_CALM)."""
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    served = 0
    for _ in range(24):
        sids = []
        for _ in range(50):
            sid = c.h2.get_next_available_stream_id()
            c.h2.send_headers(
                sid, c.headers("/"), end_stream=True, priority_weight=220, priority_exclusive=True
            )
            sids.append(sid)
        c.flush()
        results = c.wait(sids)
        served += sum(r["status"] == 200 and r["body"] == b"h2app" for r in results)
    assert served == 1200 and c.goaway is None
    c.close()


def test_idle_connection_is_closed_with_goaway(proxy_factory, backend_factory):
    b = backend_factory("idle")
    p = proxy_factory(idle_timeout=0.5)
    p.set_route("h2.test", b.address)
    c = H2Client(p.https_port, "h2.test")
    (r,) = c.wait([c.request("/")])
    assert r["status"] == 200
    c.read_until_closed()  # returns when the proxy closes the idle connection (socket timeout: 20 s)
    assert c.goaway is not None and c.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
    wait_until(lambda: c.closed)


def test_header_block_beyond_twice_the_limit_closes_the_connection(h2proxy):
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    c.request("/", extra=[(f"x-big-{i}", "v" * 8000) for i in range(5)])  # 40 KB > 2 x 16 KiB
    c.read_until_closed()
    assert c.goaway is not None and c.goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    status, _, _ = http_get(p.port, "h2.test")
    assert status == 200


def test_route_rules_apply_over_h2(proxy_factory, backend_factory):
    """Path routes, prefix stripping and basic auth: the HTTP/1.1 path's rules, on h2 streams."""
    import base64

    import bcrypt

    root, v1, strip, secret = (backend_factory(n) for n in ("root", "v1", "strip", "secret"))
    p = proxy_factory()
    p.set_route("api.test", root.address)
    p.set_route("api.test", v1.address, path_prefix="/v1")
    p.set_route("api.test", strip.address, path_prefix="/s", strip_prefix=True)
    users = {"alice": bcrypt.hashpw(b"wonder land", bcrypt.gensalt(rounds=4)).decode()}
    p.set_route("staging.test", secret.address, auth={"realm": "Staging", "users": users})
    c = H2Client(p.https_port, "api.test")
    a, b, s = c.request("/"), c.request("/v1/users?id=3"), c.request("/s/headers")
    ra, rb, rs = c.wait([a, b, s])
    assert (ra["body"], rb["body"]) == (b"root", b"v1")
    seen = json.loads(rs["body"])
    assert seen["request_line"] == "GET /headers HTTP/1.1"  # the prefix stripped
    assert ["X-Forwarded-Prefix", " /s"] in seen["headers"]
    c.host = "staging.test"
    (denied,) = c.wait([c.request("/")])
    assert denied["status"] == 401 and denied["headers"][b"www-authenticate"].startswith(
        b'Basic realm="Staging"'
    )
    token = "Basic " + base64.b64encode(b"alice:wonder land").decode()
    (ok,) = c.wait([c.request("/headers", extra=[("authorization", token)])])
    assert ok["status"] == 200
    assert "authorization" not in {k.lower() for k, _ in json.loads(ok["body"])["headers"]}
    c.close()


def test_responses_are_compressed_over_h2(proxy_factory, tmp_path):
    """Accept-Encoding reaches the app and the proxy's response compression works on h2 streams too."""
    import gzip
    import http.server
    import threading
    from functools import partial

    page = b"<div class=route>rivetr proxy stream</div>\n" * 2000
    (tmp_path / "index.html").write_bytes(page)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        p = proxy_factory()
        p.set_route("z.test", f"127.0.0.1:{server.server_address[1]}")
        c = H2Client(p.https_port, "z.test")
        (r,) = c.wait([c.request("/index.html", extra=[("accept-encoding", "gzip")])])
        assert r["status"] == 200
        assert r["headers"][b"content-encoding"] == b"gzip"
        assert gzip.decompress(r["body"]) == page
        (plain,) = c.wait([c.request("/index.html")])
        assert b"content-encoding" not in plain["headers"] and plain["body"] == page
        c.close()
    finally:
        server.shutdown()
        server.server_close()


def test_drain_timeout_resets_only_the_streams_on_the_old_upstream(proxy_factory, backend_factory):
    old, new = backend_factory("old"), backend_factory("new")
    p = proxy_factory(drain_timeout=0.5)
    p.set_route("h2.test", old.address)
    c = H2Client(p.https_port, "h2.test")
    slow = c.request("/sleep?s=30")
    wait_until(lambda: old.requests >= 1)
    p.set_route("h2.test", new.address)
    assert p.call("wait_drained", old.address, 10) is True  # the proxy ended the stream after drain_timeout
    (r,) = c.wait([slow])
    assert "reset" in r and "status" not in r
    (again,) = c.wait([c.request("/")])  # the same connection goes on, to the new upstream
    assert again["status"] == 200 and again["body"] == b"new"
    c.close()


def test_client_goaway_with_streams_in_flight_is_quiet(h2proxy):
    """A client that leaves (GOAWAY) while its streams wait for the app: their late responses are dropped
    without an error (h2 refuses to send on a closed connection) and the worker serves on."""
    p, b = h2proxy
    c = H2Client(p.https_port, "h2.test")
    for _ in range(5):
        c.request("/sleep?s=0.3")
    wait_until(lambda: b.requests >= 5)
    c.h2.close_connection()
    c.flush()
    # Answered after the five late responses reached the proxy (the app sleeps longer for this one).
    c2 = H2Client(p.https_port, "h2.test")
    (r,) = c2.wait([c2.request("/sleep?s=1")])
    assert r["status"] == 200
    c.close()
    c2.close()
    assert "Traceback" not in p.log(), p.log()


def worker_peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def test_large_response_to_a_slow_client_keeps_the_worker_small(h2proxy, tmp_path):
    """32 MB to a client reading at 8 MB/s with a window as large as curl's: the proxy stops reading the app
    while the client's socket holds the response back, so its peak memory stays far below the body."""
    p, _ = h2proxy
    (pid,) = p.worker_pids()
    assert http_get(p.port, "h2.test")[0] == 200
    peak_before = worker_peak_rss_kb(pid)
    size = 32 * 1024 * 1024
    r = curl(
        "--http2",
        "--limit-rate",
        "8M",
        "-o",
        str(tmp_path / "out"),
        "-w",
        "%{http_version} %{size_download}",
        f"https://h2.test:{p.https_port}/download?size={size}",
        port=p.https_port,
    )
    assert r.stdout == f"2 {size}", r.stdout + r.stderr
    assert worker_peak_rss_kb(pid) - peak_before < 12 * 1024  # KiB


# Request header blocks RFC 9113 §8.2/§8.3 calls malformed: each closes the connection with PROTOCOL_ERROR, and
# nothing of it reaches the app (a CR/LF or a Connection field would bend the HTTP/1.1 request sent upstream).
_GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/headers"), (b":authority", b"h2.test")]
MALFORMED = {
    "upper_case_name": [*_GET, (b"X-Upper", b"1")],
    "space_in_name": [*_GET, (b"x y", b"1")],
    "colon_in_name": [*_GET, (b"x:y", b"1")],
    "del_in_name": [*_GET, (b"x\x7fy", b"1")],
    "empty_name": [*_GET, (b"", b"1")],
    "crlf_in_value": [*_GET, (b"x-a", b"1\r\nx-injected: 1")],
    "lf_in_value": [*_GET, (b"x-a", b"1\nx-injected: 1")],
    "cr_in_value": [*_GET, (b"x-a", b"1\rx")],
    "nul_in_value": [*_GET, (b"x-a", b"1\x00x")],
    "leading_space_in_value": [*_GET, (b"x-a", b" 1")],
    "trailing_tab_in_value": [*_GET, (b"x-a", b"1\t")],
    "connection": [*_GET, (b"connection", b"close")],
    "transfer_encoding": [*_GET, (b"transfer-encoding", b"chunked")],
    "upgrade": [*_GET, (b"upgrade", b"h2c")],
    "keep_alive": [*_GET, (b"keep-alive", b"1")],
    "proxy_connection": [*_GET, (b"proxy-connection", b"keep-alive")],
    "te_not_trailers": [*_GET, (b"te", b"gzip")],
    "pseudo_after_regular": [_GET[0], _GET[1], (b"x-a", b"1"), _GET[2], _GET[3]],
    "duplicate_path": [*_GET, (b":path", b"/other")],
    "duplicate_method": [_GET[0], (b":method", b"POST"), *_GET[1:]],
    "unknown_pseudo": [*_GET, (b":foo", b"1")],
    "status_in_request": [*_GET, (b":status", b"200")],
    "missing_scheme": [_GET[0], _GET[2], _GET[3]],
    "missing_path": [_GET[0], _GET[1], _GET[3]],
    "missing_method": _GET[1:],
    "empty_path": [_GET[0], _GET[1], (b":path", b""), _GET[3]],
    "authority_host_mismatch": [*_GET, (b"host", b"other.test")],
    "two_hosts": [_GET[0], _GET[1], _GET[2], (b"host", b"h2.test"), (b"host", b"h2.test")],
    "no_authority_or_host": _GET[:3],
}


def raw_client(port: int) -> H2Client:
    """A client whose h2 library sends header lists as given (no checks, no lower-casing)."""
    c = H2Client(port, "h2.test")
    c.h2.config.validate_outbound_headers = False
    c.h2.config.normalize_outbound_headers = False
    return c


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_request_headers_close_the_connection(h2proxy, case):
    p, b = h2proxy
    c = raw_client(p.https_port)
    (ok,) = c.wait([c.request("/")])  # one good request first: the connection works until the bad one
    assert ok["status"] == 200
    seen = b.requests
    sid = c.h2.get_next_available_stream_id()
    c.h2.send_headers(sid, MALFORMED[case], end_stream=True)
    c.flush()
    c.read_until_closed()
    assert c.goaway is not None and c.goaway.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR, case
    assert b.requests == seen  # the app never saw it
    status, _, _ = http_get(p.port, "h2.test")
    assert status == 200


def test_well_formed_edge_cases_are_accepted(h2proxy):
    """What the checks must let through: te: trailers, host equal to :authority, empty values, tchar-rich
    names, a value with inner spaces, cookie crumbs."""
    p, _ = h2proxy
    c = raw_client(p.https_port)
    extra = [
        (b"te", b"trailers"),
        (b"host", b"h2.test"),
        (b"x-empty", b""),
        (b"x-!#$%&'*+.^_`|~0", b"a b\tc"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]
    sid = c.h2.get_next_available_stream_id()
    c.h2.send_headers(sid, [*_GET, *extra], end_stream=True)
    c.flush()
    (r,) = c.wait([sid])
    assert r["status"] == 200, r
    hdrs = {k.lower(): v.strip() for k, v in json.loads(r["body"])["headers"]}
    assert hdrs["x-empty"] == ""
    assert hdrs["x-!#$%&'*+.^_`|~0"] == "a b\tc"
    assert hdrs["cookie"] == "a=1; b=2"
    assert "te" not in hdrs  # hop-by-hop: not sent upstream


def test_early_hints_reach_the_client_as_informational_headers(h2proxy):
    """The app answers 103 Early Hints (with a Link field), then 200: the h2 client gets both, in order."""
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    (r,) = c.wait([c.request("/early")])
    assert r["interim"] == [{b":status": b"103", b"link": b"</s.css>; rel=preload"}], r
    assert r["status"] == 200 and r["body"] == b"early"
    # A second request on the same connection: the stream state and HPACK tables stay consistent.
    (r2,) = c.wait([c.request("/early")])
    assert r2["interim"][0][b":status"] == b"103" and r2["body"] == b"early"
    c.close()


def test_expect_100_continue_is_answered_by_the_app_before_the_body(h2proxy):
    """A client that sends Expect: 100-continue waits for the app's 100 before its body (RFC 9110 §10.1.1)."""
    p, _ = h2proxy
    c = H2Client(p.https_port, "h2.test")
    sid = c.h2.get_next_available_stream_id()
    head = c.headers("/continue", "POST", [("expect", "100-continue"), ("content-length", "5")])
    c.h2.send_headers(sid, head)
    c.flush()
    while "interim" not in c.responses.get(sid, {}):
        assert c.read_once(), c.goaway
    assert c.responses[sid]["interim"] == [{b":status": b"100"}]
    assert "status" not in c.responses[sid]  # nothing final before the body
    c.send_body(sid, b"hello")
    (r,) = c.wait([sid])
    assert r["status"] == 200 and json.loads(r["body"]) == {"bytes": 5, "chunked": False}
    c.close()


def test_nghttp_sees_103_then_200(h2proxy):
    """The same with nghttp2's own client (frame log): a HEADERS frame with :status 103, then one with 200."""
    if shutil.which("nghttp") is None:
        pytest.skip("nghttp is needed (nghttp2-client)")
    p, _ = h2proxy
    r = subprocess.run(
        ["nghttp", "-v", "-n", f"https://127.0.0.1:{p.https_port}/early", "-H", ":authority: h2.test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    statuses = re.findall(r"recv \(stream_id=\d+\) :status: (\d+)", r.stdout)
    assert statuses == ["103", "200"], r.stdout + r.stderr
