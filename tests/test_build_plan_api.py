"""``GET /api/apps/{id}/build-plan``: the app's branch cloned from a real git daemon on loopback, the builder
selected as a deployment would (Dockerfile first, then the autodetect plugin), its plan answered; the errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.gitserver import GitServer, busybox_app
from tests.support.server import ApiClient, api_on, make_config

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    """The app on the fake runtime from the start: a plan needs no engine, and nothing here may reach one."""
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


def sample(name: str) -> dict[str, tuple[str, int]]:
    root = APPS / name
    return {str(p.relative_to(root)): (p.read_text(), 0o644) for p in sorted(root.rglob("*")) if p.is_file()}


async def make_app(api: ApiClient, url: str, name: str, **extra: Any) -> dict[str, Any]:
    code, app = await api.post("/api/apps", json={"name": name, "git_url": url, "port": 8000, **extra})
    assert code == 201, app
    return app


async def test_plan_of_a_repository_without_dockerfile(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    repo = git_server.create_repo("flask", sample("flask-requirements"))
    app = await make_app(api, repo.url, "flask")
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 200, plan
    assert (plan["builder"], plan["detector"], plan["framework"]) == ("autodetect", "python", "flask")
    assert plan["port"] == "8000"  # the app's port
    assert plan["facts"]["app"] == "app:app"
    assert 'COPY ["requirements.txt", "./"]' in plan["dockerfile"]
    assert "ENV PORT=8000" in plan["dockerfile"]
    assert fake_runtime.calls_to("build") == []  # a plan builds nothing

    # The app's overrides reach the builder; a new commit is seen at once (cloned per request).
    code, updated = await api.put(
        f"/api/apps/{app['id']}", json={"start_command": "python app.py", "base_image": "python:3.11-slim"}
    )
    assert code == 200 and updated["start_command"] == "python app.py", updated
    for bad in (
        {"base_image": "not an image!"},
        {"install_command": "pip install\nrm -rf /"},
        {"build_command": ""},
    ):
        code, error = await api.put(f"/api/apps/{app['id']}", json=bad)
        assert code == 422 and [d["field"] for d in error["error"]["details"]] == list(bad), error
    repo.write("main.py", "print('hi')\n")
    repo.commit("main.py")
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 200, plan
    assert (plan["start_command"], plan["base_image"]) == ("python app.py", "python:3.11-slim")
    assert plan["dockerfile"].splitlines()[1] == "FROM python:3.11-slim"

    # Build variables appear by name; a secret one moves the install into a build stage (docs/builds.md).
    for key, value, secret in (("FLAVOUR", "vanilla", False), ("PIP_TOKEN", "tok-value", True)):
        code, body = await api.post(
            f"/api/apps/{app['id']}/env-vars",
            json={"key": key, "value": value, "is_secret": secret, "scope": "build"},
        )
        assert code == 201, body
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 200, plan
    text = plan["dockerfile"]
    assert (
        "ARG FLAVOUR" in text
        and "ARG PIP_TOKEN" in text
        and "tok-value" not in text
        and "vanilla" not in text
    )
    assert "FROM python:3.11-slim AS build" in text and 'COPY --from=build ["/app", "/app"]' in text


async def test_plan_of_a_repository_with_dockerfile(api: ApiClient, git_server: GitServer) -> None:
    # A Dockerfile next to an index.html: the Dockerfile builder (priority 100) wins under "auto".
    files = {**busybox_app(), "index.html": ("<h1>static</h1>", 0o644)}
    app = await make_app(api, git_server.create_repo("docker", files).url, "docker")
    code, plan = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert (code, plan) == (
        200,
        {
            "builder": "dockerfile",
            "detector": None,
            "port": "8000",
            "port_source": "app",
            "port_reason": "the app's port",
        },
    )


async def test_no_builder_is_a_422_saying_what_was_looked_for(api: ApiClient, git_server: GitServer) -> None:
    repo = git_server.create_repo("docs", {"README.md": ("# just docs\n", 0o644)})
    app = await make_app(api, repo.url, "docs")
    code, body = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 422, body
    error = body["error"]
    assert error["code"] == "no_builder"
    assert "No builder can build this source" in error["message"]
    assert error["details"]["builders"]["dockerfile"] == "detect() said no"
    reason = error["details"]["builders"]["autodetect"]
    assert "go.mod" in reason and "package.json" in reason and "Add a Dockerfile" in reason

    # An app naming the builder: only that one is asked, and its reason is given.
    code, body = await api.put(f"/api/apps/{app['id']}", json={"builder": "autodetect"})
    assert code == 200, body
    code, body = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 422 and body["error"]["code"] == "no_builder", body
    assert list(body["error"]["details"]["builders"]) == ["autodetect"]


async def test_a_detected_project_the_builder_cannot_plan(api: ApiClient, git_server: GitServer) -> None:
    repo = git_server.create_repo(
        "lib", {"go.mod": ("module x\n", 0o644), "lib.go": ("package lib\n", 0o644)}
    )
    app = await make_app(api, repo.url, "lib")
    code, body = await api.get(f"/api/apps/{app['id']}/build-plan")
    assert code == 422, body
    assert body["error"]["code"] == "build_failed"
    assert "no main package" in body["error"]["message"]


async def test_plan_errors(api: ApiClient, git_server: GitServer) -> None:
    code, body = await api.get("/api/apps/nope/build-plan")
    assert code == 404 and body["error"]["code"] == "not_found", body

    missing = await make_app(api, f"git://127.0.0.1:{git_server.port}/missing.git", "missing")
    code, body = await api.get(f"/api/apps/{missing['id']}/build-plan")
    assert code == 409 and body["error"]["code"] == "clone_failed", body
    assert "Could not clone the app's repository" in body["error"]["message"]

    code, image = await api.post(
        "/api/apps", json={"name": "img", "source": {"kind": "image", "image": "busybox:stable"}}
    )
    assert code == 201, image
    code, body = await api.get(f"/api/apps/{image['id']}/build-plan")
    assert code == 409 and body["error"]["code"] == "image_app", body
    assert body["error"]["details"] == {"source_kind": "image", "image": "busybox:stable"}


LAZY_PROBE = """
import asyncio, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, api_on, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

FEATURE = ("rivetr_core.services.build_plan", "rivetr_builder_auto.builder", "rivetr_builder_auto.detectors")

def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=cwd, check=True,
                   capture_output=True)

async def main():
    base = Path(tempfile.mkdtemp())
    repo = base / "site"
    repo.mkdir()
    (repo / "index.html").write_text("<h1>hi</h1>")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "site", cwd=repo)
    data = base / "data"
    data.mkdir()
    app = create_app(migrated_config(data))
    async with app.test_app():
        api = ApiClient(app)
        code, body = await api.post("/api/apps", json={"name": "site", "git_url": str(repo), "port": 80})
        assert code == 201, body
        print("idle", [m for m in FEATURE if m in sys.modules])
        code, plan = await api.get(f"/api/apps/{body['id']}/build-plan")
        assert code == 200 and plan["detector"] == "static", plan
        print("used", [m for m in FEATURE if m in sys.modules])

asyncio.run(main())
"""


def test_plans_load_with_their_first_use_not_at_start() -> None:
    """The plan service and the autodetect builder's code load with the first plan, not at server start (idle
    memory pays only for the blueprint and the plugin's registration)."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "idle []" in out.stdout, out.stdout
    assert (
        "used ['rivetr_core.services.build_plan', 'rivetr_builder_auto.builder', 'rivetr_builder_auto.detectors']"
        in out.stdout
    ), out.stdout


async def test_a_deployment_without_dockerfile_is_built_by_autodetect(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    """The pipeline under "auto": no Dockerfile, so the autodetect builder (found through the plugin manager)
    builds; its Dockerfile is in the deployment's log and reaches the engine as a file outside the checkout."""
    from tests.test_deploy_pipeline import deploy_and_wait

    repo = git_server.create_repo("site", sample("static-site"))
    app = await make_app(api, repo.url, "site")
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    code, log = await api.get(f"/api/deployments/{done['id']}/logs")
    assert code == 200, log
    lines = [entry["line"] for entry in log]
    assert any("with the autodetect builder" in line for line in lines), lines
    assert "[autodetect] detected static with the static detector" in lines
    assert "[autodetect]   FROM busybox:stable" in lines
    (spec,) = [call["spec"] for call in fake_runtime.calls_to("build")]
    assert Path(spec.dockerfile).is_absolute() and "/builds/" not in spec.dockerfile


async def test_a_deployment_nothing_can_build_still_fails_with_no_builder(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    from tests.test_deploy_pipeline import deploy_and_wait

    repo = git_server.create_repo("docs", {"README.md": ("# docs only\n", 0o644)})
    app = await make_app(api, repo.url, "docs")
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "failed", done
    assert "no builder can build this source" in done["error"]
    assert "builders: dockerfile, autodetect" in done["error"]
    # What the autodetect builder looked for, and the way out.
    assert "it looked for go.mod (Go); requirements.txt, pyproject.toml or Pipfile (Python)" in done["error"]
    assert (
        "Add a Dockerfile" in done["error"] and "not on PATH" not in done["error"]
    )  # unavailable: not asked
    assert fake_runtime.calls_to("build") == []


async def test_a_named_autodetect_builder_says_what_it_looked_for(
    api: ApiClient, git_server: GitServer, fake_runtime: FakeRuntime
) -> None:
    from tests.test_deploy_pipeline import deploy_and_wait

    repo = git_server.create_repo("notes", {"README.md": ("# notes\n", 0o644)})
    app = await make_app(api, repo.url, "notes", builder="autodetect")
    done = await deploy_and_wait(api, app["id"], ("running", "failed"))
    assert done["status"] == "failed", done
    assert done["error"].startswith(
        "the autodetect builder the app names cannot build this source (the autodetect"
    )
    assert "it looked for go.mod (Go)" in done["error"] and "Add a Dockerfile" in done["error"], done["error"]
    assert fake_runtime.calls_to("build") == []
