"""Pre-built image apps on real engines (Docker and Podman) against a REAL private registry: Debian's
docker-registry with htpasswd auth and TLS from a test CA (tests/support/auth_registry.py; both engines and the
control plane trust the CA through /etc/docker/certs.d and /etc/containers/certs.d).

Per engine: two tags of a busybox httpd image are built and pushed with the engine's CLI (then removed
locally, so deploys really pull). An image app then fails clearly without credentials ("add credentials with
POST /api/registries"), wrong credentials are a 422 at registry creation, and with the right ones the app
deploys, serves through the proxy with its env vars, records the digest, deploys another tag with
``deploy {"image"}``, and rolls back to the digest that ran; a tag that does not exist fails clearly.

The same registry serves a git app's private base image (its Dockerfile says ``FROM <server>/team/...``): the
build fails saying which credentials to add while none are stored, and builds with the stored ones. Last, the
registry's password changes (as when it is rotated): a deploy with the stored credentials, now wrong, says they
were refused."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.auth_registry import AuthRegistry, bcrypt_hash, running_auth_registry
from tests.support.engines import write_httpd_context
from tests.support.gitserver import GitServer

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[AuthRegistry]:
    yield from running_auth_registry()


def publish(rivetr: Any, registry: AuthRegistry, repo: str, tmp_path: Path) -> dict[str, str]:
    """Build and push ``repo:1`` and ``repo:2`` (index.html "v1"/"v2") with the engine's CLI, then drop the
    local copies so a deploy has to pull them."""
    env = rivetr._cli_env()
    pushed = {}
    for tag in ("1", "2"):
        context = write_httpd_context(tmp_path / f"ctx{tag}", files={"index.html": f"v{tag}\n"})
        local = f"localhost/rivetr-imgtest/{repo}:{tag}"
        rivetr.cli("build", "-t", local, str(context))
        pushed[tag] = registry.push(rivetr.engine, local, f"team/{repo}", tag, env=env)
        rivetr.cli("rmi", "-f", local, pushed[tag])
    return pushed


def remove_images(rivetr: Any, refs: list[str]) -> None:
    subprocess.run(
        [rivetr.engine, "rmi", "-f", *refs], capture_output=True, env=rivetr._cli_env(), timeout=60
    )


def set_registry_password(registry: AuthRegistry, password: str) -> None:
    """Change the account's password on the registry (it rereads its htpasswd file when the file changes)."""
    path = registry.workdir / "htpasswd"
    path.write_text(f"{registry.username}:{bcrypt_hash(password)}\n")


def logs_of(rivetr: Any, dep_id: str) -> str:
    return "\n".join(x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json())


def wait_failed(rivetr: Any, dep_id: str) -> dict[str, Any]:
    dep = rivetr.wait(dep_id)
    assert dep["status"] == "failed", dep
    return dep  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_image_app_deploys_from_an_authenticated_registry(
    e2e: Any, engine: str, auth_registry: AuthRegistry, git_server: GitServer, tmp_path: Path
) -> None:
    rivetr = e2e(engine)
    suffix = uuid.uuid4().hex[:6]
    repo = f"web-{engine}-{suffix}"
    pushed = publish(rivetr, auth_registry, repo, tmp_path)
    name = f"img-{engine[:2]}-{suffix}"
    host = f"{name}.e2e.test"
    pulled: list[str] = list(pushed.values())
    try:
        response = rivetr.api.post(
            "/api/apps",
            json={
                "name": name,
                "source": {"kind": "image", "image": pushed["1"]},
                "port": 8000,
                "domains": [host],
                "healthcheck_interval": 0.5,
            },
        )
        assert response.status_code == 201, response.text
        app = response.json()
        assert app["source_kind"] == "image" and app["git_url"] == ""
        response = rivetr.api.post(f"/api/apps/{app['id']}/env-vars", json={"key": "GREETING", "value": "hi"})
        assert response.status_code == 201, response.text

        # No credentials stored: the registry refuses the pull, and the error says what to do.
        dep = wait_failed(rivetr, rivetr.deploy(app["id"])["id"])
        assert "add credentials with POST /api/registries" in dep["error"], dep
        assert auth_registry.password not in json.dumps(dep)

        # A git app whose Dockerfile builds FROM the private image: its build is refused the same way.
        built_host = f"b{name}.e2e.test"
        dockerfile = f"FROM {pushed['1']}\nCOPY index.html /www/index.html\n"
        files = {"Dockerfile": (dockerfile, 0o644), "index.html": ("built on a private base\n", 0o644)}
        built = rivetr.create_app(git_server.create_repo(f"b{name}", files), f"b{name}", domains=[built_host])
        dep = wait_failed(rivetr, rivetr.deploy(built["id"])["id"])
        assert f"base image {pushed['1']}: pulling {pushed['1']} needs credentials for " in dep["error"], dep
        assert "add credentials with POST /api/registries" in dep["error"], dep

        # Wrong credentials never get stored.
        body = {"name": f"reg-{suffix}", "server": auth_registry.server, "username": auth_registry.username}
        response = rivetr.api.post("/api/registries", json={**body, "password": "wrong-password"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "password"
        response = rivetr.api.post("/api/registries", json={**body, "password": auth_registry.password})
        assert response.status_code == 201, response.text
        assert response.json()["password"] == "********"

        first = rivetr.deploy_and_wait(app["id"])
        assert first["image"] == pushed["1"] and (first["image_digest"] or "").startswith("sha256:"), first
        rivetr.wait_content(host, "v1\n")
        status, env_dump = rivetr.fetch(host, "/cgi-bin/env")
        assert status == 200 and "GREETING=hi" in env_dump, env_dump
        logs = "\n".join(x["line"] for x in rivetr.api.get(f"/api/deployments/{first['id']}/logs").json())
        assert f"using the credentials stored for {auth_registry.server}" in logs
        assert auth_registry.password not in logs

        # With the credentials stored, the git app's build pulls its private base image with them.
        built_dep = rivetr.deploy_and_wait(built["id"])
        rivetr.wait_content(built_host, "built on a private base\n")
        logs = logs_of(rivetr, built_dep["id"])
        assert f"using the registry credentials for {auth_registry.server} (user " in logs, logs
        assert auth_registry.password not in logs + json.dumps(built_dep)

        # Another tag, kept as the app's image.
        second = rivetr.deploy_and_wait(app["id"], image=pushed["2"])
        assert second["image"] == pushed["2"] and second["image_digest"] != first["image_digest"], second
        rivetr.wait_content(host, "v2\n")
        assert rivetr.api.get(f"/api/apps/{app['id']}").json()["image"] == pushed["2"]

        # Rollback runs the digest that ran, even after its tag moved: tag 1 now names v2's image.
        auth_registry.push(rivetr.engine, pushed["2"], f"team/{repo}", "1", env=rivetr._cli_env())
        response = rivetr.api.post(f"/api/deployments/{first['id']}/rollback")
        assert response.status_code == 202, response.text
        back = rivetr.wait(response.json()["id"])
        assert back["status"] == "running", back
        assert (
            back["image"].endswith("@" + first["image_digest"])
            and back["image_digest"] == first["image_digest"]
        )
        rivetr.wait_drained(back)
        rivetr.wait_content(host, "v1\n")
        pulled.append(back["image"])

        # A tag that does not exist.
        missing = pushed["1"].rsplit(":", 1)[0] + ":does-not-exist"
        dep = wait_failed(rivetr, rivetr.deploy(app["id"], image=missing)["id"])
        assert "does not exist" in dep["error"], dep
        rivetr.wait_content(host, "v1\n")  # the rolled-back version keeps serving

        # The registry's password changes: the stored credentials are now wrong, and the deploy says so.
        set_registry_password(auth_registry, "rotated-" + suffix)
        try:
            dep = wait_failed(rivetr, rivetr.deploy(app["id"], image=pushed["2"])["id"])
        finally:
            set_registry_password(auth_registry, auth_registry.password)
        assert (
            f"pulling {pushed['2']} was refused with the credentials stored for {auth_registry.server}"
            in dep["error"]
        ), dep
        assert auth_registry.password not in json.dumps(dep) + logs_of(rivetr, dep["id"])
        rivetr.wait_content(host, "v1\n")
    finally:
        remove_images(rivetr, pulled)
