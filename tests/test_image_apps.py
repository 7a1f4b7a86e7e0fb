"""Pre-built image apps through the API with the FAKE runtime (``rivetr_core.testing.FakeRuntime``; its "registry"
is a dict): the source rules (422 naming the field), a deploy that pulls instead of clone and build and records the
image, ``deploy {"image"}`` keeping another tag, a rollback to the image that ran, and clear pull failures. The
same flows against a real authenticated registry on both engines: tests/e2e/test_image_apps.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config

IMAGE = "registry.example.com/team/api"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def wait_done(api: ApiClient, dep_id: str, timeout: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            code, dep = await api.get(f"/api/deployments/{dep_id}")
            assert code == 200, dep
            if dep["status"] in ("running", "failed", "cancelled"):
                return dep  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)


async def create_image_app(api: ApiClient, image: str, name: str = "api") -> dict[str, Any]:
    code, app = await api.post(
        "/api/apps", json={"name": name, "source": {"kind": "image", "image": image}, "port": 8080}
    )
    assert code == 201, app
    return app  # type: ignore[no-any-return]


async def deploy(api: ApiClient, app_id: str, **body: Any) -> dict[str, Any]:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json=body)
    assert code == 202, dep
    return await wait_done(api, dep["id"])


async def test_an_image_app_pulls_runs_switches_tags_and_rolls_back(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    fake_runtime.publish(f"{IMAGE}:1.4", body="v1.4")
    fake_runtime.publish(f"{IMAGE}:1.5", body="v1.5")
    app = await create_image_app(api, f"{IMAGE}:1.4")
    assert app["source_kind"] == "image" and app["image"] == f"{IMAGE}:1.4" and app["git_url"] == ""

    first = await deploy(api, app["id"])
    assert first["status"] == "running", first
    assert first["image"] == f"{IMAGE}:1.4" and "pull" in first["steps"] and "clone" not in first["steps"]
    assert fake_runtime.pulls == [f"{IMAGE}:1.4"]
    # No credentials stored for the registry: an anonymous pull.
    assert fake_runtime.calls_to("pull")[0]["auth"] is None
    assert not fake_runtime.calls_to("build")

    second = await deploy(api, app["id"], image=f"{IMAGE}:1.5")
    assert second["status"] == "running" and second["image"] == f"{IMAGE}:1.5", second
    code, shown = await api.get(f"/api/apps/{app['id']}")
    assert shown["image"] == f"{IMAGE}:1.5" and shown["current_deployment_id"] == second["id"]

    code, rollback = await api.post(f"/api/deployments/{first['id']}/rollback")
    assert code == 202, rollback
    back = await wait_done(api, rollback["id"])
    assert back["status"] == "running" and back["image"] == f"{IMAGE}:1.4", back


async def test_an_image_that_does_not_exist_fails_the_deployment_clearly(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    app = await create_image_app(api, f"{IMAGE}:missing")
    dep = await deploy(api, app["id"])
    assert dep["status"] == "failed"
    assert f"image {IMAGE}:missing does not exist on registry.example.com" in dep["error"], dep


async def test_docker_hub_short_names_are_pulled_fully_qualified(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    fake_runtime.publish("docker.io/library/nginx:stable", body="hub")
    app = await create_image_app(api, "nginx:stable")
    dep = await deploy(api, app["id"])
    assert dep["status"] == "running" and dep["image"] == "docker.io/library/nginx:stable", dep


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "git_url"),
        ({"name": "x", "source": {"kind": "image"}}, "image"),
        ({"name": "x", "source": {"kind": "image", "image": "Not An Image!"}}, "image"),
        ({"name": "x", "source": {"kind": "git", "image": "busybox"}}, "image"),
        (
            {
                "name": "x",
                "git_url": "https://example.com/a.git",
                "source": {"kind": "image", "image": "busybox"},
            },
            "git_url",
        ),
    ],
)
async def test_bad_sources_name_the_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    code, err = await api.post("/api/apps", json=body)
    assert code in (400, 422), err
    assert field in str(err["error"]), err


async def test_tags_and_commits_go_with_their_kind(api: ApiClient, fake_runtime: FakeRuntime) -> None:
    image_app = await create_image_app(api, f"{IMAGE}:1.4")
    code, err = await api.post(f"/api/apps/{image_app['id']}/deploy", json={"commit": "abcdef1"})
    assert code == 422 and err["error"]["details"][0]["field"] == "commit", err
    code, git_app = await api.post(
        "/api/apps", json={"name": "gitapp", "git_url": "https://example.com/a.git"}
    )
    assert code == 201 and git_app["source_kind"] == "git" and git_app["image"] is None, git_app
    code, err = await api.post(f"/api/apps/{git_app['id']}/deploy", json={"image": f"{IMAGE}:1.5"})
    assert code == 422 and err["error"]["details"][0]["field"] == "image", err
    # Switching a git app to an image and back.
    code, switched = await api.put(
        f"/api/apps/{git_app['id']}", json={"source": {"kind": "image", "image": f"{IMAGE}:2"}}
    )
    assert code == 200 and switched["source_kind"] == "image" and switched["git_url"] == "", switched
    code, err = await api.put(f"/api/apps/{git_app['id']}", json={"source": {"kind": "git"}})
    assert code == 422 and err["error"]["details"][0]["field"] == "git_url", err
    code, err = await api.put(
        f"/api/apps/{git_app['id']}",
        json={"source": {"kind": "image", "image": f"{IMAGE}:2"}, "git_url": "https://example.com/b.git"},
    )
    assert code == 422 and err["error"]["details"][0]["field"] == "git_url", err
    # A git_url alone switches an image app back to git.
    code, back = await api.put(f"/api/apps/{git_app['id']}", json={"git_url": "https://example.com/c.git"})
    assert code == 200 and back["source_kind"] == "git" and back["image"] is None, back
    code, _ = await api.put(
        f"/api/apps/{git_app['id']}", json={"source": {"kind": "image", "image": f"{IMAGE}:2"}}
    )
    assert code == 200
    code, back = await api.put(
        f"/api/apps/{git_app['id']}", json={"source": {"kind": "git"}, "git_url": "https://example.com/b.git"}
    )
    assert code == 200 and back["source_kind"] == "git" and back["image"] is None, back


@pytest.mark.parametrize(
    ("ref", "registry", "qualified"),
    [
        ("nginx", "docker.io", "docker.io/library/nginx:latest"),
        ("nginx:stable", "docker.io", "docker.io/library/nginx:stable"),
        ("team/api:1", "docker.io", "docker.io/team/api:1"),
        ("docker.io/library/redis:7", "docker.io", "docker.io/library/redis:7"),
        ("ghcr.io/acme/api", "ghcr.io", "ghcr.io/acme/api:latest"),
        ("127.0.0.1:5443/team/api:1.4", "127.0.0.1:5443", "127.0.0.1:5443/team/api:1.4"),
        ("localhost/rivetr/app:x", "localhost", "localhost/rivetr/app:x"),
        ("ghcr.io/acme/api@sha256:" + "a" * 64, "ghcr.io", "ghcr.io/acme/api@sha256:" + "a" * 64),
    ],
)
def test_references_are_qualified_and_their_registry_found(ref: str, registry: str, qualified: str) -> None:
    from rivetr_core.engine.image_source import check_image_ref, qualify, registry_of

    assert check_image_ref(f" {ref} ") == ref
    assert registry_of(ref) == registry and qualify(ref) == qualified


def test_a_digest_reference_drops_the_tag() -> None:
    from rivetr_core.engine.image_source import digest_reference

    digest = "sha256:" + "b" * 64
    assert digest_reference("127.0.0.1:5443/team/api:1.4", digest) == f"127.0.0.1:5443/team/api@{digest}"
    assert digest_reference("nginx", digest) == f"docker.io/library/nginx@{digest}"
    assert digest_reference(f"ghcr.io/a/b@{digest}", digest) == f"ghcr.io/a/b@{digest}"


@pytest.mark.parametrize("bad", ["", "UPPER/case", "a b", "ghcr.io/acme/api:", "api@sha256:short", "-lead/x"])
def test_bad_references_are_refused(bad: str) -> None:
    from rivetr_core.engine.image_source import check_image_ref

    with pytest.raises(ValueError, match="image reference"):
        check_image_ref(bad)
