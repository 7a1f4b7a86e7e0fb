"""Notification channels API and delivery, against a real HTTP receiver reached through apprise ``json://``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from rivetr_core.contract import RivetrEvent
from tests.support import at_rest
from tests.support.json_receiver import JsonReceiver as Receiver
from tests.support.json_receiver import running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def fast_retries(api):  # type: ignore[no-untyped-def]
    api.ctx.services["notifications"].retry_delays = (0.05, 0.05)
    return api


async def test_channel_crud_masks_and_encrypts_url(api, receiver: Receiver) -> None:
    status, body = await api.post(
        "/api/notification-channels",
        json={"name": "ops", "url": receiver.url, "events": ["deployment_failed"]},
    )
    assert status == 201, body
    assert body["url"] == "json://***" and body["events"] == ["deployment_failed"]
    channel_id = body["id"]
    db_bytes = at_rest.stored_bytes(api.ctx)
    assert receiver.url.encode() not in db_bytes and b"127.0.0.1:" not in db_bytes

    status, listed = await api.get("/api/notification-channels")
    listed = listed["items"]
    assert status == 200 and [c["id"] for c in listed] == [channel_id] and listed[0]["url"] == "json://***"

    status, body = await api.put(
        f"/api/notification-channels/{channel_id}", json={"events": [], "name": "all"}
    )
    assert status == 200 and body["events"] == [] and body["name"] == "all"
    status, body = await api.delete(f"/api/notification-channels/{channel_id}")
    assert status == 204
    status, body = await api.get(f"/api/notification-channels/{channel_id}")
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "url": "json://127.0.0.1:9/x", "events": ["deployment_exploded"]}, "events"),
        ({"name": "x", "url": "nosuchscheme://token"}, "url"),
        ({"name": "x", "url": "not a url"}, "url"),
        ({"name": "", "url": "json://127.0.0.1:9/x"}, "name"),
        ({"name": "x", "url": "json://127.0.0.1:9/x", "notifier": "carrier-pigeon"}, "notifier"),
        ({"url": "json://127.0.0.1:9/x"}, "name"),
    ],
)
async def test_invalid_channel_is_422_naming_the_field(api, payload: dict, field: str) -> None:
    status, body = await api.post("/api/notification-channels", json=payload)
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == field
    assert (await api.get("/api/notification-channels"))[1] == {"items": [], "next": None}


async def test_duplicate_name_is_409(api, receiver: Receiver) -> None:
    assert (await api.post("/api/notification-channels", json={"name": "a", "url": receiver.url}))[0] == 201
    status, body = await api.post("/api/notification-channels", json={"name": "a", "url": receiver.url})
    assert status == 409 and body["error"]["details"]["field"] == "name"


async def test_event_delivered_only_to_subscribed_channels(api, receiver: Receiver) -> None:
    other = Receiver()
    try:
        await api.post("/api/notification-channels", json={"name": "all", "url": receiver.url, "events": []})
        await api.post(
            "/api/notification-channels",
            json={"name": "failures", "url": other.url, "events": ["deployment_failed"]},
        )
        api.ctx.emit(
            RivetrEvent(type="deployment_succeeded", app_name="web", message="web is live", level="success")
        )
        api.ctx.emit(
            RivetrEvent(type="deployment_failed", app_name="web", message="build failed", level="failure")
        )
        await api.ctx.services["notifications"].wait_idle()
        assert sorted(p["title"] for p in receiver.payloads) == [
            "[Rivetr] web: deployment failed",
            "[Rivetr] web: deployment succeeded",
        ]
        assert [p["type"] for p in other.payloads] == ["failure"]
    finally:
        other.close()


async def test_failing_channel_is_retried_recorded_and_never_blocks(fast_retries, receiver: Receiver) -> None:
    api = fast_retries
    receiver.status = 500
    _, channel = await api.post("/api/notification-channels", json={"name": "broken", "url": receiver.url})
    started = time.perf_counter()
    api.ctx.emit(RivetrEvent(type="deployment_failed", app_name="web"))
    assert time.perf_counter() - started < 0.05  # emit only enqueues
    await api.ctx.services["notifications"].wait_idle()
    assert len(receiver.payloads) == 3  # first try + 2 retries
    _, body = await api.get(f"/api/notification-channels/{channel['id']}")
    assert body["failures"] == 1 and body["total_failures"] == 1
    assert body["last_error"] and body["last_failure_at"]
    _, deliveries = await api.get(f"/api/notification-channels/{channel['id']}/deliveries")
    assert [(d["status"], d["attempts"]) for d in deliveries["items"]] == [("failed", 3)]

    receiver.status = 200  # recovers: the failure streak resets
    api.ctx.emit(RivetrEvent(type="rollback", app_name="web"))
    await api.ctx.services["notifications"].wait_idle()
    _, body = await api.get(f"/api/notification-channels/{channel['id']}")
    assert body["failures"] == 0 and body["total_failures"] == 1 and body["last_success_at"]


async def test_test_endpoint_reports_success_and_failure(api, receiver: Receiver) -> None:
    _, channel = await api.post("/api/notification-channels", json={"name": "t", "url": receiver.url})
    status, body = await api.post(f"/api/notification-channels/{channel['id']}/test")
    assert status == 200 and body == {"ok": True}
    assert receiver.payloads[-1]["title"] == "[Rivetr] test"
    receiver.status = 503
    status, body = await api.post(f"/api/notification-channels/{channel['id']}/test")
    assert status == 502 and body["error"]["code"] == "notification_failed"
    assert (await api.post("/api/notification-channels/nope/test"))[0] == 404


async def test_emit_from_a_thread_is_delivered(api, receiver: Receiver) -> None:
    await api.post("/api/notification-channels", json={"name": "t", "url": receiver.url})
    await asyncio.to_thread(api.ctx.emit, RivetrEvent(type="disk_warning", message="disk 91% full"))
    await asyncio.sleep(0.05)
    await api.ctx.services["notifications"].wait_idle()
    assert "disk 91% full" in receiver.payloads[0]["message"]


async def test_deliveries_cut_off_by_a_stop_are_closed_at_next_start(
    config_factory, receiver: Receiver
) -> None:
    from rivetr_core.app import create_app
    from tests.support.server import ApiClient

    config = config_factory()
    app = create_app(config)
    async with app.test_app():
        api = ApiClient(app)
        _, channel = await api.post("/api/notification-channels", json={"name": "slow", "url": receiver.url})
        await api.ctx.services["notifications"]._new_delivery(channel["id"], "deployment_failed")
    app = create_app(config)
    async with app.test_app():
        api = ApiClient(app)
        _, deliveries = await api.get(f"/api/notification-channels/{channel['id']}/deliveries")
        assert [(d["status"], d["error"][:11]) for d in deliveries["items"]] == [("failed", "interrupted")]
