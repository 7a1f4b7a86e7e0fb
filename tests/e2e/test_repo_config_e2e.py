"""A repository's rivetr.toml across commits on real engines (issue 24's first test), Docker and Podman: each
deployment applies its own commit's file (port, health check, env default, replicas, a named volume) and logs
the diff; a rollback restores the settings that went with the older image; an invalid file and a missing secret
fail before anything changes while the app keeps serving. The rules on the fake runtime:
tests/test_deploy_repo_config.py.

The busybox test app (tests/support/gitserver.py) with its port in the Dockerfile's CMD and a CGI answering the
GREETING variable: each image listens only on its own commit's port and has only its own health check file, so
a deployment that ran an image with another commit's settings would fail its health check or not answer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_volumes import engine_volumes
from tests.support.engines import BASE_IMAGE

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

# CRLF headers: busybox httpd passes CGI headers through verbatim and the proxy refuses bare LF.
GREET_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if [ -d /data ]; then echo "$GREETING" > /data/greeting; fi
echo "$GREETING"
"""

FILE_ONE = """port = 8080
replicas = 1
health_check = { kind = "http", path = "/healthz", interval = 0.5 }

[env]
GREETING = "one"
"""

FILE_TWO = """port = 9090
replicas = 2
health_check = { kind = "http", path = "/ready", interval = 0.5 }

[env]
GREETING = "two"

[[volumes]]
name = "data"
mount_path = "/data"
"""

FILE_INVALID = FILE_TWO.replace("port = 9090", '# the port\nport = "eighty"')  # line 2, column 1

FILE_SECRET = 'secrets = ["API_KEY"]\n' + FILE_TWO


def _dockerfile(port: int) -> str:
    return (
        f"FROM {BASE_IMAGE}\nCOPY www /www\nEXPOSE {port}\n"
        f'CMD ["httpd", "-f", "-v", "-p", "{port}", "-h", "/www"]\n'
    )


def _log(rivetr: Any, dep_id: str) -> list[str]:
    return [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()]


def _health_line(log: list[str]) -> str:
    return next(line for line in log if line.startswith("rivetr.toml: health_check "))


def _settings(rivetr: Any, app_id: str) -> tuple[int, str, str]:
    """What the file manages, as the API shows it: port, health check path, GREETING."""
    app = rivetr.api.get(f"/api/apps/{app_id}").json()
    env = rivetr.api.get(f"/api/apps/{app_id}/env-vars").json()
    items = env["items"] if isinstance(env, dict) else env
    greeting = next(v["value"] for v in items if v["key"] == "GREETING")
    return app["port"], app["healthcheck_path"], greeting


def _replicas(rivetr: Any, app_id: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The app's running replicas once there are ``count`` (a rollback's drain stops the extra ones)."""
    deadline = time.monotonic() + timeout
    while True:
        items = rivetr.api.get(f"/api/apps/{app_id}/replicas").json()["items"]
        running = [r for r in items if r["state"] == "running"]
        if len(running) == count == len(items):
            return running
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def _failed(rivetr: Any, app_id: str) -> dict[str, Any]:
    dep = rivetr.wait(rivetr.deploy(app_id)["id"])
    assert dep["status"] == "failed", dep
    assert "build" not in dep["steps"] and dep["applied_config"] is None, dep
    return dep  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ENGINES)
def test_rivetr_toml_across_commits_rollback_invalid_file_and_missing_secret(
    e2e: Any, git_server: Any, engine: str
) -> None:
    rivetr = e2e(engine)
    name = f"toml-{engine[:3]}"
    host = f"{name}.e2e.test"

    # 1. The first file: port 8080 (the app was created with 8000), /healthz, GREETING=one, 1 replica.
    repo = git_server.create_repo(name, files={})
    repo.write("Dockerfile", _dockerfile(8080))
    repo.write("www/healthz", "ok")
    repo.write("www/cgi-bin/greet", GREET_CGI, 0o755)
    repo.write("rivetr.toml", FILE_ONE)
    repo.commit("one")
    app = rivetr.create_app(repo, name)
    assert app["port"] == 8000
    first = rivetr.deploy_and_wait(app["id"])
    assert rivetr.fetch(host, "/cgi-bin/greet") == (200, "one\n")
    log = _log(rivetr, first["id"])
    assert "rivetr.toml: port 8000 -> 8080" in log, log
    assert "rivetr.toml: env GREETING value (none) -> one" in log, log
    assert _health_line(log).endswith('-> {"interval": 0.5, "kind": "http", "path": "/healthz"}'), log
    assert _settings(rivetr, app["id"]) == (8080, "/healthz", "one")
    assert first["applied_config"]["commit"] == first["commit_sha"]
    _replicas(rivetr, app["id"], 1)

    # 2. Port 9090, /ready, GREETING=two, 2 replicas and a named volume the app writes to.
    repo.write("Dockerfile", _dockerfile(9090))
    repo.remove("www/healthz")
    repo.write("www/ready", "ok")
    repo.write("rivetr.toml", FILE_TWO)
    repo.commit("two")
    second = rivetr.deploy_and_wait(app["id"])
    assert second["image"] != first["image"]
    log = _log(rivetr, second["id"])
    assert "rivetr.toml: port 8080 -> 9090" in log, log
    assert "rivetr.toml: replicas 1 -> 2" in log, log
    assert "rivetr.toml: env GREETING value one -> two" in log, log
    assert _health_line(log).endswith('"path": "/ready"}'), log
    assert "rivetr.toml: volume data mount_path (none) -> /data" in log, log
    assert _settings(rivetr, app["id"]) == (9090, "/ready", "two")
    replicas = _replicas(rivetr, app["id"], 2)
    # Every request through the proxy (round robin over both replicas) answers two and writes the volume.
    for _ in range(4):
        assert rivetr.fetch(host, "/cgi-bin/greet") == (200, "two\n")
    volume = rivetr.api.get(f"/api/apps/{app['id']}/volumes").json()["items"]
    assert [(v["name"], v["mount_path"]) for v in volume] == [("data", "/data")], volume
    assert volume[0]["engine_name"] in engine_volumes(rivetr)
    for replica in replicas:  # both mount the same engine volume, which holds what the app wrote
        mounts = rivetr.cli("inspect", "--format", "{{json .Mounts}}", replica["container_id"])
        assert volume[0]["engine_name"] in mounts and '"/data"' in mounts, mounts
        assert rivetr.cli("exec", replica["container_id"], "cat", "/data/greeting") == "two\n"

    # 3. Rollback to the first deployment: its image with its settings (port 8080, /healthz, one, 1 replica).
    response = rivetr.api.post(f"/api/deployments/{first['id']}/rollback")
    assert response.status_code == 202, response.text
    back = rivetr.wait_drained(rivetr.wait(response.json()["id"]))
    assert back["status"] == "running", (back, _log(rivetr, back["id"]))
    assert back["image"] == first["image"]
    log = _log(rivetr, back["id"])
    assert "rivetr.toml: port 9090 -> 8080" in log and "rivetr.toml: replicas 2 -> 1" in log, log
    assert "rivetr.toml: env GREETING value two -> one" in log, log
    assert _health_line(log).endswith('"path": "/healthz"}'), log
    assert _settings(rivetr, app["id"]) == (8080, "/healthz", "one")
    _replicas(rivetr, app["id"], 1)
    assert rivetr.fetch(host, "/cgi-bin/greet") == (200, "one\n")

    # 4. An invalid file: fails before the build, naming the key, line and column; nothing changes.
    repo.write("rivetr.toml", FILE_INVALID)
    repo.commit("invalid")
    bad = _failed(rivetr, app["id"])
    assert bad["error"].startswith("invalid rivetr.toml: port (line 2, column 1)"), bad["error"]
    log = _log(rivetr, bad["id"])
    assert any(line.startswith("rivetr.toml: line 2, column 1: port: ") for line in log), log
    assert _settings(rivetr, app["id"]) == (8080, "/healthz", "one")
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == back["id"]
    _replicas(rivetr, app["id"], 1)
    assert rivetr.fetch(host, "/cgi-bin/greet") == (200, "one\n")

    # 5. A secret the server does not have: fails naming it; nothing changes.
    repo.write("rivetr.toml", FILE_SECRET)
    repo.commit("needs a secret")
    missing = _failed(rivetr, app["id"])
    assert "rivetr.toml: secret API_KEY is not set on the server" in missing["error"], missing["error"]
    assert _settings(rivetr, app["id"]) == (8080, "/healthz", "one")
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == back["id"]
    _replicas(rivetr, app["id"], 1)
    assert rivetr.fetch(host, "/cgi-bin/greet") == (200, "one\n")

    # Clean up through the API: the app's containers, images and volume go with it.
    assert rivetr.api.delete(f"/api/apps/{app['id']}").status_code == 204
    assert engine_volumes(rivetr) == [] and rivetr.containers() == []
