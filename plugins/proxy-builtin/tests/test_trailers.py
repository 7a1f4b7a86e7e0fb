"""Trailer fields of chunked request bodies reach the upstream (HTTP/1.1 → HTTP/1.1), byte for byte as framed
by the proxy, while routing, forwarding and hop-by-hop fields sent as trailers are dropped (RFC 9110 §6.5.1)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from tests.support.proxy import free_port, parse_response


class RawRecorder:
    """A one-request-per-connection HTTP backend that keeps the raw bytes of each request it receives (up to the
    end of a chunked body, trailers included) and answers 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                # A chunked body ends with the last chunk, its trailer section and an empty line.
                while b"\r\n0\r\n" not in data or not data.endswith(b"\r\n\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def stop(self) -> None:
        self.sock.close()


def exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_chunked_request_trailers_reach_the_upstream(proxy_factory: Any) -> None:
    backend = RawRecorder()
    try:
        proxy = proxy_factory()
        proxy.set_route("trailers.test", backend.address)
        request = (
            b"POST /upload HTTP/1.1\r\nHost: trailers.test\r\nTransfer-Encoding: chunked\r\n"
            b"Trailer: X-Checksum, X-Count\r\nConnection: close\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n"
            b"0\r\nX-Checksum: sha256=abc123\r\nX-Count: 2\r\n"
            # Routing, forwarding and hop-by-hop fields are not allowed as trailers (the proxy's own or the
            # head's business): never passed on. (llhttp itself refuses framing fields there with a 400.)
            b"Host: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: x-count\r\n\r\n"
        )
        status, _, body = parse_response(exchange(proxy.port, request))
        assert (status, body) == (200, b"ok")
        assert len(backend.requests) == 1
        raw = backend.requests[0]
        head, _, chunks = raw.partition(b"\r\n\r\n")
        assert b"\r\nTrailer: X-Checksum, X-Count" in head + b"\r\n"  # the announcement travels with them
        assert chunks == b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: sha256=abc123\r\nX-Count: 2\r\n\r\n"
    finally:
        backend.stop()


def test_chunked_request_without_trailers_ends_with_the_last_chunk(proxy_factory: Any) -> None:
    backend = RawRecorder()
    try:
        proxy = proxy_factory()
        proxy.set_route("trailers.test", backend.address)
        request = (
            b"POST /upload HTTP/1.1\r\nHost: trailers.test\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        )
        status, _, _ = parse_response(exchange(proxy.port, request))
        assert status == 200
        assert backend.requests[0].partition(b"\r\n\r\n")[2] == b"3\r\nabc\r\n0\r\n\r\n"
    finally:
        backend.stop()
