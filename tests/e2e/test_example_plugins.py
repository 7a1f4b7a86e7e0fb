"""The plugins in examples/, built into wheels and installed as an outside author's user would, work in a
real deployment: a real ``rivetr serve`` on docker finds them through their ``rivetr`` entry points, an app
selects the example health check by name (it passes, and a failing path fails the deployment with its
message), the example notifier receives the deployment's event, and an app whose repository has only static
files selects the example builder and is served through the proxy (while an app with a Dockerfile and builder
``auto`` is never taken over by it). The example templates plugin adds ``cache-lru`` to the service catalogue,
and a service of it runs Redis with the template's own configuration.

Offline: the wheels are built with ``--no-build-isolation`` (setuptools from this venv) and installed with
``--no-index`` into a directory that only the server's ``PYTHONPATH`` names, so nothing but the wheels can
provide the plugins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.engines import BASE_IMAGE
from tests.support.gitserver import busybox_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {
    "notifier-jsonl": "rivetr_example_jsonl",
    "healthcheck-file": "rivetr_example_filecheck",
    "builder-static": "rivetr_example_static",
    "templates-cache": "rivetr_example_templates",
}
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pip(*args: str) -> None:
    env = {**os.environ, **OFFLINE}
    subprocess.run(
        [sys.executable, "-m", "pip", *args], check=True, capture_output=True, env=env, timeout=180
    )


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of every example installed into a fresh directory (once for the module); returns that
    directory."""
    tmp_path = tmp_path_factory.mktemp("examples")
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    for example in EXAMPLES:
        source = tmp_path / "src" / example  # a copy: the build leaves build/ and *.egg-info behind
        shutil.copytree(ROOT / "examples" / example, source)
        _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(source))
    built = sorted(wheels.glob("*.whl"))
    assert [w.name.split("-")[0] for w in built] == [
        "rivetr_example_filecheck",
        "rivetr_example_jsonl",
        "rivetr_example_static_site",
        "rivetr_example_templates",
    ]
    _pip("install", "--no-deps", "--no-index", "--target", str(site), *map(str, built))
    for package in EXAMPLES.values():
        assert (site / package / "plugin.py").exists()
    assert (
        site / "rivetr_example_templates" / "cache-lru.toml"
    ).exists()  # package data made it into the wheel
    entry_points = "".join(p.read_text() for p in site.glob("*.dist-info/entry_points.txt"))
    assert (
        "[rivetr]" in entry_points
        and "example-file-check" in entry_points
        and "example-jsonl" in entry_points
        and "example-static-site" in entry_points
        and "example-templates" in entry_points
    )
    for package in EXAMPLES.values():  # the test process itself cannot see them: only the wheels provide them
        assert not any((Path(p) / package).exists() for p in sys.path if p)
    return site


def server_path(site: Path) -> str:
    """The server's PYTHONPATH: the wheels' directory first."""
    return os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))


@pytest.mark.slow
@pytest.mark.docker
def test_example_plugins_from_wheels_run_in_a_real_deployment(
    e2e, git_server, example_site: Path, tmp_path: Path
) -> None:
    pythonpath = server_path(example_site)
    # The builder's own [plugins.example-static-site] section, set from the environment: its default base image
    # comes from Docker Hub, and this host builds offline from the local test image.
    settings = {"RIVETR_PLUGINS__EXAMPLE_STATIC_SITE__BASE_IMAGE": BASE_IMAGE}
    rivetr = e2e("docker", PYTHONPATH=pythonpath, **settings)

    plugins = rivetr.api.get("/api/plugins").json()["items"]
    listed = json.dumps(plugins)
    assert "example-jsonl" in listed and "example-file-check" in listed, listed
    assert "rivetr-example-jsonl" in listed and "rivetr-example-filecheck" in listed, listed
    static = next(p for p in plugins if p["name"] == "example-static-site")
    assert static["status"] == "ok" and static["distribution"] == "rivetr-example-static-site", static
    assert static["provides"].get("builder") == ["static-site"], static
    # `rivetr plugins list` (the CLI, its own process) finds it from the wheel too, and exits 0: nothing failed.
    cli = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "plugins", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": pythonpath, **settings},
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    row = next(line for line in cli.stdout.splitlines() if line.startswith("example-static-site "))
    assert "rivetr-example-static-site" in row and "builder static-site" in row, cli.stdout

    events = tmp_path / "events" / "rivetr.jsonl"
    response = rivetr.api.post(
        "/api/notification-channels",
        json={"name": "example-file", "notifier": "jsonl", "url": f"jsonl://{events}", "events": []},
    )
    assert response.status_code == 201, response.text

    name = "example-plugins"
    repo = git_server.create_repo(name)
    app = rivetr.create_app(
        repo, name, builder="dockerfile", health_check={"kind": "file-exists", "path": "/www/index.html"}
    )
    good = rivetr.deploy_and_wait(app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{good['id']}/logs").json()]
    assert any("health check passed" in line and "/www/index.html exists" in line for line in lines), lines
    rivetr.wait_content(f"{name}.e2e.test", "hello from v1\n")

    # The notifier got the deployment's event (delivery is asynchronous: wait for the line).
    deadline = time.monotonic() + 30
    received: list[dict] = []
    while time.monotonic() < deadline:
        if events.exists():
            received = [json.loads(line) for line in events.read_text().splitlines()]
            if any(e["type"] == "deployment_succeeded" for e in received):
                break
        time.sleep(0.1)
    succeeded = [e for e in received if e["type"] == "deployment_succeeded"]
    assert succeeded, received
    assert succeeded[0]["app"] == name and succeeded[0]["deployment_id"] == good["id"]

    # The check really decides: a path that is not there fails the deployment with the check's own words.
    response = rivetr.api.put(
        f"/api/apps/{app['id']}",
        json={"health_check": {"kind": "file-exists", "path": "/not/there", "retries": 2}},
    )
    assert response.status_code == 200, response.text
    bad = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert bad["status"] == "failed"
    assert "/not/there missing" in bad["error"], bad
    rivetr.wait_content(f"{name}.e2e.test", "hello from v1\n")  # the previous version still serves

    # The builder: a repository with static files and no Dockerfile, the app naming the builder.
    site = git_server.create_repo(
        "example-static",
        {
            "public/index.html": ("hello from static-site\n", 0o644),
            "public/css/site.css": ("body { color: teal }\n", 0o644),
        },
    )
    static_app = rivetr.create_app(site, "example-static", builder="static-site")
    built = rivetr.deploy_and_wait(static_app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{built['id']}/logs").json()]
    assert any("with the static-site builder" in line for line in lines), lines
    assert any("static-site: serving 2 files" in line for line in lines), lines
    rivetr.wait_content("example-static.e2e.test", "hello from static-site\n")
    assert rivetr.fetch("example-static.e2e.test", "/css/site.css") == (200, "body { color: teal }\n")
    assert rivetr.images("example-static"), "the built image carries Rivetr's tag"

    # A link out of the repository is refused with its name (read_repo_file), never copied into the image.
    (site.work / "public" / "passwd").symlink_to("/etc/passwd")
    site.commit("a link to a host file")
    leak = rivetr.wait(rivetr.deploy(static_app["id"])["id"])
    assert leak["status"] == "failed", leak
    assert "public/passwd: is a symbolic link to a path outside the repository" in leak["error"], leak
    site.remove("public/passwd")
    site.commit("link removed")

    # With "auto", detection picks it for the same repository (no Dockerfile, a public/ directory)...
    response = rivetr.api.put(f"/api/apps/{static_app['id']}", json={"builder": "auto"})
    assert response.status_code == 200, response.text
    auto = rivetr.deploy_and_wait(static_app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{auto['id']}/logs").json()]
    assert any("with the static-site builder" in line for line in lines), lines

    # ...but never takes over a repository with a Dockerfile, even one that also has a public/ directory.
    both = git_server.create_repo(
        "example-both",
        {**busybox_app("hello from the Dockerfile\n"), "public/index.html": ("not me\n", 0o644)},
    )
    docker_app = rivetr.create_app(both, "example-both", builder="auto")
    dep = rivetr.deploy_and_wait(docker_app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep['id']}/logs").json()]
    assert any("with the dockerfile builder" in line for line in lines), lines
    assert not any("static-site" in line for line in lines), lines
    rivetr.wait_content("example-both.e2e.test", "hello from the Dockerfile\n")


@pytest.mark.slow
@pytest.mark.docker
def test_example_templates_plugin_adds_a_service_type(e2e, example_site: Path) -> None:
    rivetr = e2e("docker", PYTHONPATH=server_path(example_site))
    catalogue = rivetr.api.get("/api/templates", params={"q": "cache"}).json()
    cache = next((t for t in catalogue["items"] if t["name"] == "cache-lru"), None)
    assert cache is not None, catalogue
    assert cache["source"] == "example-templates" and cache["link_prefix"] == "CACHE", cache
    assert not [e for e in catalogue["errors"] if "example-templates" in e["source"]], catalogue["errors"]

    response = rivetr.api.post("/api/services", json={"name": "example-cache", "type": "cache-lru"})
    assert response.status_code == 201, response.text
    service_id = response.json()["id"]
    deadline = time.monotonic() + 120
    service = response.json()
    while service["status"] == "starting" and time.monotonic() < deadline:  # running = its PONG check passed
        time.sleep(0.25)
        service = rivetr.api.get(f"/api/services/{service_id}", params={"reveal": "true"}).json()
    assert service["status"] == "running" and not service["error"], service
    assert service["image"] == "docker.io/library/redis:7", service

    # The running Redis has the template's configuration (a bare --save is Redis 7's `save ""`).
    password = service["credentials"]["password"]
    redis_cli = ["exec", "rivetr-svc-example-cache", "redis-cli", "-a", password, "--no-auth-warning"]
    assert rivetr.cli(*redis_cli, "CONFIG", "GET", "maxmemory-policy").split() == [
        "maxmemory-policy",
        "allkeys-lru",
    ]
    assert rivetr.cli(*redis_cli, "CONFIG", "GET", "maxmemory").split() == [
        "maxmemory",
        str(64 * 1024 * 1024),
    ]
    assert rivetr.cli(*redis_cli, "CONFIG", "GET", "save").split() == ["save"]

    assert rivetr.api.delete(f"/api/services/{service_id}").status_code == 204
    assert rivetr.api.get(f"/api/services/{service_id}").status_code == 404
    assert not rivetr.containers(), "the service's container went with it"
