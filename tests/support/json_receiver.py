"""A tiny JSON webhook endpoint on loopback, the far end of apprise's ``json://`` notifications in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonReceiver:
    """Records every POST as ``(path, decoded JSON body)``; ``status`` is what it answers."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.path, json.loads(body)))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def payloads(self) -> list[dict]:
        return [payload for _, payload in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_receiver() -> Iterator[JsonReceiver]:
    """Body of a pytest fixture: a receiver, closed afterwards."""
    receiver = JsonReceiver()
    yield receiver
    receiver.close()
