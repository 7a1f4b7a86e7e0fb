"""The nixpacks builder: the command lines it runs, the unavailable path (PATH without the CLI: registration,
plugin listing, a 422 on selection, no detection), and one real build that runs only where the ``nixpacks`` CLI
is installed. Running the CLI (output streaming, cancellation) is core's cliproc, tested in tests/test_cliproc.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from rivetr_builder_nixpacks.builder import (
    NixpacksBuilder,
    build_command,
    plan_command,
    summarize_plan,
)
from rivetr_builder_nixpacks.plugin import NAME, PRIORITY, unavailable

from rivetr_core.contract import BuildFailed, BuildRequest
from rivetr_core.contract.cliproc import child_env
from rivetr_core.plugins import RivetrPluginManager, unavailable_reason
from tests.support.server import ApiClient, make_config

APPS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "apps"
REASON = "`nixpacks` not on PATH (install from https://nixpacks.com)"


@pytest.fixture
def no_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding only an empty directory: no ``nixpacks`` to find."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def _request(source: Path, **extra: Any) -> BuildRequest:
    return BuildRequest(source_dir=source, tag="localhost/rivetr/web:d1", **extra)


# ------------------------------------------------------------------------------------------ command lines
def test_build_command_carries_tag_labels_variable_names_and_options(tmp_path: Path) -> None:
    request = _request(
        tmp_path,
        build_args={"API_TOKEN": "s3cret-value", "SOURCE_COMMIT": "abc123"},
        labels={"rivetr.app": "a1", "rivetr.deployment": "d1"},
        cpu_limit=0.5,
        memory_limit=256 * 1024 * 1024,
        no_cache=True,
        settings={"install_command": "npm ci", "start_command": "node server.js", "base_image": "node:22"},
    )
    args = build_command("/opt/bin/nixpacks", request, tmp_path)
    assert args == [
        "/opt/bin/nixpacks",
        "build",
        str(tmp_path),
        "--name",
        "localhost/rivetr/web:d1",
        "--label",
        "rivetr.app=a1",
        "--label",
        "rivetr.deployment=d1",
        "--env",
        "API_TOKEN",
        "--env",
        "SOURCE_COMMIT",
        "--install-cmd",
        "npm ci",
        "--start-cmd",
        "node server.js",
        "--no-cache",
        "--cpu-quota",
        "50000",
        "--memory",
        str(256 * 1024 * 1024),
    ]
    # Values travel in the CLI's environment, never on its command line (ps shows argv to every user).
    assert not any("s3cret" in arg or "abc123" in arg for arg in args)
    env = child_env(request.build_args, "unix:///run/podman/podman.sock", {"PATH": "/usr/bin"})
    assert env == {
        "PATH": "/usr/bin",
        "API_TOKEN": "s3cret-value",
        "SOURCE_COMMIT": "abc123",
        "DOCKER_HOST": "unix:///run/podman/podman.sock",
    }


def test_minimal_request_and_plan_command(tmp_path: Path) -> None:
    request = _request(tmp_path)
    assert build_command("nixpacks", request, tmp_path) == [
        "nixpacks",
        "build",
        str(tmp_path),
        "--name",
        "localhost/rivetr/web:d1",
    ]
    with_vars = _request(tmp_path, build_args={"A": "1"}, settings={"build_command": "make"})
    assert plan_command("nixpacks", with_vars, tmp_path) == [
        "nixpacks",
        "plan",
        str(tmp_path),
        "--format",
        "json",
        "--env",
        "A",
        "--build-cmd",
        "make",
    ]


@pytest.mark.parametrize("name", ["PATH", "DOCKER_HOST", "HOME"])
def test_a_build_variable_the_cli_needs_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BuildFailed, match=f"{name} cannot be given to the nixpacks builder"):
        build_command("nixpacks", _request(tmp_path, build_args={name: "x"}), tmp_path)


def test_plan_summary() -> None:
    # The shape `nixpacks plan --format json` prints (providers, phases with cmds, start).
    data = {
        "providers": ["node"],
        "phases": {
            "setup": {"nixPkgs": ["nodejs_18"]},
            "install": {"cmds": ["npm ci"]},
            "build": {"cmds": ["npm run build"]},
        },
        "start": {"cmd": "npm run start"},
    }
    assert summarize_plan(data) == {
        "builder": "nixpacks",
        "detector": "node",
        "facts": {"providers": ["node"], "commands": {"install": ["npm ci"], "build": ["npm run build"]}},
        "start_command": "npm run start",
    }
    assert summarize_plan({})["detector"] is None


# ------------------------------------------------------------------------------------------ unavailable
def test_registered_after_autodetect_and_unavailable_without_the_cli(no_cli: Path, tmp_path: Path) -> None:
    builders = RivetrPluginManager().builders()
    registration = builders[NAME]
    assert registration.priority == PRIORITY > builders["autodetect"].priority
    assert registration.description == f"unavailable: {REASON}"
    assert unavailable() == REASON and unavailable_reason(registration) == REASON
    source = tmp_path / "src"
    shutil.copytree(APPS / "static-site", source)
    assert NixpacksBuilder().detect(source, _request(source)) is False  # "auto" never picks it


async def test_build_and_plan_without_the_cli_fail_naming_the_reason(no_cli: Path, tmp_path: Path) -> None:
    builder = NixpacksBuilder()
    with pytest.raises(BuildFailed, match="the nixpacks builder is unavailable: `nixpacks` not on PATH"):
        async for _ in builder.build(_request(tmp_path), object()):  # type: ignore[arg-type]
            pass
    with pytest.raises(BuildFailed, match=r"install from https://nixpacks\.com"):
        builder.plan(tmp_path, _request(tmp_path))


def test_plugins_list_shows_it_unavailable(no_cli: Path) -> None:
    def listing(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rivetr_core.cli.main", "plugins", "list", *extra],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=60,
        )

    table = listing()
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("builder-nixpacks "))
    assert row.split()[2:5] == ["rivetr-builder-nixpacks", "ok", "builder"] and "nixpacks" in row
    assert f"note: nixpacks (builder-nixpacks) is unavailable: {REASON}" in table.stdout
    items = {p["name"]: p for p in json.loads(listing("--json").stdout)}
    assert items["builder-nixpacks"]["unavailable"] == {"nixpacks": REASON}
    assert items["runtime-docker"]["unavailable"] == {}


async def test_selecting_it_without_the_cli_is_a_422(no_cli: Path, tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        api = ApiClient(app)
        base = {"name": "nix-app", "git_url": "https://example.com/a/b.git"}
        code, err = await api.post("/api/apps", json={**base, "builder": NAME})
        assert code == 422, err
        assert err["error"]["code"] == "validation_error"
        [detail] = err["error"]["details"]
        assert detail["field"] == "builder"
        assert detail["message"] == f"The nixpacks builder is unavailable: {REASON}"
        code, app_body = await api.post("/api/apps", json=base)
        assert code == 201, app_body
        code, err = await api.put(f"/api/apps/{app_body['id']}", json={"builder": NAME})
        assert code == 422 and REASON in err["error"]["message"]
        _, unchanged = await api.get(f"/api/apps/{app_body['id']}")
        assert unchanged["builder"] == "auto"
        code, page = await api.get("/api/plugins?limit=200")
        assert code == 200
        listed = {p["name"]: p for p in page["items"]}
        assert listed["builder-nixpacks"]["status"] == "ok"
        assert listed["builder-nixpacks"]["unavailable"] == {"nixpacks": REASON}


# ------------------------------------------------------------------------------------------ real build
@pytest.mark.skipif(shutil.which("nixpacks") is None, reason="nixpacks CLI not on PATH: not run")
async def test_real_nixpacks_build_is_labelled_on_docker(
    tmp_path: Path, docker_runtime: Any, test_labels: dict[str, str]
) -> None:
    source = tmp_path / "src"
    shutil.copytree(APPS / "static-site", source)
    tag = f"localhost/rivetr/nixpacks-test-{uuid.uuid4().hex[:8]}:d1"
    request = BuildRequest(
        source_dir=source, tag=tag, labels=dict(test_labels), build_args={"SOURCE_COMMIT": "x"}
    )
    builder = NixpacksBuilder()
    assert builder.detect(source, request)
    try:
        log = [line async for line in builder.build(request, docker_runtime)]
        assert log[0].startswith("[nixpacks] ") and "--label" in log[0]
        assert await docker_runtime.image_exists(tag)
        assert tag in await docker_runtime.list_images(test_labels)
    finally:
        await docker_runtime.remove_image(tag, force=True)


def test_a_deployment_naming_it_after_the_cli_went_fails_with_the_reason(
    no_cli: Path, tmp_path: Path
) -> None:
    """An app that chose nixpacks while the CLI was there, deployed after it was removed: the pipeline's
    selection names the reason instead of "its detect() said no"."""
    from types import SimpleNamespace

    from rivetr_core.engine.pipeline import PipelineError
    from rivetr_core.engine.service import DeploymentService

    manager = RivetrPluginManager()
    service = SimpleNamespace(ctx=SimpleNamespace(plugins=manager, plugin_context=lambda: None))
    with pytest.raises(
        PipelineError, match=f"the nixpacks builder the app names is unavailable: {re.escape(REASON)}"
    ):
        DeploymentService.select_builder(service, tmp_path, _request(tmp_path), NAME)  # type: ignore[arg-type]
