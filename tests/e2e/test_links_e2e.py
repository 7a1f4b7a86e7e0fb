"""Links on real engines (Docker and Podman): Postgres, MariaDB and Redis services created through the API in a
project of their own, the link test app (tests/support/dbapp: python + psycopg2/pymysql/redis) built from the
git daemon and linked to the three (``DATABASE``, ``MARIADB``, ``REDIS``), then writes and reads through the
proxy reach each service by its name over the project network with nothing but the URL the link gave the app.
An unlink followed by a redeploy takes the variables away; the data stays in the service. Rotating the
Postgres password (the CLI) redeploys the app: the old password is refused, the app still writes and reads."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
DBAPP = Path(__file__).resolve().parent.parent / "support" / "dbapp"
DBCLIENT = "localhost/rivetr-test/dbclient:1"


def dbapp_files() -> dict[str, tuple[str, int]]:
    return {name: ((DBAPP / name).read_text(), 0o644) for name in ("Dockerfile", "app.py")}


def create_service(rivetr: Any, name: str, type_: str, project_id: str) -> dict[str, Any]:
    response = rivetr.api.post("/api/services", json={"name": name, "type": type_, "project_id": project_id})
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_running(rivetr: Any, service_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        service = rivetr.api.get(f"/api/services/{service_id}").json()
        if service["status"] == "running":
            return dict(service)
        if service["status"] == "failed" or time.monotonic() > deadline:
            raise AssertionError(f"service {service['name']} is {service['status']}: {service.get('error')}")
        time.sleep(0.25)


def link(rivetr: Any, app_id: str, service_id: str, prefix: str | None = None) -> dict[str, Any]:
    body = {"service_id": service_id, **({"env_prefix": prefix} if prefix else {})}
    response = rivetr.api.post(f"/api/apps/{app_id}/links", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def get(rivetr: Any, host: str, path: str) -> str:
    status, body = rivetr.fetch(host, path)
    assert status == 200, f"{path}: {status} {body}"
    return body


def has_image(rivetr: Any, image: str) -> bool:
    try:
        rivetr.cli("image", "inspect", image)
    except Exception:
        return False
    return True


# Connects with the URL given as argv[1]; exit 3 with the server's message when the database refuses it.
CONNECT = """import sys, psycopg2
try:
    psycopg2.connect(sys.argv[1], connect_timeout=10).close()
except psycopg2.OperationalError as exc:
    print(exc)
    sys.exit(3)
"""


def rotate_and_check_the_redeploy(
    rivetr: Any, pg: dict[str, Any], app: dict[str, Any], tmp_path: Path
) -> None:
    """``rivetr services rotate-credentials`` (the CLI, through the API) changes the password in Postgres and
    redeploys the linked app: the database refuses the old password from the app's new container, over the
    project network, and the app keeps writing and reading through the link (the URL of its new deployment)."""
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.cli import cli_env

    host = f"{app['name']}.e2e.test"
    old_url = rivetr.api.get(f"/api/services/{pg['id']}", params={"reveal": "true"}).json()["connection_url"]
    result = CliRunner().invoke(
        cli,
        ["services", "rotate-credentials", pg["name"], "--yes"],
        env=cli_env(rivetr.server, tmp_path),
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    found = re.search(rf"^redeploying {app['name']}: deployment ([0-9a-f]+)$", result.stdout, re.M)
    assert found, result.output
    dep = rivetr.wait(found.group(1))
    assert dep["status"] == "running" and dep["trigger"] == "rotate-credentials", dep
    rivetr.wait_drained(dep)
    new_url = rivetr.api.get(f"/api/services/{pg['id']}", params={"reveal": "true"}).json()["connection_url"]
    assert new_url != old_url
    with pytest.raises(subprocess.CalledProcessError) as refused:
        rivetr.cli("exec", dep["container_id"], "python3", "-c", CONNECT, old_url)
    assert refused.value.returncode == 3, refused.value
    assert "password authentication failed" in refused.value.stdout, refused.value.stdout
    rivetr.cli("exec", dep["container_id"], "python3", "-c", CONNECT, new_url)
    assert get(rivetr, host, "/read") == "from-postgres"  # the row written with the old password is there
    assert get(rivetr, host, "/write?v=after-rotation") == "after-rotation"
    assert get(rivetr, host, "/read") == "after-rotation"


@pytest.mark.parametrize("engine", ENGINES)
def test_linked_app_writes_and_reads_through_each_service(e2e, git_server, engine, tmp_path):
    rivetr = e2e(engine)
    if not has_image(rivetr, DBCLIENT):
        pytest.fail(f"{DBCLIENT} is missing on {engine}: run scripts/engines.sh ensure all")
    response = rivetr.api.post("/api/projects", json={"name": f"links-{engine}"})
    assert response.status_code == 201, response.text
    project = response.json()
    network = f"rivetr-net-{project['id']}"
    suffix = engine[:2]
    services = {
        "pg": create_service(rivetr, f"lnk-pg-{suffix}", "postgres", project["id"]),
        "maria": create_service(rivetr, f"lnk-maria-{suffix}", "mariadb", project["id"]),
        "cache": create_service(rivetr, f"lnk-cache-{suffix}", "redis", project["id"]),
    }
    app = None
    try:
        name = f"lnk-app-{suffix}"
        host = f"{name}.e2e.test"
        repo = git_server.create_repo(name, dbapp_files())
        app = rivetr.create_app(repo, name, project_id=project["id"])
        for service in services.values():
            wait_running(rivetr, service["id"])

        pg = link(rivetr, app["id"], services["pg"]["id"])
        assert pg["env_prefix"] == "DATABASE" and "DATABASE_URL" in pg["env_keys"]
        maria = link(rivetr, app["id"], services["maria"]["id"], "MARIADB")
        cache = link(rivetr, app["id"], services["cache"]["id"])
        assert cache["env_prefix"] == "REDIS" and "REDIS_URL" in cache["env_keys"]
        # A second SQL database under the default prefix is refused: it needs its own.
        response = rivetr.api.post(
            f"/api/apps/{app['id']}/links", json={"service_id": services["maria"]["id"]}
        )
        assert response.status_code == 409, response.text

        dep = rivetr.deploy_and_wait(app["id"])
        inspect = json.loads(rivetr.cli("inspect", dep["container_id"]))[0]
        assert network in inspect["NetworkSettings"]["Networks"], inspect["NetworkSettings"]["Networks"]
        env = json.loads(get(rivetr, host, "/env"))
        assert {"DATABASE_URL", "DATABASE_HOST", "MARIADB_URL", "REDIS_URL"} <= set(env), env

        assert get(rivetr, host, "/write?v=from-postgres") == "from-postgres"
        assert get(rivetr, host, "/write?v=from-mariadb&link=MARIADB") == "from-mariadb"
        assert get(rivetr, host, "/write?v=from-redis&link=REDIS") == "from-redis"
        assert get(rivetr, host, "/read") == "from-postgres"
        assert get(rivetr, host, "/read?link=MARIADB") == "from-mariadb"
        assert get(rivetr, host, "/read?link=REDIS") == "from-redis"

        # Unlink Redis: the next deploy has no REDIS_* any more; the databases keep their rows.
        assert rivetr.api.delete(f"/api/apps/{app['id']}/links/{cache['id']}").status_code == 204
        assert "REDIS_URL" in json.loads(get(rivetr, host, "/env"))  # the running container is untouched
        rivetr.deploy_and_wait(app["id"])
        env = json.loads(get(rivetr, host, "/env"))
        assert not any(k.startswith("REDIS_") for k in env) and "DATABASE_URL" in env, env
        status, body = rivetr.fetch(host, "/read?link=REDIS")
        assert status == 500 and "REDIS_URL is not set" in body, (status, body)
        assert get(rivetr, host, "/read") == "from-postgres"
        assert get(rivetr, host, "/read?link=MARIADB") == "from-mariadb"
        listing = rivetr.api.get(f"/api/apps/{app['id']}/links").json()["items"]
        assert sorted(x["env_prefix"] for x in listing) == ["DATABASE", "MARIADB"]
        assert maria["id"] in {x["id"] for x in listing}

        rotate_and_check_the_redeploy(rivetr, services["pg"], app, tmp_path)
    finally:
        for service in services.values():
            rivetr.api.delete(f"/api/services/{service['id']}?force=true")
        if app is not None:  # its container leaves the network before the network goes
            rivetr.api.delete(f"/api/apps/{app['id']}")
        subprocess.run([engine, "network", "rm", network], capture_output=True, env=rivetr._cli_env())
