"""Compose stacks through the API with the FAKE runtime (``rivetr_core.testing.FakeRuntime``): the rules (422 for a
bad compose file naming the key, the service and the line; 409 for names and domains taken; masking and reveal of
the variables), what a deploy asks of the engine (networks, names, labels, aliases, depends_on order), the
deployment behind ``/api/deployments/{id}``, the project network's members, and that an idle server never loads
the feature. Real engines: tests/e2e/test_stacks_e2e.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from rivetr_core.testing.fake_runtime import FakeImage
from tests.support import at_rest
from tests.support.server import ApiClient, make_config

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "fixtures" / "compose" / "bad"
BUSYBOX = "localhost/rivetr-test/busybox:latest"
REDIS = "docker.io/library/redis:7"

GOOD = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["httpd", "-f", "-p", "8080"]
    environment:
      SECRET: ${{APP_SECRET:?set APP_SECRET}}
    depends_on:
      cache:
        condition: service_started
  cache:
    image: redis:7
"""


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    fake_runtime.images[BUSYBOX] = FakeImage(id="sha256:busybox")
    fake_runtime.registry[REDIS] = FakeImage(id="sha256:redis")
    app = create_app(make_config(tmp_path / "data"))
    app.extensions["rivetr_ctx"]._runtime = fake_runtime
    async with app.test_app():
        yield ApiClient(app)


async def create(api: ApiClient, name: str = "shop", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "compose": GOOD, "env": {"APP_SECRET": "s3cret"}, **extra}
    code, answer = await api.post("/api/stacks", json=body)
    assert code == 201, answer
    return answer  # type: ignore[no-any-return]


async def wait_deployment(api: ApiClient, dep_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, dep = await api.get(f"/api/deployments/{dep_id}")
        assert code == 200, dep
        if dep["status"] in ("running", "failed", "cancelled"):
            return dep  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, dep
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("fixture", "field", "words"),
    [
        ("invalid-yaml.yaml", None, "line 4"),
        ("cycle.yaml", "depends_on", "cycle"),
        ("unknown-dependency.yaml", "depends_on", "unknown service"),
        ("port-clash.yaml", "ports", "clash"),
        ("bind-outside-roots.yaml", "volumes", "bind"),
        ("unset-required-var.yaml", None, "is not set"),
        ("unsupported-key.yaml", "privileged", "not supported"),
    ],
)
async def test_a_bad_compose_file_is_a_422_naming_what_is_wrong(
    api: ApiClient, fixture: str, field: str | None, words: str
) -> None:
    text = (BAD / fixture).read_text()
    code, body = await api.post("/api/stacks", json={"name": "bad", "compose": text})
    assert code == 422, body
    error = body["error"]
    assert error["code"] == "invalid_compose", error
    assert words in error["message"], error
    if field is not None:
        assert any(field in str(d.get("field")) for d in error["details"]), error["details"]
    if fixture == "invalid-yaml.yaml":
        assert error["details"][0]["line"] == 4 and error["details"][0]["column"], error
    # Nothing was stored.
    assert (await api.get("/api/stacks"))[1]["items"] == []
    # The validate endpoint answers the same.
    code, again = await api.post("/api/compose/validate", json={"compose": text})
    assert code == 422 and again["error"]["message"] == error["message"]


async def test_validate_reports_services_order_and_variables(api: ApiClient) -> None:
    code, body = await api.post("/api/compose/validate", json={"compose": GOOD, "env": {"APP_SECRET": "x"}})
    assert code == 200, body
    assert body["services"] == ["cache", "web"]
    assert body["start_order"] == [["cache"], ["web"]]
    assert body["variables"] == ["APP_SECRET"]
    # Characters YAML refuses (a control character, a lone surrogate) are a 422 too, never a 500.
    code, body = await api.post("/api/compose/validate", json={"compose": "\u001d services:"})
    assert code == 422 and body["error"]["code"] == "invalid_compose", body
    code, body = await api.post("/api/compose/validate", json={"compose": "\ud9fb services:"})
    assert code == 422 and body["error"]["details"][0]["field"] == "compose", body


async def test_names_domains_and_sources_are_checked(api: ApiClient) -> None:
    stack = await create(api, domains=[{"domain": "shop.example.com", "service": "web", "port": 8080}])
    assert stack["env"] == {"APP_SECRET": "********"}
    code, revealed = await api.get(f"/api/stacks/{stack['id']}", query_string={"reveal": "true"})
    assert code == 200 and revealed["env"] == {"APP_SECRET": "s3cret"}
    # The variables are stored encrypted.
    assert b"s3cret" not in at_rest.stored_bytes(api.ctx)

    code, body = await api.post(
        "/api/stacks", json={"name": "shop", "compose": GOOD, "env": {"APP_SECRET": "x"}}
    )
    assert code == 409, body
    code, body = await api.post(
        "/api/stacks",
        json={
            "name": "other",
            "compose": GOOD,
            "env": {"APP_SECRET": "x"},
            "domains": [{"domain": "shop.example.com", "service": "web", "port": 8080}],
        },
    )
    assert code == 409 and "another stack" in body["error"]["message"], body
    code, body = await api.post(
        "/api/stacks",
        json={
            "name": "other",
            "compose": GOOD,
            "env": {"APP_SECRET": "x"},
            "domains": [{"domain": "other.example.com", "service": "nope", "port": 8080}],
        },
    )
    assert code == 422 and body["error"]["details"][0]["available"] == ["cache", "web"], body
    code, body = await api.post(
        "/api/stacks",
        json={
            "name": "other",
            "compose": GOOD,
            "env": {"APP_SECRET": "x"},
            "domains": [
                {"domain": "a.example.com", "service": "web", "port": 8080},
                {"domain": "b.example.com", "service": "web", "port": 9090},
            ],
        },
    )
    assert code == 422 and "already routed on port 8080" in body["error"]["message"], body
    # An app cannot take a stack's name or domain, nor a stack an app's.
    code, body = await api.post(
        "/api/apps", json={"name": "shop", "git_url": "https://git.example.com/a.git", "port": 80}
    )
    assert code == 409, body
    code, body = await api.post(
        "/api/apps",
        json={
            "name": "web2",
            "git_url": "https://git.example.com/a.git",
            "port": 80,
            "domains": ["shop.example.com"],
        },
    )
    assert code == 409 and "stack" in body["error"]["message"], body
    # Sources: one of them, a valid URL, an SSH URL with a deploy key only, no pasted build.
    code, body = await api.post("/api/stacks", json={"name": "x1"})
    assert code == 422, body
    code, body = await api.post("/api/stacks", json={"name": "x1", "repo_url": "git@github.com:a/b.git"})
    assert code == 422 and body["error"]["details"][0]["field"] == "ssh_key_id", body
    build = "services:\n  web:\n    build: .\n"
    code, body = await api.post("/api/stacks", json={"name": "x1", "compose": build})
    assert code == 422 and "build" in body["error"]["message"], body
    code, body = await api.post("/api/stacks", json={"name": "Bad_Name", "compose": GOOD})
    assert code == 422, body


async def test_a_deploy_runs_the_services_in_order_on_their_networks(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    code, project = await api.post("/api/projects", json={"name": "shopping"})
    assert code == 201, project
    stack = await create(api, project_id=project["id"])
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    assert code == 202 and dep["stack_id"] == stack["id"] and dep["app_id"] is None, dep
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "running", dep
    assert fake_runtime.pulls == [REDIS]  # pulled once, as it was missing; busybox was there
    runs = {spec.labels["rivetr.stack.service"]: spec for spec in fake_runtime.runs}
    web, cache = runs["web"], runs["cache"]
    assert fake_runtime.runs.index(cache) < fake_runtime.runs.index(web)  # depends_on order
    assert web.network == f"rivetr-stk-{stack['id']}-default" and web.network_aliases == ["web"]
    assert web.extra_networks == {f"rivetr-net-{project['id']}": ["shop-web"]}
    assert web.env == {"SECRET": "s3cret"} and web.command == ["httpd", "-f", "-p", "8080"]
    assert web.labels["rivetr.stack"] == stack["id"] and web.labels["rivetr.deployment"] == dep["id"]
    assert "rivetr.managed" not in web.labels  # the app pipeline's recovery must not take it for an orphan
    assert web.name == f"rivetr-stk-shop-web-1-{dep['id'][:8]}"

    # The deployment's log, by the deployments API like an app's.
    code, lines = await api.get(f"/api/deployments/{dep['id']}/logs")
    assert code == 200 and any("start order: cache → web" in x["line"] for x in lines), lines

    code, network = await api.get(f"/api/projects/{project['id']}/network")
    assert code == 200, network
    assert network["network"] == f"rivetr-net-{project['id']}"
    assert {m["name"]: m["internal_names"] for m in network["members"]} == {
        "shop/cache": ["shop-cache"],
        "shop/web": ["shop-web"],
    }
    assert (await api.get("/api/projects/nope/network"))[0] == 404

    # The same file again: nothing is recreated.
    before = len(fake_runtime.runs)
    code, dep2 = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep2 = await wait_deployment(api, dep2["id"])
    assert dep2["status"] == "running", dep2
    assert {s["action"] for s in dep2["services"].values()} == {"kept"}
    assert len(fake_runtime.runs) == before

    # A changed variable changes web only.
    code, _ = await api.put(f"/api/stacks/{stack['id']}", json={"env": {"APP_SECRET": "new"}})
    assert code == 200
    code, dep3 = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep3 = await wait_deployment(api, dep3["id"])
    assert dep3["services"]["web"]["action"] == "recreated" and dep3["services"]["cache"]["action"] == "kept"

    # Delete: every container of the stack goes, and with the project's last member its private network.
    assert f"rivetr-net-{project['id']}" in fake_runtime.project_networks
    assert (await api.delete(f"/api/stacks/{stack['id']}"))[0] == 204
    assert [c for c in await fake_runtime.list(labels={"rivetr.stack": stack["id"]})] == []
    assert (await api.get(f"/api/stacks/{stack['id']}"))[0] == 404
    assert f"rivetr-net-{project['id']}" not in fake_runtime.networks


async def test_a_missing_image_fails_the_deployment_naming_the_service(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    text = "services:\n  app:\n    image: nosuch/image:1\n"
    code, stack = await api.post("/api/stacks", json={"name": "broken", "compose": text})
    assert code == 201, stack
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "failed" and "service app" in dep["error"], dep
    code, body = await api.get(f"/api/stacks/{stack['id']}")
    assert body["status"] == "failed" and body["current_deployment_id"] is None


LAZY_PROBE = """
import asyncio, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

FEATURE = ("yaml", "jsonschema", "rivetr_core.services.stacks", "rivetr_core.compose.loader", "rivetr_core.models.stacks")

async def main():
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir()
    # As `rivetr serve` does: the schema is migrated in a child process (alembic imports every table).
    app = create_app(migrated_config(data))
    async with app.test_app():
        api = ApiClient(app)
        code, body = await api.get("/api/apps")
        assert code == 200, body
        print("idle", [m for m in FEATURE if m in sys.modules])
        code, body = await api.get("/api/stacks")
        assert code == 200, body
        print("used", [m for m in FEATURE if m in sys.modules])

asyncio.run(main())
"""


def test_an_idle_server_never_loads_the_stacks_feature() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["idle"] == "[]", out.stdout
    assert "rivetr_core.services.stacks" in lines["used"], out.stdout


async def test_a_service_gone_from_the_file_goes_and_an_alias_clash_is_refused(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    two = f"services:\n  web:\n    image: {BUSYBOX}\n  worker:\n    image: {BUSYBOX}\n"
    code, stack = await api.post("/api/stacks", json={"name": "pair", "compose": two})
    assert code == 201, stack
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep = await wait_deployment(api, dep["id"])
    worker = dep["services"]["worker"]["containers"][0]["id"]
    assert dep["status"] == "running", dep

    one = f"services:\n  web:\n    image: {BUSYBOX}\n"
    assert (await api.put(f"/api/stacks/{stack['id']}", json={"compose": one}))[0] == 200
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "running" and set(dep["services"]) == {"web"}, dep
    for _ in range(250):  # removed once the deployment is live (the drain step), like --remove-orphans
        if worker not in {c.id for c in await fake_runtime.list()}:
            break
        await asyncio.sleep(0.02)
    assert worker not in {c.id for c in await fake_runtime.list()}

    # An app named like a stack service's project alias (<stack>-<service>): the deploy says so.
    code, body = await api.post(
        "/api/apps", json={"name": "pair-web", "git_url": "https://git.example.com/a.git", "port": 80}
    )
    assert code == 201, body
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "failed" and "pair-web" in dep["error"], dep


async def test_the_sampler_keeps_a_history_of_a_stack_like_an_app(api: ApiClient) -> None:
    from rivetr_core.history.sampler import MetricsSampler

    stack = await create(api)
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    assert (await wait_deployment(api, dep["id"]))["status"] == "running"
    sampler = api.ctx.services.get("sampler") or MetricsSampler(api.ctx)
    apps = await sampler.sample_once()
    assert apps == {}  # a stack is not an app
    assert sampler.last_stacks[stack["id"]]["name"] == "shop"
    assert sampler.last_stacks[stack["id"]]["containers"] == 2  # web and cache, summed
    code, metrics = await api.get(f"/api/stacks/{stack['id']}/metrics", query_string={"range": "15m"})
    assert code == 200, metrics
    assert metrics["app_id"] == stack["id"] and metrics["points"]
    assert metrics["latest"]["memory_used"] == 2 * 1024 * 1024  # what the fake reports per running container
    assert (await api.get("/api/stacks/missing/metrics"))[0] == 404


def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        .decode()
    )


async def test_a_private_repository_stack_keeps_its_credentials_encrypted_and_masked(api: ApiClient) -> None:
    """SSH URLs take a deploy key (422 without one, 404 for an unknown one); the HTTPS token and the webhook secret
    are write-only (``has_*``), encrypted at rest, cleared by null; a token written into the URL moves out of it;
    a pasted file takes none of them; a key a stack clones with cannot be deleted."""
    token, secret = "tok-private-9f8e7d", "hook-secret-5c4b3a"
    code, key = await api.post("/api/ssh-keys", json={"name": "deploy", "private_key": _private_key()})
    assert code == 201, key
    ssh_url = "ssh://git@git.example.com:2222/acme/shop.git"

    code, body = await api.post("/api/stacks", json={"name": "s1", "repo_url": ssh_url, "ssh_key_id": "nope"})
    assert code == 404 and body["error"]["details"][0]["field"] == "ssh_key_id", body
    code, stack = await api.post(
        "/api/stacks",
        json={"name": "s1", "repo_url": ssh_url, "ssh_key_id": key["id"], "webhook_secret": secret},
    )
    assert code == 201, stack
    assert stack["ssh_key_id"] == key["id"] and stack["has_webhook_secret"] and not stack["has_git_token"]

    # A token in an https URL goes to git_token (the URL keeps no secret), as for apps.
    code, https = await api.post(
        "/api/stacks",
        json={"name": "s2", "repo_url": f"https://oauth2:{token}@gitlab.example.com/acme/shop.git"},
    )
    assert code == 201, https
    assert https["repo_url"] == "https://oauth2@gitlab.example.com/acme/shop.git" and https["has_git_token"]
    code, revealed = await api.get(f"/api/stacks/{https['id']}", query_string={"reveal": "true"})
    assert code == 200 and token not in str(revealed) and revealed["has_git_token"], revealed
    listed = (await api.get("/api/stacks"))[1]
    assert token not in str(listed) and secret not in str(listed)
    data = at_rest.stored_bytes(api.ctx)
    assert token.encode() not in data and secret.encode() not in data  # encrypted at rest

    # Refused: a token over git://, a webhook secret too short, credentials on a pasted file.
    bad: list[tuple[dict[str, Any], str]] = [
        ({"repo_url": "git://git.example.com/acme/shop.git", "git_token": token}, "git_token"),
        ({"repo_url": "https://git.example.com/a/b.git", "webhook_secret": "short"}, "webhook_secret"),
        ({"repo_url": "https://git.example.com/a/b.git", "git_token_user": "a:b"}, "git_token_user"),
        ({"compose": GOOD, "env": {"APP_SECRET": "x"}, "ssh_key_id": key["id"]}, "ssh_key_id"),
        ({"compose": GOOD, "env": {"APP_SECRET": "x"}, "webhook_secret": secret}, "webhook_secret"),
    ]
    for extra, field in bad:
        code, body = await api.post("/api/stacks", json={"name": "s3", **extra})
        assert code == 422 and field in str(body["error"]["details"]), (extra, body)

    # The key is in use: deleting it is a 409 until the stack lets it go.
    code, body = await api.delete(f"/api/ssh-keys/{key['id']}")
    assert code == 409 and body["error"]["code"] == "ssh_key_in_use", body
    code, body = await api.put(f"/api/stacks/{stack['id']}", json={"ssh_key_id": None})
    assert code == 422 and body["error"]["details"][0]["field"] == "ssh_key_id", body  # SSH URL, no key
    code, moved = await api.put(
        f"/api/stacks/{stack['id']}",
        json={"repo_url": "https://git.example.com/acme/shop.git", "ssh_key_id": None, "git_token": token},
    )
    assert code == 200 and moved["ssh_key_id"] is None and moved["has_git_token"], moved
    assert (await api.delete(f"/api/ssh-keys/{key['id']}"))[0] == 204
    # Null (or empty) removes the token and the secret; leaving them out keeps them.
    code, kept = await api.put(f"/api/stacks/{stack['id']}", json={"branch": "dev"})
    assert code == 200 and kept["has_git_token"] and kept["has_webhook_secret"], kept
    code, cleared = await api.put(
        f"/api/stacks/{stack['id']}", json={"git_token": None, "webhook_secret": ""}
    )
    assert code == 200 and not cleared["has_git_token"] and not cleared["has_webhook_secret"], cleared
    # Turning a repository stack into a pasted one drops its credentials.
    await api.put(f"/api/stacks/{https['id']}", json={"webhook_secret": secret})
    code, pasted = await api.put(
        f"/api/stacks/{https['id']}", json={"compose": GOOD, "env": {"APP_SECRET": "x"}}
    )
    assert code == 200 and pasted["source"] == "inline", pasted
    assert (
        not pasted["has_git_token"] and not pasted["has_webhook_secret"] and pasted["git_token_user"] is None
    )
