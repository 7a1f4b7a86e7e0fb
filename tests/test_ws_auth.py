"""WebSocket credentials never ride in the URL (issue 14 hole 10): no ``?token=`` (URLs land in access logs,
proxy logs and browser history); the token goes in the ``Authorization`` header or, where a client cannot set
headers (browsers), in the subprotocol list as ``rivetr.bearer.<token>`` next to ``rivetr.v1``, which the server
echoes. Dashboard sessions prove themselves with ``rivetr.csrf.<csrf token>`` the same way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rivetr_core.accounts.web import SESSION_COOKIE
from tests.support.server import ADMIN_TOKEN, ApiClient, ServerProcess, websocket_outcome

# Quart's test client ignores its own ``subprotocols`` argument: the offer goes into the ASGI scope directly.
PATH = "/api/deployments/nope/logs/stream"  # authenticated: closed 4404; unauthenticated: refused 401


async def test_query_token_is_refused(api: ApiClient) -> None:
    outcome = await websocket_outcome(api.client, PATH, query_string={"token": ADMIN_TOKEN})
    assert outcome == "rejected 401", outcome


async def test_bearer_subprotocol_and_header_are_accepted(api: ApiClient) -> None:
    protocols = ["rivetr.v1", f"rivetr.bearer.{ADMIN_TOKEN}"]
    assert await websocket_outcome(api.client, PATH, scope_base={"subprotocols": protocols}) == "closed 4404"
    header = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert await websocket_outcome(api.client, PATH, headers=header) == "closed 4404"
    wrong = ["rivetr.v1", "rivetr.bearer.wrong"]
    assert await websocket_outcome(api.client, PATH, scope_base={"subprotocols": wrong}) == "rejected 401"


async def test_session_proves_itself_in_the_subprotocol_not_the_query(api: ApiClient) -> None:
    status, body = await api.post(
        "/api/auth/setup", json={"username": "alice", "password": "a long enough password"}
    )
    assert status in (200, 201), body
    raw = next(c.value for c in api.client.cookie_jar if c.name == SESSION_COOKIE)
    api.client.cookie_jar.clear()
    headers = {"Cookie": f"{SESSION_COOKIE}={raw}", "Host": "localhost", "Origin": "http://localhost"}
    csrf = body["csrf_token"]
    in_query = await websocket_outcome(api.client, PATH, headers=headers, query_string={"csrf": csrf})
    assert in_query == "rejected 401", in_query
    good = ["rivetr.v1", f"rivetr.csrf.{csrf}"]
    assert (
        await websocket_outcome(api.client, PATH, headers=headers, scope_base={"subprotocols": good})
        == "closed 4404"
    )
    cross_site = {**headers, "Origin": "https://evil.example"}
    assert (
        await websocket_outcome(api.client, PATH, headers=cross_site, scope_base={"subprotocols": good})
        == "rejected 401"
    )


def test_real_handshake_echoes_the_protocol(rivetr_server: Any) -> None:
    """A browser drops a WebSocket whose answer names no protocol when it offered some: check the real
    handshake over a socket (Hypercorn + the websockets client) echoes ``rivetr.v1``, never the credential."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server: ServerProcess = rivetr_server()
    ws_url = server.url.replace("http://", "ws://")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        setup = api.post("/api/auth/setup", json={"username": "alice", "password": "a long enough password"})
        assert setup.status_code in (200, 201), setup.text
        cookie = setup.cookies[SESSION_COOKIE]
    csrf = setup.json()["csrf_token"]
    browser = {"Cookie": f"{SESSION_COOKIE}={cookie}", "Origin": server.url}
    offer: Any = ["rivetr.v1", f"rivetr.csrf.{csrf}"]
    with connect(f"{ws_url}/ws/events", subprotocols=offer, additional_headers=browser, proxy=None) as ws:
        assert ws.subprotocol == "rivetr.v1"
        assert ws.response is not None and csrf not in str(ws.response.headers)
    with pytest.raises(InvalidStatus):  # the old way: the CSRF token in the URL
        connect(f"{ws_url}/ws/events?csrf={csrf}", additional_headers=browser, proxy=None)
    # API streams: the bearer subprotocol gets past the guard (the handler then refuses the unknown
    # deployment: 403 at the handshake), ?token= does not (401, and the answer says what to do instead).
    url = f"{ws_url}/api/deployments/nope/logs/stream"
    offer = ["rivetr.v1", f"rivetr.bearer.{server.token}"]
    with pytest.raises(InvalidStatus) as handler_refused:
        connect(url, subprotocols=offer, proxy=None)
    assert handler_refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}?token={server.token}", proxy=None)
    assert refused.value.response.status_code == 401
    assert b"?token=" in refused.value.response.body
