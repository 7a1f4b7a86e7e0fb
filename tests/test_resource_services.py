"""Services behind the projects, SSH-key, account, notification and health handlers, called without a request.

* ``ProjectService`` / ``SshKeyService`` raise domain errors (a taken name, a project that still has apps, an
  unusable key, an unknown id) that the API maps to the same JSON it always answered.
* ``AccountError`` is a domain error with the status, code and field the API and the login form use.
* ``HealthService`` shares one check between concurrent callers and within its cache window.
* The OpenAPI document describes these resources' responses with their typed models, not untyped objects.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from tests.support.server import ApiClient


def _a_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


async def test_projects_service_rules_without_a_request(api: ApiClient) -> None:
    projects, apps = api.ctx.services.projects, api.ctx.services.apps
    shop = await projects.create("shop", "the shop")
    with pytest.raises(Conflict) as taken:
        await projects.create("shop")
    assert taken.value.status == 409 and taken.value.details == [
        {"field": "name", "message": "Already taken"}
    ]
    other = await projects.create("other")
    with pytest.raises(Conflict):
        await projects.update(other.id, {"name": "shop"})
    renamed, app_ids = await projects.update(other.id, {"name": "depot", "description": None})
    assert (renamed.name, renamed.description, app_ids) == ("depot", "", [])

    app, _ = await apps.create({"name": "web", "git_url": "https://example.com/a.git", "project_id": shop.id})
    assert (await projects.get(shop.id))[1] == [app.id]
    with pytest.raises(Conflict) as not_empty:
        await projects.delete(shop.id)
    assert not_empty.value.code == "project_not_empty" and not_empty.value.details == {"apps": 1}
    with pytest.raises(NotFound):
        await projects.get("nope")

    # The handler answers the service's errors in the API's one shape.
    status, body = await api.put(f"/api/projects/{other.id}", json={"name": "shop"})
    assert status == 409 and body["error"]["code"] == "conflict"
    assert body["error"]["details"] == [{"field": "name", "message": "Already taken"}]
    assert body["error"]["message"] == "name: A project named 'shop' already exists"


async def test_ssh_key_service_rules_without_a_request(api: ApiClient) -> None:
    keys = api.ctx.services.ssh_keys
    with pytest.raises(ValidationFailed) as bad:
        await keys.create("deploy", "not a key")
    assert bad.value.details[0]["field"] == "private_key"
    private = _a_private_key()
    row = await keys.create("deploy", private)
    assert row.public_key.startswith("ssh-ed25519 ") and row.fingerprint.startswith("SHA256:")
    assert private.strip() not in row.private_key_enc  # encrypted at rest
    assert api.ctx.secrets.decrypt(row.private_key_enc) == private.strip() + "\n"
    with pytest.raises(Conflict):
        await keys.create("deploy", private)
    await api.ctx.services.apps.create(
        {"name": "web", "git_url": "git@example.com:o/r.git", "ssh_key_id": row.id}
    )
    with pytest.raises(Conflict) as in_use:
        await keys.delete(row.id)
    assert in_use.value.code == "ssh_key_in_use"
    with pytest.raises(NotFound):
        await keys.delete("nope")
    status, body = await api.delete(f"/api/ssh-keys/{row.id}")
    assert status == 409 and body["error"]["code"] == "ssh_key_in_use"


async def test_account_errors_are_domain_errors(api: ApiClient) -> None:
    from rivetr_core.accounts.service import AccountError

    accounts = api.ctx.services.accounts
    result = await accounts.set_up("admin", "a long enough password")
    assert result.user.username == "admin" and result.session_id
    with pytest.raises(AccountError) as again:
        await accounts.create_first_user("second", "a long enough password")
    assert isinstance(again.value, RivetrError)
    assert (again.value.status, again.value.code) == (409, "already_set_up")
    with pytest.raises(AccountError) as weak:
        await accounts.create_user("bob", "short")
    assert (weak.value.status, weak.value.code, weak.value.field) == (422, "validation_error", "password")
    assert weak.value.message.startswith("password: ") and not weak.value.reason.startswith("password")
    with pytest.raises(AccountError) as wrong:
        await accounts.login("admin", "not the password")
    assert (wrong.value.status, wrong.value.code) == (401, "invalid_credentials")
    status, body = await api.post(
        "/api/auth/login", json={"username": "admin", "password": "nope"}, auth=False
    )
    assert status == 401 and body["error"]["code"] == "invalid_credentials"


async def test_health_checks_are_shared_within_the_window(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rivetr_core.services import health as health_module

    service = api.ctx.services.health
    calls = 0
    real = service._check

    async def counted() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return await real()

    monkeypatch.setattr(service, "_check", counted)
    first, second = await asyncio.gather(service.check(), service.check())
    assert first is second and calls == 1
    assert first["database"] == "ok" and first["status"] in ("ok", "degraded")
    assert (await service.check()) is first and calls == 1  # within the window: no new check
    monkeypatch.setattr(health_module, "CACHE_SECONDS", 0.0)
    await asyncio.sleep(0.01)
    assert (await service.check()) is not first and calls == 2


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/api/projects", "ProjectOut"),
        ("/api/ssh-keys", "SshKeyOut"),
        ("/api/tokens", "TokenOut"),
        ("/api/auth/sessions", "SessionOut"),
        ("/api/notification-channels", "ChannelOut"),
        ("/api/notification-channels/{channel_id}/deliveries", "DeliveryOut"),
        ("/api/git-providers", "GitAccountOut"),
        ("/api/git-providers/available", "GitProviderOut"),
        ("/api/git-providers/{account_id}/repos", "GitRepoOut"),
        ("/api/git-providers/{account_id}/branches", "GitBranchOut"),
        ("/api/ssh-known-hosts", "KnownHostOut"),
        ("/api/audit", "AuditEntryOut"),
        ("/api/plugins", "PluginOut"),
    ],
)
async def test_lists_document_their_typed_items(api: ApiClient, path: str, model: str) -> None:
    _status, spec = await api.get("/openapi.json")
    page = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{model}"}
    assert spec["components"]["schemas"][model]["properties"], model
