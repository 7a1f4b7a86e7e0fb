"""Access logs and per-route latency histograms through a real proxy process, real backends and real sockets:
the fields of a JSON line (query strings stripped unless asked for, the client behind a trusted proxy), the
combined format, rotation at the size limit, deterministic sampling that keeps every error, lines buffered at
exit, and the histogram the master aggregates for ``status()["route_latency"]``."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.proxy import echoed_headers, exited, free_port, http_get, parse_response, wait_until


def raw_get(port: int, host: str, path: str, **headers: str) -> bytes:
    """One request on a fresh connection; every byte of the response as received."""
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def log_file(p: Any, index: int = 0) -> Path:
    return Path(p.state_dir) / f"access-{index}.log"


def lines_of(path: Path, n: int) -> list[str]:
    """The first ``n`` lines of ``path`` once it has them (lines reach the file within about a second)."""
    got = wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= n and path)
    return got.read_text().splitlines()


def test_json_lines_carry_the_request_fields(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True)
    p.set_route("a.test", b.address)
    raw = raw_get(
        p.port, "a.test", "/headers?token=s3cret&x=1", User_Agent='curl/8 "quoted"', Referer="https://r.test/"
    )
    status, _, body = parse_response(raw)
    assert status == 200
    rid = echoed_headers(body)["x-request-id"]
    assert http_get(p.port, "nope.test", "/missing?k=v")[0] == 404
    first, second = (json.loads(x) for x in lines_of(log_file(p), 2))
    assert set(first) == {
        "time", "client", "method", "host", "path", "status", "bytes", "duration_ms", "upstream",
        "upstream_ms", "request_id", "user_agent", "referer",
    }  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first["client"] == "127.0.0.1"
    assert (first["method"], first["host"], first["path"], first["status"]) == (
        "GET",
        "a.test",
        "/headers",
        200,
    )
    assert first["bytes"] == len(raw)  # every byte the client received, head included
    assert first["upstream"] == b.address
    assert 0 <= first["upstream_ms"] <= first["duration_ms"]
    assert first["request_id"] == rid  # the id the app saw, so both logs join up
    assert first["user_agent"] == 'curl/8 "quoted"'
    assert first["referer"] == "https://r.test/"
    assert "s3cret" not in log_file(p).read_text()  # query strings stay out by default
    # The proxy's own answer: no upstream, path without its query, the 404's bytes.
    assert (second["host"], second["path"], second["status"]) == ("nope.test", "/missing", 404)
    assert second["upstream"] is None and second["upstream_ms"] is None
    assert second["bytes"] > 0


def test_query_kept_when_asked_and_client_behind_a_trusted_proxy(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True, access_log_query=True, trusted_proxies=["127.0.0.1"])
    p.set_route("a.test", b.address)
    # The load balancer in front (127.0.0.1, trusted) says who the client is; a forged hop before it is not it.
    assert http_get(p.port, "a.test", "/?page=2", X_Forwarded_For="10.9.9.9, 203.0.113.7")[0] == 200
    (line,) = (json.loads(x) for x in lines_of(log_file(p), 1))
    assert line["path"] == "/?page=2"
    assert line["client"] == "203.0.113.7"


def test_combined_format(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True, access_log_format="combined")
    p.set_route("a.test", b.address)
    raw = raw_get(p.port, "a.test", "/status?code=201", User_Agent="agent/1", Referer="https://ref.test/x")
    (line,) = lines_of(log_file(p), 1)
    m = re.fullmatch(
        r'127\.0\.0\.1 - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "GET /status HTTP/1\.1" 201 (\d+) '
        r'"https://ref\.test/x" "agent/1"',
        line,
    )
    assert m, line
    assert int(m.group(2)) == len(raw)


def test_rotation_keeps_n_files_under_the_limit(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True, access_log_max_bytes=4096, access_log_keep=2)
    p.set_route("a.test", b.address)
    for i in range(120):  # about 300 bytes a line: several rotations
        assert http_get(p.port, "a.test", f"/n{i:04d}")[0] == 200
    path = log_file(p)
    wait_until(lambda: path.exists() and "/n0119" in path.read_text())
    names = sorted(f.name for f in path.parent.glob("access-0.log*"))
    assert names == ["access-0.log", "access-0.log.1", "access-0.log.2"]
    for f in path.parent.glob("access-0.log*"):
        assert 0 < f.stat().st_size <= 4096
    # The newest lines are in the live file, the ones just before in .1, in order and whole.
    older = (path.parent / "access-0.log.1").read_text().splitlines()
    newer = path.read_text().splitlines()
    paths = [json.loads(x)["path"] for x in older + newer]
    assert paths == [f"/n{i:04d}" for i in range(120 - len(paths), 120)]


def test_sampling_logs_a_share_of_successes_and_every_error(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True, access_log_sample=0.1)
    p.set_route("a.test", b.address)
    for i in range(100):
        assert http_get(p.port, "a.test", f"/ok{i}")[0] == 200
    for _ in range(7):
        assert http_get(p.port, "a.test", "/status?code=500")[0] == 500
    assert http_get(p.port, "a.test", "/last")[0] == 200
    path = log_file(p)
    wait_until(lambda: (path.exists() and "/last" in path.read_text()) or None)
    statuses = [json.loads(x)["status"] for x in path.read_text().splitlines()]
    assert statuses.count(500) == 7
    assert statuses.count(200) == 10  # a credit counter: exactly one in ten, not a coin flip


def test_buffered_lines_reach_the_file_when_the_worker_exits(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True)
    p.set_route("a.test", b.address)
    for i in range(20):
        assert http_get(p.port, "a.test", f"/x{i}")[0] == 200
    pids = p.worker_pids()
    p.call("shutdown")  # at once: well within the 1-second flush timer, the lines are still in memory
    wait_until(lambda: all(exited(pid) for pid in pids))
    assert len(log_file(p).read_text().splitlines()) == 20


def test_no_file_without_access_log(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1)
    p.set_route("a.test", b.address)
    assert http_get(p.port, "a.test")[0] == 200
    assert not list(Path(p.state_dir).glob("access-*.log"))


def test_latency_histograms_per_route_and_status_class(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=2, upstream_connect_timeout=1)
    p.set_route("a.test", b.address)
    p.set_route("refused.test", f"127.0.0.1:{free_port()}")
    for _ in range(6):
        assert http_get(p.port, "a.test")[0] == 200
    for _ in range(3):
        assert http_get(p.port, "a.test", "/status?code=404")[0] == 404
    assert http_get(p.port, "a.test", "/sleep?s=0.3")[0] == 200
    assert http_get(p.port, "refused.test")[0] == 502
    lat = p.status()["route_latency"]
    bounds = lat["bounds"]
    assert bounds[0] == 0.001 and bounds[-1] == 10.0
    a = lat["routes"]["a.test"]
    assert set(a) == {"2xx", "4xx"}
    assert a["2xx"]["count"] == 7 and a["4xx"]["count"] == 3
    for series in a.values():
        assert len(series["buckets"]) == len(bounds) + 1
        assert series["buckets"] == sorted(series["buckets"])  # cumulative
        assert series["buckets"][-1] == series["count"]
    # The slow request is above 0.25 s, the others below it.
    at_quarter = a["2xx"]["buckets"][bounds.index(0.25)]
    assert at_quarter == 6
    assert a["2xx"]["sum"] >= 0.3
    assert lat["routes"]["refused.test"]["5xx"]["count"] == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")
def test_http2_requests_are_logged_and_timed(proxy_factory, backend_factory):
    b = backend_factory("a")
    p = proxy_factory(workers=1, access_log=True)
    p.set_route("h2.test", b.address)
    r = subprocess.run(
        ["curl", "-sk", "--http2", "--resolve", f"h2.test:{p.https_port}:127.0.0.1", "-A", "curl-h2",
         "-o", "/dev/null", "-w", "%{http_version}", f"https://h2.test:{p.https_port}/status?code=201&t=x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.stdout == "2", r.stderr
    (line,) = (json.loads(x) for x in lines_of(log_file(p), 1))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/status", 201)
    assert line["host"] == f"h2.test:{p.https_port}"  # as the client sent it (:authority)
    assert line["user_agent"] == "curl-h2" and line["upstream"] == b.address and line["request_id"]
    assert p.status()["route_latency"]["routes"]["h2.test"]["2xx"]["count"] == 1


def test_an_unwritable_log_dir_leaves_the_proxy_serving(proxy_factory, backend_factory, tmp_path):
    b = backend_factory("a")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")  # a directory can't be made under a file, even by root
    p = proxy_factory(workers=1, access_log=True, access_log_dir=str(blocked / "logs"))
    p.set_route("a.test", b.address)
    for _ in range(3):
        assert http_get(p.port, "a.test")[0] == 200
    assert "access log off" in p.log()
