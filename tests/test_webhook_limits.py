"""Webhook body limits over real sockets: a real ``rivetr serve`` (Hypercorn), raw HTTP/1.1 requests.

``[webhooks] max_body_bytes`` (default 1 MiB) must hold while the body is read, whatever the framing: a
``Content-Length`` above it is refused before any of the body is sent, a chunked body as soon as it passes the
limit, and a ``Content-Length`` smaller than what follows frames only that many bytes. Nothing of a refused
body is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess, start_server

SECRET = "limits-secret-123"
LIMIT = 1024 * 1024  # the default
PUSH = Path(__file__).resolve().parents[1] / "plugins/git-github/tests/fixtures/github_push.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("webhook-limits") / "data", {"RIVETR_WEBHOOKS__GITHUB_SECRET": SECRET}
    )
    try:
        yield proc
    finally:
        proc.stop()


def signed_body(size: int) -> tuple[bytes, dict[str, str]]:
    """A GitHub push of exactly ``size`` bytes (JSON padded with a field), validly signed."""
    payload = json.loads(PUSH.read_text())
    payload["repository"]["full_name"] = "nobody/uses-this"
    payload["padding"] = ""
    base = len(json.dumps(payload).encode())
    payload["padding"] = "p" * (size - base)
    raw = json.dumps(payload).encode()
    assert len(raw) == size
    signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": hashlib.md5(raw).hexdigest(),
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


def head(port: int, headers: dict[str, str]) -> bytes:
    lines = ["POST /webhooks/github HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(raw: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(raw), size):
        part = raw[i : i + size]
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def exchange(port: int, request_head: bytes, body: Iterable[bytes], timeout: float = 20) -> tuple[int, Any]:
    """Send the head, then the body parts from a thread (the server may answer, and stop reading, before the
    body is done), and read one response. Returns (status, parsed JSON body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(request_head)

    def pump() -> None:
        try:
            for part in body:
                sock.sendall(part)
        except OSError:
            pass  # the server answered and closed: the rest of the body is not wanted

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    data = b""
    try:
        while True:
            if b"\r\n\r\n" in data:
                top, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in top.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    status = int(top.split(b" ", 2)[1])
                    if status == 413:
                        # The server must close, not wait for (or drain) the rest of a refused body.
                        assert b"connection: close" in top.lower(), top
                        try:
                            assert sock.recv(65536) == b"", "the server kept the connection open"
                        except ConnectionResetError:
                            pass  # closed with the unread body still arriving: a reset, also closed
                    return status, json.loads(rest[:length]) if length else None
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a full response: {data[:300]!r}")
            data += chunk
    finally:
        sock.close()
        sender.join(5)


def events(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get("/api/webhook-events", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def assert_413(status: int, body: Any) -> None:
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"]["max_body_bytes"] == LIMIT


def test_content_length_above_the_limit_is_refused_before_the_body_is_sent(server: ServerProcess) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    raw, headers = signed_body(2 * LIMIT)
    before = events(server)
    started = time.monotonic()
    # Only the head goes out: the answer must not wait for a body it will never read.
    status, body = exchange(port, head(port, {**headers, "Content-Length": str(len(raw))}), [], timeout=20)
    assert_413(status, body)
    assert time.monotonic() - started < 20  # the old code waited for the body (Quart gives up after 60 s)
    status, body = exchange(port, head(port, {**headers, "Content-Length": str(len(raw))}), [raw])
    assert_413(status, body)
    assert events(server) == before


def test_chunked_body_above_the_limit_is_refused_while_reading(server: ServerProcess) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    before = events(server)
    raw, headers = signed_body(LIMIT + 1)
    status, body = exchange(port, head(port, {**headers, "Transfer-Encoding": "chunked"}), chunked(raw))
    assert_413(status, body)

    # A sender that never stops: refused once the limit passes, long before this generator runs dry.
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        part = b"x" * 65536
        while sent < 64 * LIMIT:
            sent += len(part)
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"

    status, body = exchange(port, head(port, {**headers, "Transfer-Encoding": "chunked"}), endless())
    assert_413(status, body)
    assert sent < 32 * LIMIT, sent
    assert events(server) == before


def test_body_at_the_limit_is_accepted(server: ServerProcess) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    raw, headers = signed_body(LIMIT)
    status, body = exchange(port, head(port, {**headers, "Transfer-Encoding": "chunked"}), chunked(raw))
    assert status == 200 and body["status"] == "ignored", body  # verified; no app uses nobody/uses-this
    latest = events(server)[0]
    assert latest["outcome"] == "ignored" and latest["body_sha256"] == hashlib.sha256(raw).hexdigest()


def test_content_length_smaller_than_the_body_frames_only_that_many_bytes(server: ServerProcess) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    raw, headers = signed_body(2 * LIMIT)
    before = len(events(server))
    # The declared 100 bytes are the body (the signature then fails); what follows is not a body at all.
    status, body = exchange(port, head(port, {**headers, "Content-Length": "100"}), [raw])
    assert status == 401, body
    after = events(server)
    assert len(after) == before + 1
    rejected = after[0]
    assert rejected["outcome"] == "rejected" and rejected["repository"] is None
    assert rejected["remote_addr"] == "127.0.0.1"
    assert httpx.get(server.url + "/health", timeout=20).status_code in (200, 503)  # still serving


def test_cli_lists_deliveries_with_digest_and_reason(server: ServerProcess, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli

    port = int(server.url.rsplit(":", 1)[1])
    raw, headers = signed_body(4096)
    status, body = exchange(port, head(port, {**headers, "Content-Length": str(len(raw))}), [raw])
    assert status == 200, body
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Length": str(len(raw))}
    status, body = exchange(port, head(port, forged), [raw])
    assert status == 401, body
    env = {"RIVETR_URL": server.url, "RIVETR_TOKEN": server.token, "RIVETR_LOGIN_FILE": str(tmp_path / "l")}
    result = CliRunner().invoke(cli, ["webhooks", "events", "--limit", "2"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header, rejected, verified, *_ = result.stdout.splitlines()
    assert header.split() == [
        "RECEIVED", "PROVIDER", "EVENT", "OUTCOME", "STATUS", "DELIVERY", "SHA256", "FROM", "REASON"
    ]  # fmt: skip
    assert "rejected" in rejected and "invalid or missing webhook signature" in rejected
    assert hashlib.sha256(raw).hexdigest()[:12] in verified and "ignored" in verified
    result = CliRunner().invoke(
        cli, ["webhooks", "events", "--outcome", "rejected", "--json"], env=env, catch_exceptions=False
    )
    rows = json.loads(result.stdout)
    assert rows and {r["outcome"] for r in rows} == {"rejected"}
    assert all(r["repository"] is None and r["body_sha256"] is None for r in rows)
