"""The container port an app's deployment uses (rivetr_core.engine.ports) and the registry credentials a build
gets, through the API on the fake runtime with the app's repository on a real git daemon.

Ports: an app created without one shows ``port: null``, its build plan says which port a deployment would use
and why (the detector's, the Dockerfile's EXPOSE, or 3000), and its first deployment records that port on the
app and runs the container on it; an explicit port always wins. Registries: the stored credentials reach the
build spec (never its repr), a base image the registry refused says what to do. Real engines: tests/e2e/
test_image_apps.py (private base image) and test_autodetect_apps.py (the flask sample on its detected 8000).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import BuildFailed
from rivetr_core.engine.ports import DEFAULT_PORT, PORT_DETECT, chosen_port, exposed_port
from rivetr_core.testing import FakeRuntime
from tests.support.gitserver import GitServer, busybox_app
from tests.support.server import ApiClient, api_on, make_config
from tests.test_deploy_pipeline import deploy_and_wait

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"
SERVER = "registry.example.test:5443"
BASE = f"{SERVER}/team/base:1"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


def sample(name: str) -> dict[str, tuple[str, int]]:
    root = APPS / name
    return {str(p.relative_to(root)): (p.read_text(), 0o644) for p in sorted(root.rglob("*")) if p.is_file()}


async def create(api: ApiClient, name: str, url: str, **extra: Any) -> dict[str, Any]:
    code, app = await api.post("/api/apps", json={"name": name, "git_url": url, **extra})
    assert code == 201, app
    return app


async def logs(api: ApiClient, dep_id: str) -> list[str]:
    code, body = await api.get(f"/api/deployments/{dep_id}/logs")
    assert code == 200, body
    return [entry["line"] for entry in body]


def test_port_rules() -> None:
    assert chosen_port(9000, {"port": "8000"}) == (9000, "app")  # explicit wins
    assert chosen_port(PORT_DETECT, {"port": "8000"}) == (8000, "detected")
    assert chosen_port(PORT_DETECT, {"builder": "dockerfile", "detector": None}) == (DEFAULT_PORT, "default")
    assert chosen_port(PORT_DETECT, {"port": "0"}) == (DEFAULT_PORT, "default")
    multi = "FROM golang AS build\nEXPOSE 9999\nRUN go build\nFROM busybox\nexpose 8080/tcp\nEXPOSE 9090\n"
    assert exposed_port(multi) == 8080  # the last stage's first
    assert exposed_port("FROM busybox\nEXPOSE 53/udp\n") is None
    assert exposed_port("FROM golang\nEXPOSE 9999\nFROM busybox\n") is None


async def test_an_app_without_port_gets_the_detected_one_at_its_first_deployment(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    repo = git_server.create_repo("flask", sample("flask-requirements"))
    app = await create(api, "flask", repo.url)
    assert app["port"] is None

    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 200, plan
    assert (plan["port"], plan["port_source"]) == ("8000", "detected"), plan
    assert "ENV PORT=8000" in plan["dockerfile"] and "(flask)" in plan["port_reason"], plan
    code, unchanged = await api.get(f"/api/apps/{app['id']}")
    assert unchanged["port"] is None  # a plan records nothing

    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    lines = await logs(api, done["id"])
    assert any(line.startswith("container port 8000: detected by the autodetect builder") for line in lines)
    assert "[autodetect]   ENV PORT=8000" in lines
    (spec,) = [call["spec"] for call in fake_runtime.calls_to("run")]
    assert (spec.container_port, spec.env["PORT"]) == (8000, "8000")
    code, recorded = await api.get(f"/api/apps/{app['id']}")
    assert recorded["port"] == 8000

    # Recorded: the plan now says it is the app's own port, and an explicit one replaces it.
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert (plan["port"], plan["port_source"]) == ("8000", "app"), plan
    code, updated = await api.put(f"/api/apps/{app['id']}", json={"port": 9000})
    assert code == 200 and updated["port"] == 9000
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert (plan["port"], plan["port_source"]) == ("9000", "app") and "ENV PORT=9000" in plan["dockerfile"]


async def test_an_explicit_port_wins_and_a_dockerfile_exposes_its_own(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    node = git_server.create_repo("express", sample("node-express"))
    explicit = await create(api, "express", node.url, port=8000)
    code, plan = await api.get(f"/api/apps/{explicit['id']}/build-plan")
    assert (plan["port"], plan["port_source"], plan["port_reason"]) == ("8000", "app", "the app's port")

    # The test app's Dockerfile says EXPOSE 8000 (tests/support/gitserver.py).
    web = await create(api, "web", git_server.create_repo("web", busybox_app()).url)
    code, plan = await api.get(f"/api/apps/{web['id']}/build-plan")
    assert (plan["builder"], plan["port"], plan["port_source"]) == ("dockerfile", "8000", "detected"), plan
    assert "EXPOSE 8000 in Dockerfile" in plan["port_reason"]
    done = await deploy_and_wait(api, web["id"], ("running", "failed"))
    assert done["status"] == "running", done
    assert fake_runtime.calls_to("run")[-1]["spec"].container_port == 8000

    # Nothing to detect it from: 3000, said so.
    plain = {"Dockerfile": (busybox_app()["Dockerfile"][0].replace("EXPOSE 8000\n", ""), 0o644)}
    bare = await create(api, "bare", git_server.create_repo("bare", plain).url)
    code, plan = await api.get(f"/api/apps/{bare['id']}/build-plan")
    assert (plan["port"], plan["port_source"]) == ("3000", "default"), plan

    code, image_app = await api.post(
        "/api/apps", json={"name": "img", "source": {"kind": "image", "image": "ghcr.io/acme/api:1"}}
    )
    assert code == 201 and image_app["port"] == DEFAULT_PORT, image_app


async def test_stored_registry_credentials_reach_the_build_and_a_refusal_says_what_to_do(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"Dockerfile": (f"FROM {BASE}\nEXPOSE 8000\n", 0o644)}
    app = await create(api, "private", git_server.create_repo("private", files).url)

    # No credentials stored: the engine's refusal of the FROM step is explained.
    fake_runtime.failures["build"] = BuildFailed(
        f"build of x failed at Step 1/1 : FROM {BASE}: unauthorized: authentication required"
    )
    failed = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert failed["status"] == "failed", failed
    assert f"base image {BASE}: pulling {BASE} needs credentials for {SERVER}" in failed["error"], failed
    assert fake_runtime.calls_to("build")[-1]["spec"].registry_auth == {}

    # The registry login is checked against a real registry elsewhere (tests/e2e/test_image_apps.py).
    async def accept(*_args: object) -> None:
        return None

    monkeypatch.setattr("rivetr_core.services.registries.check_login", accept)
    body = {"name": "team", "server": SERVER, "username": "ci", "password": "s3cret-registry-pw"}
    code, registry = await api.post("/api/registries", json=body)
    assert code == 201, registry

    failed = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert f"pulling {BASE} was refused with the credentials stored for {SERVER}" in failed["error"], failed
    spec = fake_runtime.calls_to("build")[-1]["spec"]
    expected = {"username": "ci", "password": "s3cret-registry-pw", "serveraddress": SERVER}
    assert spec.registry_auth == {SERVER: expected}
    assert "s3cret-registry-pw" not in repr(spec)
    assert "s3cret-registry-pw" not in failed["error"] + "\n".join(await logs(api, failed["id"]))

    del fake_runtime.failures["build"]
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done


def test_the_docker_build_sends_only_the_registries_its_images_name() -> None:
    from rivetr_runtime_docker.dockerfile import DOCKER_HUB_AUTH_KEY, build_auth_configs

    stored = {
        SERVER: {"username": "ci", "password": "a", "serveraddress": SERVER},
        "docker.io": {"username": "hub", "password": "b", "serveraddress": "docker.io"},
        "ghcr.io": {"username": "gh", "password": "c", "serveraddress": "ghcr.io"},
    }
    configs, servers = build_auth_configs([BASE, "python:3.12-slim", "localhost/x:1", BASE], stored)
    assert servers == [SERVER, "docker.io"]  # ghcr.io is not used by this Dockerfile: it never travels
    assert configs == {SERVER: stored[SERVER], DOCKER_HUB_AUTH_KEY: stored["docker.io"]}
    assert build_auth_configs(["busybox:stable"], {}) == ({}, [])
