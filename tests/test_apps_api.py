"""Apps, projects, env vars and SSH keys through the REST API (in-process app, real SQLite file)."""

from __future__ import annotations

import pytest

from tests.support import at_rest
from tests.support.server import ApiClient

GOOD = {"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}


def _field(body: dict) -> str | None:
    return body["error"]["details"][0]["field"]


async def _create(api: ApiClient, **extra) -> dict:
    code, body = await api.post("/api/apps", json={**GOOD, **extra})
    assert code == 201, body
    return body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Web"),
        ("name", "-web"),
        ("name", "a" * 64),
        ("name", "web_app"),
        ("git_url", "ftp://example.com/x.git"),
        ("git_url", "not a url"),
        ("git_url", "https://"),
        ("branch", "bad..branch"),
        ("branch", "-x"),
        ("dockerfile", "../Dockerfile"),
        ("dockerfile", "/etc/passwd"),
        ("build_context", "../.."),
        ("port", 0),
        ("port", 70000),
        ("port", "http"),
        ("domains", ["not a domain"]),
        ("domains", ["a.example.com", "A.example.com"]),
        ("domains", "a.example.com"),
        ("healthcheck_path", "health"),
        ("healthcheck_path", "/a b"),
        ("healthcheck_status", 99),
        ("healthcheck_timeout", 0),
        ("healthcheck_retries", 0),
        ("healthcheck_interval", -1),
        ("environment", "prod"),
        ("cpu_limit", "lots"),
        ("cpu_limit", 0),
        ("memory_limit", "12x"),
        ("memory_limit", "1k"),
        ("unknown_field", 1),
    ],
)
async def test_invalid_app_field_is_named_and_nothing_written(api: ApiClient, field, value):
    code, body = await api.post("/api/apps", json={**GOOD, field: value})
    assert code == 422, body
    assert body["error"]["code"] == "validation_error"
    assert _field(body) == field
    assert (await api.get("/api/apps"))[1]["items"] == []


async def test_required_fields(api: ApiClient):
    code, body = await api.post("/api/apps", json={"name": "web"})
    assert code == 422 and _field(body) == "git_url"
    code, body = await api.post("/api/apps", data="nope", headers={"Content-Type": "application/json"})
    assert code in (400, 422)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/a/b.git",
        "ssh://git@host:22/a/b.git",
        "git@github.com:a/b.git",
        "git://127.0.0.1/x.git",
    ],
)
async def test_accepted_git_urls(api: ApiClient, url):
    body = await _create(api, git_url=url)
    assert body["git_url"] == url


async def test_local_urls_need_allow_local(config_factory):
    from rivetr_core.app import create_app

    app = create_app(config_factory(git={"allow_local": False}))
    async with app.test_app():
        api = ApiClient(app)
        for url in ("/srv/git/x.git", "file:///srv/git/x.git"):
            code, body = await api.post("/api/apps", json={**GOOD, "git_url": url})
            assert code == 422 and _field(body) == "git_url" and "allow_local" in body["error"]["message"]
        code, _ = await api.post("/api/apps", json={**GOOD, "git_url": "git://h/x.git"})
        assert code == 201


async def test_limits_parse(api: ApiClient):
    body = await _create(api, cpu_limit="0.5", memory_limit="512m")
    assert body["cpu_limit"] == 0.5 and body["memory_limit"] == 512 * 1024**2
    code, body = await api.put(f"/api/apps/{body['id']}", json={"memory_limit": "1g", "cpu_limit": "500m"})
    assert code == 200 and body["memory_limit"] == 1024**3 and body["cpu_limit"] == 0.5


async def test_names_and_domains_are_unique(api: ApiClient):
    first = await _create(api, domains=["web.example.com"])
    code, body = await api.post("/api/apps", json={**GOOD})
    assert code == 409 and _field(body) == "name"
    code, body = await api.post("/api/apps", json={**GOOD, "name": "other", "domains": ["WEB.example.com"]})
    assert code == 409 and _field(body) == "domains"
    other = await _create(api, name="other", domains=["other.example.com"])
    code, body = await api.put(f"/api/apps/{other['id']}", json={"domains": ["web.example.com"]})
    assert code == 409 and _field(body) == "domains"
    code, body = await api.put(f"/api/apps/{other['id']}", json={"name": "web"})
    assert code == 409 and _field(body) == "name"
    # a manual proxy route owns its domain too
    await api.post("/api/routes", json={"domain": "manual.example.com", "upstreams": ["127.0.0.1:9"]})
    code, body = await api.put(f"/api/apps/{first['id']}", json={"domains": ["manual.example.com"]})
    assert code == 409 and _field(body) == "domains"
    code, got = await api.get(f"/api/apps/{first['id']}")
    assert got["domains"] == ["web.example.com"]


async def test_update_and_list_filters(api: ApiClient):
    code, project = await api.post("/api/projects", json={"name": "shop"})
    assert code == 201
    a = await _create(api, name="a", project_id=project["id"], environment="production")
    await _create(api, name="b", environment="staging")
    code, body = await api.post("/api/apps", json={**GOOD, "name": "c", "project_id": "nope"})
    assert code == 404 and _field(body) == "project_id"
    assert [x["name"] for x in (await api.get(f"/api/apps?project_id={project['id']}"))[1]["items"]] == ["a"]
    assert [x["name"] for x in (await api.get("/api/apps?environment=staging"))[1]["items"]] == ["b"]
    assert (await api.get("/api/apps?environment=nope"))[0] == 422
    code, body = await api.put(f"/api/apps/{a['id']}", json={"branch": "develop", "healthcheck_path": "/up"})
    assert code == 200 and body["branch"] == "develop" and body["healthcheck_path"] == "/up"
    assert body["environment"] == "production"  # untouched
    code, body = await api.put(f"/api/apps/{a['id']}", json={"port": None})
    assert code == 422 and _field(body) == "port"
    code, body = await api.put(f"/api/apps/{a['id']}", json={"git_token": "ghp_secret"})
    assert code == 200 and body["has_git_token"] is True and "ghp_secret" not in str(body)
    code, body = await api.delete(f"/api/projects/{project['id']}")
    assert code == 409 and body["error"]["code"] == "project_not_empty"
    assert (await api.delete(f"/api/apps/{a['id']}"))[0] == 204
    assert (await api.delete(f"/api/projects/{project['id']}"))[0] == 204


async def test_projects_crud(api: ApiClient):
    code, p = await api.post("/api/projects", json={"name": "shop", "description": "the shop"})
    assert code == 201
    assert (await api.post("/api/projects", json={"name": "shop"}))[0] == 409
    assert _field((await api.post("/api/projects", json={"name": "Shop!"}))[1]) == "name"
    code, body = await api.put(f"/api/projects/{p['id']}", json={"description": "new"})
    assert code == 200 and body["description"] == "new" and body["name"] == "shop"
    assert (await api.get("/api/projects"))[1]["items"][0]["id"] == p["id"]
    assert (await api.get(f"/api/projects/{p['id']}"))[1]["app_ids"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/apps/nope",
        "/api/apps/nope/deployments",
        "/api/apps/nope/env-vars",
        "/api/apps/nope/env-vars/KEY",
        "/api/deployments/nope",
        "/api/deployments/nope/logs",
        "/api/projects/nope",
    ],
)
async def test_unknown_ids_are_404(api: ApiClient, path):
    code, body = await api.get(path)
    assert code == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/apps/nope"),
        ("PUT", "/api/apps/nope"),
        ("POST", "/api/apps/nope/deploy"),
        ("POST", "/api/deployments/nope/cancel"),
        ("POST", "/api/deployments/nope/rollback"),
        ("DELETE", "/api/ssh-keys/nope"),
        ("DELETE", "/api/projects/nope"),
    ],
)
async def test_unknown_ids_are_404_on_writes(api: ApiClient, method, path):
    code, body = await api.request(method, path, json={})
    assert code == 404, body


async def test_deploy_body_validation(api: ApiClient):
    app = await _create(api)
    code, body = await api.post(f"/api/apps/{app['id']}/deploy", json={"commit": "xyz"})
    assert code == 422 and _field(body) == "commit"
    code, body = await api.post(f"/api/apps/{app['id']}/deploy", json={"commt": "abc1234"})
    assert code == 422 and _field(body) == "commt"
    assert (await api.get(f"/api/apps/{app['id']}/deployments"))[1] == {"items": [], "next": None}


async def test_auth_required(api: ApiClient):
    for path in ("/api/apps", "/api/projects", "/api/ssh-keys"):
        assert (await api.get(path, auth=False))[0] == 401


async def test_env_vars_masked_and_encrypted_at_rest(api: ApiClient):
    app = await _create(api)
    base = f"/api/apps/{app['id']}/env-vars"
    secret, plain = "s3cr3t-value-4242", "plain-value-1717"
    assert (await api.post(base, json={"key": "API_KEY", "value": secret, "is_secret": True}))[0] == 201
    assert (await api.post(base, json={"key": "MODE", "value": plain}))[0] == 201
    assert (await api.post(base, json={"key": "MODE", "value": "x"}))[0] == 409
    for key in ("PORT", "SOURCE_COMMIT", "1BAD", "BAD-KEY"):
        code, body = await api.post(base, json={"key": key, "value": "x"})
        assert code == 422 and _field(body) == "key", key
    listed = {v["key"]: v["value"] for v in (await api.get(base))[1]["items"]}
    assert listed == {"API_KEY": "••••••••", "MODE": plain}
    revealed = {v["key"]: v["value"] for v in (await api.get(base + "?reveal=true"))[1]["items"]}
    assert revealed["API_KEY"] == secret
    code, body = await api.put(base + "/MODE", json={"value": "changed", "is_secret": True})
    assert code == 200 and body["value"] == "••••••••"
    assert (await api.get(base + "/MODE?reveal=true"))[1]["value"] == "changed"
    assert (await api.put(base + "/NOPE", json={"value": "x"}))[0] == 404
    assert (await api.delete(base + "/MODE"))[0] == 204
    assert (await api.delete(base + "/MODE"))[0] == 404
    await api.ctx.db.close()  # checkpoint WAL so every byte is in files we read
    blob = at_rest.stored_bytes(api.ctx)
    assert secret.encode() not in blob and plain.encode() not in blob and b"changed" not in blob


async def test_ssh_keys(api: ApiClient):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )
    code, key = await api.post("/api/ssh-keys", json={"name": "deploy", "private_key": private})
    assert (
        code == 201
        and key["public_key"].startswith("ssh-ed25519 ")
        and key["fingerprint"].startswith("SHA256:")
    )
    assert "PRIVATE" not in str(key)
    assert "PRIVATE" not in str((await api.get("/api/ssh-keys"))[1])
    code, body = await api.post("/api/ssh-keys", json={"name": "bad", "private_key": "garbage"})
    assert code == 422 and _field(body) == "private_key"
    assert (await api.post("/api/ssh-keys", json={"name": "deploy", "private_key": private}))[0] == 409
    app = await _create(api, git_url="git@github.com:a/b.git", ssh_key_id=key["id"])
    code, body = await api.post("/api/apps", json={**GOOD, "name": "x", "ssh_key_id": "nope"})
    assert code == 404 and _field(body) == "ssh_key_id"
    code, body = await api.delete(f"/api/ssh-keys/{key['id']}")
    assert (
        code == 409 and body["error"]["code"] == "ssh_key_in_use" and body["error"]["details"] == {"apps": 1}
    )
    await api.put(f"/api/apps/{app['id']}", json={"ssh_key_id": None})
    assert (await api.delete(f"/api/ssh-keys/{key['id']}"))[0] == 204
    await api.ctx.db.close()
    blob = at_rest.stored_bytes(api.ctx)
    assert private.splitlines()[1].encode() not in blob


async def test_openapi_lists_every_endpoint(api: ApiClient):
    _, spec = await api.get("/openapi.json")
    paths = spec["paths"]
    for path, method in [
        ("/api/apps", "post"),
        ("/api/apps", "get"),
        ("/api/apps/{app_id}", "put"),
        ("/api/apps/{app_id}", "delete"),
        ("/api/projects", "post"),
        ("/api/projects/{project_id}", "delete"),
        ("/api/apps/{app_id}/env-vars", "post"),
        ("/api/apps/{app_id}/env-vars/{key}", "put"),
        ("/api/ssh-keys", "post"),
        ("/api/ssh-keys/{key_id}", "delete"),
        ("/api/apps/{app_id}/deploy", "post"),
        ("/api/apps/{app_id}/deployments", "get"),
        ("/api/deployments/{deployment_id}", "get"),
        ("/api/deployments/{deployment_id}/logs", "get"),
        ("/api/deployments/{deployment_id}/cancel", "post"),
        ("/api/deployments/{deployment_id}/rollback", "post"),
    ]:
        assert method in paths.get(path, {}), (path, method)
    assert (
        "requestBody" in paths["/api/apps"]["post"]
        and "requestBody" in paths["/api/apps/{app_id}/deploy"]["post"]
    )

    def body_schema(path: str, method: str) -> dict:
        schema = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
        return schema  # type: ignore[no-any-return]

    created, updated = body_schema("/api/apps", "post"), body_schema("/api/apps/{app_id}", "put")
    for schema in (created, updated):
        assert {"https_redirect", "hsts", "git_token_user"} <= set(schema["properties"])
    assert created["properties"]["https_redirect"]["default"] is True
    assert created["properties"]["hsts"]["default"] is False
    listing = paths["/api/apps"]["get"]["parameters"]
    assert "include_previews" in {p["name"] for p in listing}


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        (
            "https://oauth2:glpat-s3cret@gitlab.example.com/a/b.git",
            "https://oauth2@gitlab.example.com/a/b.git",
        ),
        ("https://ghp_s3cret@github.com/a/b.git", "https://github.com/a/b.git"),
    ],
)
async def test_token_in_git_url_is_moved_to_the_encrypted_token(api: ApiClient, url, stored):
    body = await _create(api, git_url=url)
    assert body["has_git_token"] is True
    assert "s3cret" not in str(body) and "s3cret" not in str((await api.get("/api/apps"))[1])
    snap = await api.ctx.services["deployments"].snapshot(body["id"])
    assert snap.app.git_url == stored and snap.git_token.endswith("s3cret")
    await api.ctx.db.close()
    blob = at_rest.stored_bytes(api.ctx)
    assert b"s3cret" not in blob
