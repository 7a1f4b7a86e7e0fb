"""An app's auto-deploy face through the real app and DB: webhook URLs only from a public address, the per-app
secret revealed only with ``secrets.reveal`` and regenerated (the old one stops verifying at once), and
``auto_deploy`` off leaving pushes alone. Deployments queued here fail at clone (``GIT_ALLOW_PROTOCOL=file``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support import at_rest
from tests.support.roles import member
from tests.support.server import ApiClient, api_on, make_config

ROOT = Path(__file__).resolve().parents[1]
PUSH = json.loads((ROOT / "plugins/git-github/tests/fixtures/github_push.json").read_text())
REPO = PUSH["repository"]["clone_url"]
BRANCH = PUSH["ref"].removeprefix("refs/heads/")


async def _app(api: ApiClient, name: str) -> str:
    status, app = await api.post(
        "/api/apps", json={"name": name, "git_url": REPO, "branch": BRANCH, "port": 8000}
    )
    assert status == 201, app
    return str(app["id"])


async def push(api: ApiClient, secret: str, delivery: str) -> tuple[int, Any]:
    # A head commit of its own per delivery: the same body twice is a replay (answered "duplicate").
    raw = json.dumps({**PUSH, "after": hashlib.sha1(delivery.encode()).hexdigest()}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }
    return await api.post("/webhooks/github", data=raw, headers=headers, auth=False)


@pytest.fixture
async def api(
    tmp_path: Path, fake_runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ApiClient]:
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    config = make_config(tmp_path / "data", server={"external_url": "https://rivetr.example.com/"})
    async with api_on(fake_runtime, config) as client:
        yield client


async def test_webhook_urls_come_from_external_url_only(api: ApiClient, tmp_path: Path) -> None:
    app_id = await _app(api, "hooked")
    status, info = await api.get(f"/api/apps/{app_id}/webhook")
    assert status == 200, info
    assert info["base_url"] == "https://rivetr.example.com" and info["hint"] is None
    assert info["provider"] == "github"  # from the repository's host
    urls = {u["provider"]: u for u in info["urls"]}
    assert urls["github"]["url"] == "https://rivetr.example.com/webhooks/github"
    assert "X-Hub-Signature-256" in urls["github"]["signature"]
    assert urls["gitlab"]["url"] == "https://rivetr.example.com/webhooks/gitlab"
    status, missing = await api.get("/api/apps/nope/webhook")
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_without_external_url_no_internal_address_is_offered(
    tmp_path: Path, fake_runtime: FakeRuntime
) -> None:
    async with api_on(fake_runtime, make_config(tmp_path / "other")) as api:
        app_id = await _app(api, "private")
        status, info = await api.get(f"/api/apps/{app_id}/webhook")
    assert status == 200, info
    assert info["base_url"] is None and all(u["url"] is None for u in info["urls"])
    assert "RIVETR_SERVER__EXTERNAL_URL" in info["hint"] and "external_url" in info["hint"]


async def test_regenerate_replaces_the_secret_and_only_revealers_read_it(api: ApiClient) -> None:
    app_id = await _app(api, "rotating")
    status, none = await api.get(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert status == 200 and none == {"value": None}
    status, first = await api.post(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert status == 200 and len(first["value"]) >= 32, first
    status, settings = await api.get(f"/api/apps/{app_id}/git-settings")
    assert settings["has_webhook_secret"] and "value" not in settings
    status, shown = await api.get(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert shown == {"value": first["value"]}

    status, body = await push(api, first["value"], "d-1")
    assert status == 202 and body["status"] == "deployed", body
    status, second = await api.post(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert second["value"] != first["value"]
    status, body = await push(api, first["value"], "d-2")
    assert status == 401 and body["error"]["code"] == "invalid_signature", body
    status, body = await push(api, second["value"], "d-3")
    assert status == 202, body

    # Stored encrypted: the secret's bytes are nowhere in the database files.
    raw = at_rest.stored_bytes(api.ctx)
    assert second["value"].encode() not in raw


async def test_reveal_needs_the_reveal_permission(api: ApiClient) -> None:
    app_id = await _app(api, "guarded")
    await api.post(f"/api/apps/{app_id}/git-settings/webhook-secret")
    developer = await member(api, None, "dev-user", "", server_role="member")
    status, body = await developer.get(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert status in (403, 404), body  # a member of no team does not even see the app
    admin = await member(api, None, "srv-admin", "", server_role="admin")
    status, body = await admin.get(f"/api/apps/{app_id}/git-settings/webhook-secret")
    assert status == 200 and body["value"], body


async def test_auto_deploy_off_leaves_pushes_alone(api: ApiClient) -> None:
    app_id = await _app(api, "manual")
    status, secret = await api.post(f"/api/apps/{app_id}/git-settings/webhook-secret")
    status, settings = await api.put(f"/api/apps/{app_id}/git-settings", json={"auto_deploy": False})
    assert status == 200 and settings["auto_deploy"] is False, settings
    status, body = await push(api, secret["value"], "off-1")
    assert status == 200 and body["status"] == "ignored", body
    assert body["reason"] == "auto-deploy is off for manual"
    status, deployments = await api.get(f"/api/apps/{app_id}/deployments")
    assert deployments["items"] == []
    status, body = await api.put(f"/api/apps/{app_id}/git-settings", json={"auto_deploy": None})
    assert status == 422, body
    status, settings = await api.put(f"/api/apps/{app_id}/git-settings", json={"auto_deploy": True})
    status, body = await push(api, secret["value"], "on-1")
    assert status == 202 and body["status"] == "deployed", body
