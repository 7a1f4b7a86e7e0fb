"""Large bodies stream through the proxy with flat memory (200 MB up and down)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

SIZE = 200 * 1024 * 1024


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise KeyError("VmHWM")


@pytest.mark.slow
def test_200mb_upload_and_download_with_flat_memory(proxy_factory, backend_factory):
    b = backend_factory("big")
    p = proxy_factory()
    p.set_route("big.test", b.address)
    (worker,) = p.worker_pids()
    baseline = peak_rss_kb(worker)
    block = b"u" * (1024 * 1024)

    # Content-Length upload over a raw socket (the client writes as fast as it can).
    with socket.create_connection(("127.0.0.1", p.port), timeout=60) as s:
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: big.test\r\nContent-Length: %d\r\n\r\n" % SIZE)
        for _ in range(SIZE // len(block)):
            s.sendall(block)
        resp = b""
        while not resp.endswith(b"}"):
            resp += s.recv(65536)
    assert resp.startswith(b"HTTP/1.1 200") and b'"bytes": %d' % SIZE in resp

    with httpx.Client(base_url=f"http://127.0.0.1:{p.port}", headers={"Host": "big.test"}, timeout=60) as c:
        # Chunked upload.
        r = c.post("/upload", content=(block for _ in range(SIZE // len(block))))
        assert r.json() == {"bytes": SIZE, "chunked": True}
        # Content-Length and chunked downloads, read slowly enough that the proxy must apply back-pressure.
        for chunked in ("0", "1"):
            n = 0
            with c.stream("GET", "/download", params={"size": SIZE, "chunked": chunked}) as r:
                assert r.status_code == 200, f"chunked={chunked}; proxy log:\n{p.log()}"
                for part in r.iter_raw(1 << 20):
                    n += len(part)
            assert n == SIZE
    growth_mb = (peak_rss_kb(worker) - baseline) / 1024
    print(f"worker peak RSS growth {growth_mb:.1f} MB (baseline {baseline} kB)")
    assert growth_mb < 40, f"worker peak RSS grew by {growth_mb:.0f} MB while streaming 4 x 200 MB"


def _read_response(s: socket.socket, pace: float) -> bytes:
    """One Content-Length response, its body read 64 KB at a time with ``pace`` seconds between reads (a slow
    client); returns the status line."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        assert chunk, "connection closed before the response head"
        head += chunk
    head, _, body = head.partition(b"\r\n\r\n")
    length = next(
        int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
    )
    left = length - len(body)
    while left > 0:
        time.sleep(pace)
        chunk = s.recv(min(left, 65536))
        assert chunk, "connection closed mid-body"
        left -= len(chunk)
    return head.split(b"\r\n", 1)[0]


def test_big_responses_to_a_slow_client_reuse_the_pooled_upstream(proxy_factory, backend_factory):
    """End to end over sockets: a slow reader with a small receive buffer makes the proxy pause reading from
    the upstream again and again, and each next request on the same client connection reuses the pooled
    upstream connection. (Whether the very last write pauses is down to timing; test_backpressure.py pins
    that case down deterministically.)"""
    b = backend_factory("paced")
    p = proxy_factory(upstream_read_timeout=3)
    p.set_route("paced.test", b.address)
    size = 2 * 1024 * 1024
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # small: the proxy's writes must queue
        s.settimeout(30)
        s.connect(("127.0.0.1", p.port))
        statuses = []
        for _ in range(4):
            s.sendall(b"GET /download?size=%d HTTP/1.1\r\nHost: paced.test\r\n\r\n" % size)
            statuses.append(_read_response(s, pace=0.005))
    assert statuses == [b"HTTP/1.1 200 OK"] * 4, f"{statuses}; proxy log:\n{p.log()}"
