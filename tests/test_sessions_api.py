"""Own sessions: the list marks the current one and names the device, revoking one or all others, and what server
admins may do beyond their own (``?all=true``, any session) — through the real app and database."""

from __future__ import annotations

import pytest

from rivetr_core.accounts.devices import device_name
from rivetr_core.accounts.service import AccountService
from tests.support.server import ApiClient
from tests.test_accounts import PASSWORD, setup_admin

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (FIREFOX, "Firefox on Linux"),
        (IPHONE, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("rivetr-cli", "Rivetr CLI"),
        ("curl/8.5.0", "curl"),
        (None, "unknown device"),
        ("SomeBot/1.0", "SomeBot/1.0"),
    ],
)
def test_device_names_are_short_and_readable(agent: str | None, device: str) -> None:
    assert device_name(agent) == device


async def _users(api: ApiClient) -> tuple[AccountService, dict[str, str]]:
    """alice (the first user, a server owner) logged in through the API; bob, a member without a server role."""
    body = await setup_admin(api)
    service: AccountService = api.ctx.services["accounts"]
    await service.create_user("bob", PASSWORD, role="member")
    return service, {"X-CSRF-Token": body["csrf_token"]}


async def test_own_sessions_are_listed_with_device_and_current(api: ApiClient) -> None:
    service, alice = await _users(api)
    alice_user = await service.get_user_by_name("alice")
    phone = await service.open_session(alice_user, ip="203.0.113.7", user_agent=IPHONE)
    await service.open_session(await service.get_user_by_name("bob"), user_agent=FIREFOX)

    status, body = await api.get("/api/auth/sessions", auth=False, headers=alice)
    assert status == 200
    rows = [(s["username"], s["device"], s["current"]) for s in body["items"]]
    assert rows == [
        ("alice", "Safari on iPhone", False),
        ("alice", "Quart", True),
    ]  # not bob's (Quart: the test client)
    assert body["items"][0]["id"] == phone.session.id and body["items"][0]["ip"] == "203.0.113.7"
    assert {"created_at", "last_seen_at", "expires_at"} <= set(body["items"][0])

    # ?all=true: every user's, for a server owner/admin (alice is the server owner; so is the admin token).
    status, body = await api.get("/api/auth/sessions?all=true", auth=False, headers=alice)
    assert sorted(s["username"] for s in body["items"]) == ["alice", "alice", "bob"]
    status, body = await api.get("/api/auth/sessions")  # the admin token has no sessions of its own
    assert status == 200 and body["items"] == []
    assert len((await api.get("/api/auth/sessions?all=true"))[1]["items"]) == 3


async def test_a_member_sees_and_ends_only_their_own_sessions(api: ApiClient) -> None:
    service, _alice = await _users(api)
    alice_other = await service.open_session(await service.get_user_by_name("alice"), user_agent=FIREFOX)
    status, body = await api.post(
        "/api/auth/login", auth=False, json={"username": "bob", "password": PASSWORD}
    )
    assert status == 200
    bob = {"X-CSRF-Token": body["csrf_token"]}
    status, body = await api.get("/api/auth/sessions?all=true", auth=False, headers=bob)
    assert status == 200 and [s["username"] for s in body["items"]] == ["bob"]  # no server role: own only
    status, body = await api.delete(f"/api/auth/sessions/{alice_other.session.id}", auth=False, headers=bob)
    assert status == 404  # someone else's session is not bob's to see or end
    assert await service.session_for(alice_other.session_id) is not None


async def test_server_admin_ends_anyones_session(api: ApiClient) -> None:
    service, alice = await _users(api)
    bobs = await service.open_session(await service.get_user_by_name("bob"), user_agent=FIREFOX)
    status, _ = await api.delete(f"/api/auth/sessions/{bobs.session.id}", auth=False, headers=alice)
    assert status == 204
    assert await service.session_for(bobs.session_id) is None


async def test_revoke_all_others_keeps_the_current_session(api: ApiClient) -> None:
    service, alice = await _users(api)
    alice_user = await service.get_user_by_name("alice")
    others = [await service.open_session(alice_user, user_agent=agent) for agent in (FIREFOX, IPHONE)]
    bobs = await service.open_session(await service.get_user_by_name("bob"))

    status, body = await api.delete("/api/auth/sessions", auth=False, headers=alice)
    assert status == 200 and body == {"ended": 2}
    for other in others:
        assert await service.session_for(other.session_id) is None
    assert await service.session_for(bobs.session_id) is not None  # someone else's stay
    status, body = await api.get("/api/auth/sessions", auth=False, headers=alice)
    assert status == 200 and [s["current"] for s in body["items"]] == [True]  # still logged in here

    status, body = await api.delete("/api/auth/sessions")  # the admin token has no sessions
    assert status == 403
