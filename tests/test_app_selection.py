"""An app selects its builder and health check by name (API, validation, pipeline), against
``rivetr_core.testing.FakeRuntime`` and a real git daemon. The tcp and command checks against real containers on
docker and podman are in tests/test_health_checks_engines.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rivetr_core import hookimpl
from rivetr_core.contract import (
    BuilderRegistration,
    BuildRequest,
    ContainerRuntime,
    HealthCheckRegistration,
    HealthResult,
    HealthTarget,
)
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, make_config
from tests.test_deploy_pipeline import deploy_and_wait, make_app


class RecordingCheck:
    """A third-party health check: records every target it is called with; healthy from the 2nd attempt."""

    name = "probe-file"

    def __init__(self) -> None:
        self.calls: list[HealthTarget] = []

    async def check(self, target: HealthTarget) -> HealthResult:
        self.calls.append(target)
        ok = len(self.calls) >= 2
        return HealthResult(ok, f"attempt {len(self.calls)} {'ok' if ok else 'not yet'}")


class EagerBuilder:
    """A third-party builder that says yes to every source (priority before the dockerfile builder)."""

    name = "eager"

    def __init__(self, says: bool) -> None:
        self.says = says
        self.built: list[str] = []

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        return self.says

    async def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        self.built.append(request.tag)
        # Reuse the fake engine's build so the deployment can run: the source has the fake's files.
        from rivetr_core.contract import BuildSpec

        async for line in runtime.build(BuildSpec(context_dir=request.source_dir, tag=request.tag)):
            yield line
        yield "built by eager"


class ThirdParty:
    __rivetr_name__ = "third-party-test"

    def __init__(self) -> None:
        self.check = RecordingCheck()
        self.builder = EagerBuilder(says=True)

    @hookimpl
    def rivetr_health_checks(self) -> list[HealthCheckRegistration]:
        return [HealthCheckRegistration(name="probe-file", factory=lambda ctx: self.check)]

    @hookimpl
    def rivetr_builders(self) -> list[BuilderRegistration]:
        return [BuilderRegistration(name="eager", factory=lambda ctx: self.builder, priority=1)]


@pytest.fixture
def third_party() -> ThirdParty:
    return ThirdParty()


@pytest.fixture
async def sapi(tmp_path: Path, third_party: ThirdParty) -> AsyncIterator[tuple[ApiClient, FakeRuntime]]:
    from rivetr_core.app import create_app

    runtime = FakeRuntime()
    config = make_config(tmp_path / "data", runtime={"max_concurrent_deployments": 1})
    app = create_app(config, plugins=[third_party])
    app.extensions["rivetr_ctx"]._runtime = runtime
    try:
        async with app.test_app():
            yield ApiClient(app), runtime
    finally:
        runtime.shutdown()


async def _logs(api: ApiClient, dep_id: str) -> list[str]:
    _, logs = await api.get(f"/api/deployments/{dep_id}/logs")
    return [entry["line"] for entry in logs]


# ------------------------------------------------------------------------------------------- health checks
async def test_pipeline_runs_the_selected_plugin_check_with_its_options(sapi, git_server, third_party):
    api, runtime = sapi
    repo = git_server.create_repo("web")
    app = await make_app(
        api,
        repo,
        builder="dockerfile",
        health_check={"kind": "probe-file", "file": "/tmp/ready", "min_size": 3, "retries": 4, "timeout": 2},
    )
    assert app["health_check"]["kind"] == "probe-file"
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    calls = third_party.check.calls
    assert len(calls) == 2  # called until it said yes, not the http check
    target = calls[0]
    assert target.options == {"file": "/tmp/ready", "min_size": 3, "path": "/", "status": None}
    assert target.timeout == 2
    assert target.container_id == done["container_id"]
    assert target.runtime is runtime
    assert f"{target.host}:{target.port}" == done["upstream"]
    lines = await _logs(api, done["id"])
    assert "health check passed: probe-file check → attempt 2 ok (attempt 2)" in lines


async def test_a_failing_plugin_check_fails_the_deployment_and_an_exception_is_a_failed_attempt(
    sapi, git_server, third_party
):
    api, runtime = sapi
    calls = 0

    async def broken(target: HealthTarget) -> HealthResult:
        nonlocal calls
        calls += 1
        raise RuntimeError("plugin bug")

    third_party.check.check = broken  # type: ignore[method-assign]
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, builder="dockerfile", health_check={"kind": "probe-file", "retries": 2})
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "failed"
    assert calls == 2
    assert (
        "health check failed after 2 attempts: probe-file check failed: RuntimeError('plugin bug')"
        in (done["error"])
    )
    assert runtime.live() == []


async def test_tcp_check_selected_by_an_app(sapi, git_server):
    """The built-in tcp check runs instead of http: the fake container answers HTTP 500, which http refuses
    and tcp accepts (the port is open)."""
    api, _ = sapi
    repo = git_server.create_repo("web")
    repo.write("UNHEALTHY", "")
    repo.commit("answers 500")
    app = await make_app(api, repo, builder="dockerfile", health_check={"kind": "tcp", "retries": 3})
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    assert any(
        line.startswith("health check passed: tcp check → port ") for line in await _logs(api, done["id"])
    )


async def test_legacy_fields_map_onto_the_http_check(sapi):
    api, _ = sapi
    code, app = await api.post(
        "/api/apps",
        json={
            "name": "legacy",
            "git_url": "https://example.com/a/b.git",
            "healthcheck_path": "/up",
            "healthcheck_status": 204,
            "healthcheck_retries": 7,
        },
    )
    assert code == 201, app
    assert app["builder"] == "auto"
    assert app["health_check"] == {
        "kind": "http",
        "path": "/up",
        "status": 204,
        "timeout": 5.0,
        "retries": 7,
        "interval": 1.0,
    }
    # health_check's options and the old fields are the same values
    code, app = await api.put(
        f"/api/apps/{app['id']}",
        json={"health_check": {"kind": "http", "path": "/ready", "interval": 0.5}},
    )
    assert code == 200, app
    assert app["healthcheck_path"] == "/ready" and app["healthcheck_interval"] == 0.5
    assert app["health_check"]["path"] == "/ready" and app["healthcheck_retries"] == 7
    code, app = await api.put(
        f"/api/apps/{app['id']}",
        json={"health_check": {"kind": "command", "command": ["sh", "-c", "test -f /ready"]}},
    )
    assert code == 200, app
    assert app["health_check"] == {
        "kind": "command",
        "command": ["sh", "-c", "test -f /ready"],
        "timeout": 5.0,
        "retries": 7,
        "interval": 0.5,
    }
    code, app = await api.put(f"/api/apps/{app['id']}", json={"healthcheck_path": "/x"})
    assert code == 200 and app["health_check"]["kind"] == "command"  # the old field alone keeps the kind
    code, app = await api.put(
        f"/api/apps/{app['id']}",
        json={"healthcheck_path": "/a", "health_check": {"kind": "http", "path": "/b"}},
    )
    assert code == 200 and app["healthcheck_path"] == "/b"  # both given: health_check's option wins


@pytest.mark.parametrize(
    ("body", "field", "available"),
    [
        (
            {"builder": "no-such-builder"},
            "builder",
            ["auto", "autodetect", "buildpacks", "dockerfile", "eager", "nixpacks"],
        ),
        (
            {"health_check": {"kind": "grpc"}},
            "health_check.kind",
            ["command", "http", "probe-file", "tcp"],
        ),
    ],
)
async def test_unknown_names_are_422_listing_what_is_installed(sapi, body, field, available):
    api, _ = sapi
    base = {"name": "named", "git_url": "https://example.com/a/b.git"}
    code, err = await api.post("/api/apps", json={**base, **body})
    assert code == 422, err
    assert err["error"]["code"] == "validation_error"
    assert err["error"]["details"] == [
        {"field": field, "message": err["error"]["details"][0]["message"], "available": available}
    ]
    assert all(name in err["error"]["message"] for name in available)
    code, app = await api.post("/api/apps", json=base)
    assert code == 201
    code, err = await api.put(f"/api/apps/{app['id']}", json=body)
    assert code == 422 and err["error"]["details"][0]["available"] == available
    _, unchanged = await api.get(f"/api/apps/{app['id']}")
    assert unchanged["builder"] == "auto" and unchanged["health_check"]["kind"] == "http"


@pytest.mark.parametrize(
    ("health_check", "message"),
    [
        ({"kind": "tcp", "path": "/"}, "the tcp check takes no path"),
        ({"kind": "command"}, "command: required"),
        ({"kind": "command", "command": []}, "non-empty list of strings"),
        ({"kind": "command", "command": "test -f /ready"}, "non-empty list of strings"),
        ({"kind": "http", "command": ["true"]}, "not an option of the http check"),
        ({"kind": "http", "retries": 0}, "retries: must be at least 1"),
        ({"path": "/"}, "kind: required"),
        ("http", "valid dictionary"),
    ],
)
async def test_bad_health_check_shapes_are_422(sapi, health_check, message):
    api, _ = sapi
    code, err = await api.post(
        "/api/apps",
        json={"name": "bad", "git_url": "https://example.com/a/b.git", "health_check": health_check},
    )
    assert code == 422, err
    assert err["error"]["details"][0]["field"] == "health_check"
    assert message in err["error"]["details"][0]["message"]


async def test_openapi_lists_the_installed_names(sapi):
    api, _ = sapi
    _, spec = await api.get("/openapi.json")
    bodies = {
        method: spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        for path, method in (("/api/apps", "post"), ("/api/apps/{app_id}", "put"))
    }
    # The optional CLI builders are listed only where their CLI is on PATH (the API refuses them otherwise).
    optional = [name for name, cli in (("buildpacks", "pack"), ("nixpacks", "nixpacks")) if shutil.which(cli)]
    installed = ["auto", *sorted(["autodetect", "dockerfile", "eager", *optional])]
    assert bodies["post"]["properties"]["builder"]["enum"] == installed
    assert bodies["put"]["properties"]["builder"]["enum"] == installed
    kinds = [b["properties"]["kind"] for b in bodies["put"]["properties"]["health_check"]["oneOf"]]
    assert kinds == [
        {"const": "http"},
        {"const": "tcp"},
        {"const": "command"},
        {"type": "string", "enum": ["probe-file"]},
    ]
    assert "x-rivetr-names" not in str(spec)


# ----------------------------------------------------------------------------------------------- builders
async def test_auto_takes_the_first_builder_that_detects_by_priority(sapi, git_server, third_party):
    api, _ = sapi
    repo = git_server.create_repo("web")
    app = await make_app(api, repo)
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    assert third_party.builder.built == [done["image"]]  # eager (priority 1) said yes first


async def test_a_builder_that_detects_never_takes_over_an_app_naming_another(sapi, git_server, third_party):
    api, runtime = sapi
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, builder="dockerfile")
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    assert third_party.builder.built == []
    assert runtime.builds == [done["image"]]
    assert f"building {done['image']} with the dockerfile builder on fake" in await _logs(api, done["id"])


async def test_naming_a_builder_whose_detect_says_no_fails_the_deployment(sapi, git_server, third_party):
    api, runtime = sapi
    third_party.builder.says = False
    repo = git_server.create_repo("web")
    app = await make_app(api, repo, builder="eager")
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "failed"
    assert "the eager builder the app names cannot build this source (its detect() said no)" in done["error"]
    assert runtime.builds == [] and third_party.builder.built == []  # dockerfile did not step in


async def test_a_named_builder_uninstalled_after_it_was_chosen_fails_clearly(tmp_path, git_server, request):
    """The app row names a builder no plugin provides any more (plugin removed): a clear error, no fallback."""
    from rivetr_core.app import create_app

    runtime = FakeRuntime()
    third = ThirdParty()
    config = make_config(tmp_path / "data")
    app = create_app(config, plugins=[third])
    app.extensions["rivetr_ctx"]._runtime = runtime
    repo = git_server.create_repo("web")
    request.addfinalizer(runtime.shutdown)
    async with app.test_app():
        api = ApiClient(app)
        created = await make_app(api, repo, builder="eager", health_check={"kind": "probe-file"})
    app = create_app(config)  # the same data dir, the plugin gone
    app.extensions["rivetr_ctx"]._runtime = runtime
    async with app.test_app():
        api = ApiClient(app)
        done = await deploy_and_wait(api, created["id"], ("running", "failed"))
        assert done["status"] == "failed"
        assert (
            "the app's builder 'eager' is not installed (available: auto, autodetect, buildpacks, dockerfile, nixpacks)"
            in done["error"]
        )
        code, _ = await api.put(f"/api/apps/{created['id']}", json={"builder": "auto"})
        assert code == 200
        done = await deploy_and_wait(api, created["id"], ("running", "failed"))
        assert (
            "the app's health check 'probe-file' is not installed (available: command, http, tcp)"
            in (done["error"])
        )


async def test_openapi_without_plugin_checks_has_only_the_built_in_kinds(tmp_path):
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        _, spec = await ApiClient(app).get("/openapi.json")
    body = spec["paths"]["/api/apps"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # Core's builder and the bundled builder plugins' (in-repo plugins are installed like third-party ones); the
    # optional CLI builders only where their CLI is on PATH.
    optional = [name for name, cli in (("buildpacks", "pack"), ("nixpacks", "nixpacks")) if shutil.which(cli)]
    assert body["properties"]["builder"]["enum"] == ["auto", *sorted(["autodetect", "dockerfile", *optional])]
    branches = body["properties"]["health_check"]["anyOf"][0]["oneOf"]
    assert [b["properties"]["kind"] for b in branches] == [{"const": k} for k in ("http", "tcp", "command")]
