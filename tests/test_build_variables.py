"""Build-time variables and no-cache rebuilds through the API and the pipeline (issue 19), on the fake runtime.

An env var's ``scope`` decides where its value goes: ``runtime`` to the container only, ``build`` to the build's
arguments only, ``both`` to both. Secret build values reach the builder (named in ``secret_build_args``) and are
masked in the build log. A probe builder registered like any plugin shows what the pipeline hands builders;
the real engines' image history is checked in plugins/builder-auto/tests/test_build_secrets.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core import hookimpl
from rivetr_core.contract import BuilderRegistration, BuildRequest, BuildSpec, ContainerRuntime
from rivetr_core.secrets import MASK
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.test_deploy_pipeline import deploy, make_app, wait_status

SECRET = "s3cr3t-token-value"


class ProbeBuilder:
    """Prints what it was given (as a careless build script would), then builds with the runtime."""

    name = "probe"

    def __init__(self, seen: list[BuildRequest]) -> None:
        self.seen = seen

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        return True

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        self.seen.append(request)
        for key, value in sorted(request.build_args.items()):
            yield f"build arg {key}={value}"
        spec = BuildSpec(context_dir=request.source_dir, tag=request.tag, no_cache=request.no_cache)
        async for line in runtime.build(spec):
            yield line


class ProbePlugin:
    def __init__(self) -> None:
        self.seen: list[BuildRequest] = []

    @hookimpl
    def rivetr_builders(self) -> list[BuilderRegistration]:
        return [BuilderRegistration(name="probe", factory=lambda ctx: ProbeBuilder(self.seen), priority=900)]


@pytest.fixture
def probe() -> ProbePlugin:
    return ProbePlugin()


@pytest.fixture
async def bapi(tmp_path: Path, fake_runtime: FakeRuntime, probe: ProbePlugin) -> AsyncIterator[ApiClient]:
    async with api_on(fake_runtime, make_config(tmp_path / "data"), [probe]) as client:
        yield client


async def _set(api: ApiClient, app_id: str, key: str, value: str, **extra: Any) -> dict:
    code, body = await api.post(f"/api/apps/{app_id}/env-vars", json={"key": key, "value": value, **extra})
    assert code == 201, body
    return body


async def test_scope_is_stored_listed_and_changed(bapi: ApiClient, git_server: Any) -> None:
    app = await make_app(bapi, git_server.create_repo("web"))
    base = f"/api/apps/{app['id']}/env-vars"
    assert (await _set(bapi, app["id"], "PLAIN", "1"))["scope"] == "runtime"  # the default
    assert (await _set(bapi, app["id"], "NPM_TOKEN", SECRET, is_secret=True, scope="build"))[
        "scope"
    ] == "build"
    code, listed = await bapi.get(base)
    assert code == 200
    assert {v["key"]: (v["scope"], v["value"]) for v in listed["items"]} == {
        "NPM_TOKEN": ("build", MASK),
        "PLAIN": ("runtime", "1"),
    }
    code, changed = await bapi.put(f"{base}/PLAIN", json={"scope": "both"})
    assert code == 200 and changed["scope"] == "both" and changed["value"] == "1"
    code, error = await bapi.post(base, json={"key": "BAD", "value": "x", "scope": "image"})
    assert code == 422 and "scope" in str(error["error"]["details"]), error
    code, error = await bapi.put(f"{base}/PLAIN", json={"scope": "everywhere"})
    assert code == 422, error
    code, still = await bapi.get(f"{base}/PLAIN")
    assert still["scope"] == "both"  # a refused change changed nothing


async def test_scopes_route_values_and_secret_build_values_are_masked(
    bapi: ApiClient, git_server: Any, fake_runtime: FakeRuntime, probe: ProbePlugin
) -> None:
    app = await make_app(bapi, git_server.create_repo("web"), builder="probe")
    await _set(bapi, app["id"], "RUN_ONLY", "run-value")
    await _set(bapi, app["id"], "BUILD_ONLY", "build-value", scope="build")
    await _set(bapi, app["id"], "EVERYWHERE", "both-value", scope="both")
    await _set(bapi, app["id"], "NPM_TOKEN", SECRET, is_secret=True, scope="build")
    await _set(bapi, app["id"], "SHORT", "abc", is_secret=True, scope="build")
    done = await wait_status(bapi, (await deploy(bapi, app["id"]))["id"], ("running", "failed"))
    assert done["status"] == "running", done["error"]

    request = probe.seen[-1]
    assert {k: v for k, v in request.build_args.items() if k != "SOURCE_COMMIT"} == {
        "BUILD_ONLY": "build-value",
        "EVERYWHERE": "both-value",
        "NPM_TOKEN": SECRET,
        "SHORT": "abc",
    }
    assert request.build_args["SOURCE_COMMIT"] == done["commit_sha"]
    assert sorted(request.secret_build_args) == ["NPM_TOKEN", "SHORT"]
    env = fake_runtime.runs[-1].env
    assert env["RUN_ONLY"] == "run-value" and env["EVERYWHERE"] == "both-value"
    assert "BUILD_ONLY" not in env and "NPM_TOKEN" not in env

    code, lines = await bapi.get(f"/api/deployments/{done['id']}/logs")
    assert code == 200
    text = "\n".join(line["line"] for line in lines)
    assert "build arg BUILD_ONLY=build-value" in text  # not secret: shown
    assert "build arg NPM_TOKEN=" + MASK in text and SECRET not in text
    # Values under four characters are not masked (documented): masking "abc" would garble every line.
    assert "build arg SHORT=abc" in text


async def test_no_cache_reaches_the_build_and_is_recorded(
    bapi: ApiClient, git_server: Any, fake_runtime: FakeRuntime
) -> None:
    app = await make_app(bapi, git_server.create_repo("web"))
    first = await wait_status(bapi, (await deploy(bapi, app["id"]))["id"], ("running", "failed"))
    assert first["status"] == "running" and first["no_cache"] is False
    rebuilt = await wait_status(
        bapi, (await deploy(bapi, app["id"], no_cache=True))["id"], ("running", "failed")
    )
    assert rebuilt["status"] == "running" and rebuilt["no_cache"] is True
    assert [call["spec"].no_cache for call in fake_runtime.calls_to("build")] == [False, True]
    code, lines = await bapi.get(f"/api/deployments/{rebuilt['id']}/logs")
    assert "without the build cache" in lines[0]["line"]
    code, error = await bapi.post(f"/api/apps/{app['id']}/deploy", json={"no_cache": "yes please"})
    assert code == 422, error


async def test_no_cache_is_refused_for_an_image_app(bapi: ApiClient) -> None:
    code, app = await bapi.post(
        "/api/apps",
        json={"name": "img", "source": {"kind": "image", "image": "localhost/rivetr-test/busybox:latest"}},
    )
    assert code == 201, app
    code, error = await bapi.post(f"/api/apps/{app['id']}/deploy", json={"no_cache": True})
    assert code == 422 and "pre-built image" in error["error"]["message"], error
    assert [d["field"] for d in error["error"]["details"]] == ["no_cache"], error
    code, deployments = await bapi.get(f"/api/apps/{app['id']}/deployments")
    assert deployments["items"] == []  # refused before anything was queued
