"""The apprise notifier against a real HTTP receiver on loopback (apprise's ``json://`` webhook)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rivetr_notify_apprise.notifier import AppriseNotifier, NotificationFailed

from rivetr_core.contract import RivetrEvent
from rivetr_core.plugins import RivetrPluginManager
from tests.support.json_receiver import JsonReceiver as Receiver
from tests.support.json_receiver import running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


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
    receiver.close()
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
