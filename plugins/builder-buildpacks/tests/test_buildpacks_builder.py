"""The buildpacks builder: the ``pack build`` command line, the unavailable path (PATH without ``pack``:
registration, plugin listing, a 422 on selection, no detection), the labelling step on both real engines (pack
cannot label images; cleanup finds images by label), and one real build that runs only where ``pack`` is
installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from rivetr_builder_buildpacks.builder import (
    DEFAULT_BUILDER,
    BuildpacksBuilder,
    build_command,
    intermediate_tag,
    relabel,
)
from rivetr_builder_buildpacks.plugin import NAME, PRIORITY, unavailable

from rivetr_core.contract import BuildFailed, BuildRequest, BuildSpec
from rivetr_core.plugins import RivetrPluginManager, unavailable_reason
from tests.support.server import ApiClient, make_config

APPS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "apps"
BASE = "localhost/rivetr-test/busybox:latest"
REASON = "`pack` not on PATH (install from https://buildpacks.io/docs/for-platform-operators/how-to/integrate-ci/pack/)"


@pytest.fixture
def no_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding only an empty directory: no ``pack`` to find."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def _request(source: Path, tag: str = "localhost/rivetr/web:d1", **extra: Any) -> BuildRequest:
    return BuildRequest(source_dir=source, tag=tag, **extra)


# ------------------------------------------------------------------------------------------ command lines
def test_build_command(tmp_path: Path) -> None:
    request = _request(
        tmp_path,
        build_args={"API_TOKEN": "s3cret-value", "BP_NODE_VERSION": "22"},
        labels={"rivetr.app": "a1"},
        network="rivetr-fork-1",
        no_cache=True,
        settings={"base_image": "paketobuildpacks/builder-jammy-full", "start_command": "npm start"},
    )
    args = build_command("/usr/local/bin/pack", request, tmp_path, "unix:///run/podman/podman.sock")
    assert args == [
        "/usr/local/bin/pack",
        "build",
        "localhost/rivetr/web:d1-cnb",
        "--path",
        str(tmp_path),
        "--builder",
        "paketobuildpacks/builder-jammy-full",
        "--pull-policy",
        "if-not-present",
        "--docker-host",
        "inherit",
        "--env",
        "API_TOKEN",
        "--env",
        "BP_NODE_VERSION",
        "--network",
        "rivetr-fork-1",
        "--clear-cache",
    ]
    assert not any("s3cret" in arg for arg in args)


def test_minimal_command_uses_paketos_builder(tmp_path: Path) -> None:
    assert build_command("pack", _request(tmp_path), tmp_path, None) == [
        "pack",
        "build",
        "localhost/rivetr/web:d1-cnb",
        "--path",
        str(tmp_path),
        "--builder",
        DEFAULT_BUILDER,
        "--pull-policy",
        "if-not-present",
    ]


@pytest.mark.parametrize(
    ("tag", "intermediate"),
    [
        ("localhost/rivetr/web:d1", "localhost/rivetr/web:d1-cnb"),
        ("127.0.0.1:5000/rivetr/web", "127.0.0.1:5000/rivetr/web:cnb"),
        ("web", "web:cnb"),
        ("localhost/rivetr/web:" + "a" * 128, "localhost/rivetr/web:" + "a" * 124 + "-cnb"),
    ],
)
def test_intermediate_tag(tag: str, intermediate: str) -> None:
    assert intermediate_tag(tag) == intermediate
    assert len(intermediate.rpartition(":")[2]) <= 128  # the engines' limit for a tag


def test_a_build_variable_the_cli_needs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="DOCKER_HOST cannot be given to the buildpacks builder"):
        build_command("pack", _request(tmp_path, build_args={"DOCKER_HOST": "tcp://x"}), tmp_path, None)


# ------------------------------------------------------------------------------------------ unavailable
def test_registered_last_and_unavailable_without_the_cli(no_cli: Path, tmp_path: Path) -> None:
    builders = RivetrPluginManager().builders()
    registration = builders[NAME]
    assert registration.priority == PRIORITY > builders["nixpacks"].priority > builders["autodetect"].priority
    assert registration.description == f"unavailable: {REASON}"
    assert unavailable() == REASON and unavailable_reason(registration) == REASON
    source = tmp_path / "src"
    shutil.copytree(APPS / "static-site", source)
    assert BuildpacksBuilder().detect(source, _request(source)) is False


async def test_build_and_plan_without_the_cli_fail_naming_the_reason(no_cli: Path, tmp_path: Path) -> None:
    builder = BuildpacksBuilder()
    with pytest.raises(BuildFailed, match="the buildpacks builder is unavailable: `pack` not on PATH"):
        async for _ in builder.build(_request(tmp_path), object()):  # type: ignore[arg-type]
            pass
    with pytest.raises(BuildFailed, match="`pack` not on PATH"):
        builder.plan(tmp_path, _request(tmp_path))


def test_plugins_list_shows_it_unavailable(no_cli: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "plugins", "list", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    items = {p["name"]: p for p in json.loads(done.stdout)}
    assert items["builder-buildpacks"]["status"] == "ok"
    assert items["builder-buildpacks"]["provides"] == {"builder": ["buildpacks"]}
    assert items["builder-buildpacks"]["unavailable"] == {"buildpacks": REASON}


async def test_selecting_it_without_the_cli_is_a_422(no_cli: Path, tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        api = ApiClient(app)
        code, err = await api.post(
            "/api/apps",
            json={"name": "cnb-app", "git_url": "https://example.com/a/b.git", "builder": NAME},
        )
        assert code == 422, err
        assert err["error"]["details"][0]["field"] == "builder"
        assert err["error"]["details"][0]["message"] == f"The buildpacks builder is unavailable: {REASON}"


# ------------------------------------------------------------------------------------------ real engines
async def test_labelling_step_on_the_real_engine(
    tmp_path: Path, runtime: Any, test_labels: dict[str, str]
) -> None:
    """What follows ``pack build``: its image (here a busybox-based stand-in under the intermediate tag) gets
    the final tag with Rivetr's labels, and the intermediate tag goes."""
    tag = f"localhost/rivetr/cnb-test-{uuid.uuid4().hex[:8]}:d1"
    stand_in = tmp_path / "stand-in"
    stand_in.mkdir()
    (stand_in / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo built > /built\n")
    async for _ in runtime.build(
        BuildSpec(context_dir=stand_in, tag=intermediate_tag(tag), labels=test_labels)
    ):
        pass
    app_labels = {**test_labels, "rivetr.app": f"cnb-{uuid.uuid4().hex[:8]}"}
    request = _request(tmp_path, tag, labels=app_labels)
    try:
        log = [line async for line in relabel(request, runtime)]
        assert not any("could not remove" in line for line in log), log
        assert await runtime.image_exists(tag)
        assert not await runtime.image_exists(intermediate_tag(tag))
        assert await runtime.list_images({"rivetr.app": app_labels["rivetr.app"]}) == [tag]
    finally:
        await runtime.remove_image(tag, force=True)
        await runtime.remove_image(intermediate_tag(tag), force=True)


@pytest.mark.skipif(shutil.which("pack") is None, reason="pack CLI not on PATH: not run")
async def test_real_pack_build_is_labelled_on_docker(
    tmp_path: Path, docker_runtime: Any, test_labels: dict[str, str]
) -> None:
    source = tmp_path / "src"
    shutil.copytree(APPS / "node-express", source)
    tag = f"localhost/rivetr/cnb-real-{uuid.uuid4().hex[:8]}:d1"
    request = _request(source, tag, labels=dict(test_labels), build_args={"SOURCE_COMMIT": "abc"})
    builder = BuildpacksBuilder()
    assert builder.detect(source, request)
    try:
        log = [line async for line in builder.build(request, docker_runtime)]
        assert any(line.startswith("[buildpacks] ") and " build " in line for line in log)
        assert tag in await docker_runtime.list_images(test_labels)
        assert not await docker_runtime.image_exists(intermediate_tag(tag))
    finally:
        await docker_runtime.remove_image(tag, force=True)
