"""The apprise notifier against a real HTTP receiver on loopback (apprise's ``json://`` webhook)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rivetr_notify_apprise.notifier import AppriseNotifier, NotificationFailed

from rivetr_core.plugins import RivetrPluginManager
from rivetr_core.types import RivetrEvent


class Receiver:
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
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


async def test_delivers_title_body_and_type(receiver: Receiver) -> None:
    event = RivetrEvent(
        type="deployment_succeeded",
        message="web is live",
        app_name="web",
        deployment_id="d1",
        level="success",
        data={"commit": "abc123"},
    )
    await AppriseNotifier().send(f"json://127.0.0.1:{receiver.port}/hook", event)
    assert len(receiver.requests) == 1
    path, payload = receiver.requests[0]
    assert path == "/hook"
    assert payload["title"] == "[Rivetr] web: deployment succeeded"
    assert "web is live" in payload["message"] and "commit: abc123" in payload["message"]
    assert payload["type"] == "success"


async def test_failed_delivery_raises_with_reason(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(NotificationFailed):
        await AppriseNotifier().send(
            f"json://127.0.0.1:{receiver.port}/hook", RivetrEvent(type="disk_warning")
        )
    receiver.server.shutdown()
    receiver.server.server_close()
    with pytest.raises(NotificationFailed, match=r"127\.0\.0\.1"):
        await AppriseNotifier(timeout=2).send(
            f"json://127.0.0.1:{receiver.port}/x", RivetrEvent(type="rollback")
        )


def test_validate_rejects_unknown_scheme() -> None:
    notifier = AppriseNotifier()
    assert notifier.validate("json://127.0.0.1:9/x") is None
    assert notifier.validate("nosuchscheme://x") is not None
    assert notifier.validate("not a url") is not None


def test_registered_through_entry_point() -> None:
    registration = RivetrPluginManager().notifiers()["apprise"]
    assert registration.factory.__module__ == "rivetr_notify_apprise.plugin"
