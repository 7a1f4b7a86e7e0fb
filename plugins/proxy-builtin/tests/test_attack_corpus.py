"""Proxy attack corpus (issue 14, proof): smuggling, malformed framing, oversized and slow requests, pipelining
across upgrades and absolute-form targets, each sent to a real proxy process in front of a real backend while a
well-behaved keep-alive client runs alongside.

Every case must get the right 4xx (or a close), leave the proxy serving, and leave no bytes behind: after each
case a fresh visitor with a marker of its own must get its own answer, and the concurrent client (whose every
request carries a marker the backend echoes) must see no failure and never another client's response.
``bench/proxy_attack.py`` runs the same corpus for many rounds with more concurrency.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HOST = "s.test"
H = b"Host: s.test\r\n"
# Short timeouts keep the slowloris cases quick (the sweep checks deadlines every header_timeout / 4).
SETTINGS: dict[str, Any] = {"header_timeout": 1.0, "idle_timeout": 2.0, "max_body_size": 10_000_000}
UPGRADE = (
    b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: eA==\r\n"
)
# A request whose announced body never comes: left on an upstream connection, it would swallow the next
# visitor's request and answer it with a 299.
SMUGGLED = b"GET /status?code=299 HTTP/1.1\r\nHost: s.test\r\nContent-Length: 10\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: tuple[int, ...] = (400,)  # acceptable statuses of the first answer; 0: a close without one
    close: bool = True  # the proxy must close the connection afterwards
    answers: int = 1  # responses expected in all (more for pipelined cases)
    line: str | None = None  # the request line the app must have seen (a /headers echo)
    drip: bytes = b""  # after ``data``, sent one byte every 0.1 s, over and over (slowloris)
    within: float = 4.0  # seconds the whole exchange may take


def post(headers: bytes, body: bytes = b"", version: bytes = b"1.1") -> bytes:
    return b"POST /upload HTTP/" + version + b"\r\n" + H + headers + b"\r\n" + body


TE = b"Transfer-Encoding: chunked\r\n"
CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"

CORPUS: list[Case] = [
    # ---- CL.TE / TE.CL / TE.TE
    Case("cl_te", post(b"Content-Length: 6\r\n" + TE, b"0\r\n\r\nG")),
    Case("te_cl", post(TE + b"Content-Length: 4\r\n", b"5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n")),
    Case("te_xchunked", post(b"Transfer-Encoding: xchunked\r\n", CHUNKED_BODY)),
    Case("te_space_before_colon", post(b"Transfer-Encoding : chunked\r\n", CHUNKED_BODY)),
    Case("te_leading_space_line", post(b"X-A: b\r\n Transfer-Encoding: chunked\r\n", CHUNKED_BODY)),
    Case("te_obs_fold_value", post(b"Transfer-Encoding:\r\n chunked\r\n", CHUNKED_BODY)),
    Case("te_chunked_identity", post(b"Transfer-Encoding: chunked, identity\r\n", CHUNKED_BODY)),
    Case("te_identity_chunked", post(b"Transfer-Encoding: identity, chunked\r\n", CHUNKED_BODY)),
    Case("te_tab_with_cl", post(b"Transfer-Encoding:\tchunked\r\nContent-Length: 3\r\n", CHUNKED_BODY)),
    Case("te_vertical_tab", post(b"Transfer-Encoding: \x0bchunked\r\n", CHUNKED_BODY)),
    Case("te_quoted", post(b'Transfer-Encoding: "chunked"\r\n', CHUNKED_BODY)),
    Case("te_twice", post(TE + TE, CHUNKED_BODY)),
    Case("te_twice_mixed", post(TE + b"Transfer-Encoding: identity\r\n", CHUNKED_BODY)),
    Case("te_nul", post(b"Transfer-Encoding: chunked\x00\r\n", CHUNKED_BODY)),
    Case("te_http10", post(TE, CHUNKED_BODY, version=b"1.0")),
    Case("te_gzip", post(b"Transfer-Encoding: gzip\r\n", b"abc")),
    # ---- lengths
    Case("cl_twice_same", post(b"Content-Length: 1\r\nContent-Length: 1\r\n", b"x")),
    Case("cl_twice_different", post(b"Content-Length: 1\r\nContent-Length: 2\r\n", b"xx")),
    Case("cl_list", post(b"Content-Length: 1, 1\r\n", b"x")),
    Case("cl_not_a_number", post(b"Content-Length: 1x\r\n", b"x")),
    Case("cl_negative", post(b"Content-Length: -1\r\n", b"x")),
    Case("cl_plus", post(b"Content-Length: +1\r\n", b"x")),
    Case("cl_hex", post(b"Content-Length: 0x5\r\n", b"hello")),
    Case("cl_inner_space", post(b"Content-Length: 5 5\r\n", b"hello")),
    Case("cl_empty", post(b"Content-Length: \r\n", b"")),
    Case("cl_overflow", post(b"Content-Length: 99999999999999999999\r\n", b"x")),
    Case("cl_19_digits", post(b"Content-Length: 1000000000000000000\r\n", b"x")),
    Case("cl_over_limit", post(b"Content-Length: 20000000\r\n", b"x"), expect=(413,)),
    # ---- head syntax
    Case("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n  folded\r\n\r\n"),
    Case("bare_cr", b"GET / HTTP/1.1\r\nHost: s.test\rX: y\r\n\r\n"),
    Case("bare_lf_head", b"GET / HTTP/1.1\nHost: s.test\n\n"),
    Case("bare_lf_one_line", b"GET / HTTP/1.1\r\nHost: s.test\nX: y\r\n\r\n"),
    Case("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n"),
    Case("nul_in_name", b"GET / HTTP/1.1\r\n" + H + b"X\x00Y: a\r\n\r\n"),
    Case("nul_in_target", b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n"),
    Case("ctl_in_value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x01b\r\n\r\n"),
    Case("del_in_value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n"),
    Case("no_colon", b"GET / HTTP/1.1\r\n" + H + b"Foo\r\n\r\n"),
    Case("empty_name", b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n"),
    Case("space_in_name", b"GET / HTTP/1.1\r\n" + H + b"X Y: z\r\n\r\n"),
    Case("two_hosts", b"GET / HTTP/1.1\r\nHost: s.test\r\nHost: other.test\r\n\r\n"),
    Case("no_host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n"),
    # llhttp splits the request line on runs of spaces (RFC 9112 §3 allows it); the proxy rebuilds the line,
    # so the app sees a normal one: served, nothing ambiguous passes on.
    Case("double_space_request_line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", expect=(200,), close=False),
    Case("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n"),
    Case("lowercase_method", b"get / HTTP/1.1\r\n" + H + b"\r\n"),
    Case("unknown_method", b"FROB / HTTP/1.1\r\n" + H + b"\r\n"),
    Case("bad_version", b"GET / HTTP/9.9\r\n" + H + b"\r\n"),
    Case("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    Case("tls_to_plain_port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40),
    Case("connect", b"CONNECT s.test:443 HTTP/1.1\r\n" + H + b"\r\n", expect=(405,)),
    # ---- oversized heads
    Case("big_header", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 20000 + b"\r\n\r\n", expect=(431,)),
    Case("many_headers", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n" * 3000 + b"\r\n", expect=(431,)),
    Case("long_target", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H + b"\r\n", expect=(431,)),
    Case(
        "big_trailers",
        post(TE, b"5\r\nhello\r\n0\r\n" + b"X-T: " + b"t" * 20000 + b"\r\n\r\n"),
        expect=(431,),
    ),
    # ---- chunk sizes and extensions
    Case("chunk_hex_overflow", post(TE, b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n")),
    Case("chunk_negative", post(TE, b"-5\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_0x", post(TE, b"0x5\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_not_hex", post(TE, b"zz\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_empty_size", post(TE, b"\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_space_after_size", post(TE, b"5 \r\nhello\r\n0\r\n\r\n")),
    Case("chunk_data_too_long", post(TE, b"3\r\nabcX0\r\n\r\n")),
    Case("chunk_missing_cr_after_size", post(TE, b"5\nhello\r\n0\r\n\r\n")),
    Case("chunk_missing_crlf_after_data", post(TE, b"5\r\nhello0\r\n\r\n")),
    # One huge extension, and many chunks each framing a byte with a long extension: framing far beyond the
    # data it carries is refused (bounded work per byte of body).
    Case("chunk_extension_huge", post(TE, b"5;" + b"e" * 1_000_000 + b"\r\nhello\r\n0\r\n\r\n")),
    Case("chunk_extensions_many", post(TE, (b"1;" + b"e" * 200 + b"\r\nx\r\n") * 3000 + b"0\r\n\r\n")),
    # ---- absolute-form targets
    Case("absolute_other_host", b"GET http://other.test/ HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_https_other_host", b"GET https://other.test/headers HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_userinfo", b"GET http://s.test@other.test/ HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_userinfo_same", b"GET http://other.test@s.test/ HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_other_scheme", b"GET ftp://s.test/ HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_empty_authority", b"GET http:///headers HTTP/1.1\r\n" + H + b"\r\n"),
    Case("absolute_no_host_http11", b"GET http://s.test/ HTTP/1.1\r\n\r\n"),
    Case("asterisk_not_options", b"GET * HTTP/1.1\r\n" + H + b"\r\n"),
    Case(
        "absolute_same_host_normalised",
        b"GET http://S.test:80/headers?m=abs HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
        expect=(200,),
        line="GET /headers?m=abs HTTP/1.1",
    ),
    Case(
        "absolute_query_only",
        b"GET http://s.test?m=q HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
        expect=(200,),
    ),
    Case(
        "absolute_http10_without_host",
        b"GET http://s.test/headers?m=h10 HTTP/1.0\r\n\r\n",
        expect=(200,),
        line="GET /headers?m=h10 HTTP/1.0",
    ),
    # ---- pipelining across an upgrade (the app here refuses every upgrade: it answers 200)
    Case(
        "upgrade_refused_then_smuggled",
        b"GET /ws HTTP/1.1\r\n" + H + UPGRADE + b"\r\n" + SMUGGLED,
        expect=(200,),
    ),
    Case(
        "upgrade_with_body_then_smuggled",
        b"GET /ws HTTP/1.1\r\n" + H + UPGRADE + b"Content-Length: 5\r\n\r\nhello" + SMUGGLED,
    ),
    Case(
        "upgrade_chunked_then_smuggled",
        b"GET /ws HTTP/1.1\r\n" + H + UPGRADE + TE + b"\r\n" + CHUNKED_BODY + SMUGGLED,
    ),
    Case(
        "h2c_upgrade_then_smuggled",
        b"GET / HTTP/1.1\r\n" + H + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" + SMUGGLED,
        expect=(200,),
    ),
    Case(
        "upgrade_pipelined_behind_request",
        b"GET /first HTTP/1.1\r\n"
        + H
        + b"\r\nGET /ws HTTP/1.1\r\nHost: nowhere.test\r\n"
        + UPGRADE
        + b"\r\n"
        + SMUGGLED,
        expect=(200,),
        answers=2,
    ),
    Case(
        "upgrade_unknown_host_then_smuggled",
        b"GET /ws HTTP/1.1\r\nHost: nowhere.test\r\n" + UPGRADE + b"\r\n" + SMUGGLED,
        expect=(404,),
    ),
    Case(
        "pipelined_then_bad_request",
        b"GET /first HTTP/1.1\r\n"
        + H
        + b"\r\nGET / HTTP/1.1\r\n"
        + H
        + b"Content-Length: 1\r\n"
        + TE
        + b"\r\n",
    ),
    # ---- slowloris: heads and bodies that never finish must time out (408, or a close before a request)
    Case("slow_connect_silent", b"", expect=(0,), within=3.0),
    Case("slow_head", b"GET / HTTP/1.1\r\n" + H + b"X-Slow: ", expect=(408,), drip=b"a", within=3.0),
    Case("slow_target", b"GET /", expect=(408,), drip=b"a", within=3.0),
    Case("slow_body_stalled", post(b"Content-Length: 100\r\n", b"x" * 10), expect=(408,), within=4.0),
    Case("slow_chunked_body_stalled", post(TE, b"64\r\nhello"), expect=(408,), within=4.0),
]


# --------------------------------------------------------------------------------------------- running
def split_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP responses in ``data`` (Content-Length framed; the last one takes the rest otherwise)."""
    out = []
    while data.startswith(b"HTTP/1."):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        size = int(headers.get("content-length", len(rest)))
        out.append((int(lines[0].split(" ", 2)[1]), headers, rest[:size]))
        data = rest[size:]
    return out


def exchange(port: int, case: Case) -> tuple[bytes, bool, float]:
    """Play ``case``: (everything received, whether the proxy closed the connection, seconds taken)."""
    start = time.monotonic()
    deadline = start + case.within
    received = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            if case.data:
                s.sendall(case.data)
            s.settimeout(0.1)
            i = 0
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except TimeoutError:
                    if case.drip:
                        s.sendall(case.drip[i % len(case.drip) : i % len(case.drip) + 1])
                        i += 1
                    elif not case.close and len(split_responses(received)) >= case.answers:
                        break
                    continue
                if not chunk:
                    closed = True
                    break
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            closed = True  # an RST after the answer (the proxy dropped what we still sent)
            s.settimeout(0.5)
            try:
                while chunk := s.recv(65536):
                    received += chunk
            except OSError:
                pass
    return received, closed, time.monotonic() - start


def check(port: int, case: Case) -> str | None:
    """Run one case; None when the proxy behaved, else what went wrong."""
    received, closed, took = exchange(port, case)
    responses = split_responses(received)
    first = responses[0][0] if responses else 0
    if first not in case.expect:
        return f"{case.name}: first answer {first or 'none'}, expected {case.expect}: {received[:160]!r}"
    if len(responses) != (case.answers if responses else 0):
        return f"{case.name}: {len(responses)} answers, expected {case.answers}: {received[:300]!r}"
    if case.close and not closed:
        return f"{case.name}: connection left open after {took:.1f} s"
    if took > case.within:
        return f"{case.name}: took {took:.1f} s (limit {case.within})"
    if any(status == 299 for status, _, _ in responses):
        return f"{case.name}: the smuggled request was answered"
    if case.line is not None and json.loads(responses[0][2]).get("request_line") != case.line:
        return f"{case.name}: the app saw {responses[0][2][:200]!r}, expected {case.line!r}"
    return None


def victim(port: int, marker: str) -> str | None:
    """A fresh visitor right after a case: it must get its own answer (no leftover bytes, proxy up)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(
                b"GET /headers?m=%s HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n" % marker.encode()
            )
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError as exc:
        return f"victim {marker}: {exc!r}"
    got = split_responses(data)
    want = f"GET /headers?m={marker} HTTP/1.1"
    if len(got) != 1 or got[0][0] != 200 or json.loads(got[0][2]).get("request_line") != want:
        return f"victim {marker}: got {data[:200]!r}"
    return None


class GoodClient(threading.Thread):
    """A well-behaved keep-alive client running alongside the attacks; each request carries its own marker and
    must come back with it. A connection the proxy closes while idle is simply reopened (as browsers do);
    anything else is a failure."""

    def __init__(self, port: int, name: str = "good") -> None:
        super().__init__(daemon=True)
        self.port = port
        self.name = name
        self.requests = 0
        self.reconnects = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        sock: socket.socket | None = None
        n = 0
        while not self.stop.is_set():
            n += 1
            marker = f"{self.name}-{n}"
            request = b"GET /headers?m=%s HTTP/1.1\r\nHost: s.test\r\n\r\n" % marker.encode()
            for attempt in (1, 2):
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                try:
                    sock.sendall(request)
                    answer = self._read(sock)
                except OSError as exc:
                    answer = None
                    if attempt == 2:
                        self.failures.append(f"{marker}: {exc!r}")
                if answer is None:  # closed before any byte of an answer: reconnect and send again
                    sock.close()
                    sock = None
                    self.reconnects += attempt == 1
                    continue
                status, body = answer
                want = f"GET /headers?m={marker} HTTP/1.1"
                if status != 200 or json.loads(body).get("request_line") != want:
                    self.failures.append(f"{marker}: {status} {body[:200]!r}")
                    sock.close()
                    sock = None
                break
            self.requests += 1
        if sock is not None:
            sock.close()

    @staticmethod
    def _read(sock: socket.socket) -> tuple[int, bytes] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                if data:
                    raise ConnectionError(f"closed mid-head: {data[:100]!r}")
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        size = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")[1:]
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            body += chunk
        if len(body) != size:
            raise ConnectionError(f"{len(body) - size} bytes past the answer: {body[size:][:100]!r}")
        return status, body


# ----------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def corpus_env() -> Iterator[tuple[Any, Any, GoodClient]]:
    from tests.support.proxy import HttpBackend, SyncProxy

    backend = HttpBackend("corpus")
    proxy = SyncProxy(Path(tempfile.mkdtemp(prefix="rivetr-corpus-")), **SETTINGS)
    proxy.set_route(HOST, backend.address)
    good = GoodClient(proxy.port)
    good.start()
    yield proxy, backend, good
    good.stop.set()
    good.join(10)
    proxy.close()
    backend.stop()


def test_corpus_is_large_and_named_uniquely():
    assert len(CORPUS) >= 80
    assert len({c.name for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_attack(corpus_env, case):
    proxy, _, good = corpus_env
    problem = check(proxy.port, case)
    assert problem is None, problem
    problem = victim(proxy.port, f"after-{case.name}")
    assert problem is None, problem
    assert not good.failures, good.failures


def test_well_behaved_client_saw_no_failure(corpus_env):
    proxy, _, good = corpus_env
    start = good.requests
    time.sleep(0.3)
    assert good.requests > start  # still being served, after the whole corpus
    assert good.failures == [], good.failures
    assert proxy.status()["ok"]
