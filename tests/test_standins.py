"""The official-image stand-ins that ``scripts/engines.sh ensure`` provides, on both engines.

No public registry is reachable on test machines: the stand-ins (built from Debian packages by
``scripts/standins/build.sh``) live in a local registry that dockerd and the podman service use as their Docker Hub
mirror. These tests check what the managed-services code relies on, through each engine's API: official names
pull from the mirror, and each image honours its official environment contract (initialised data dir, password
auth over TCP, users and databases created from the environment, tools on PATH).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import docker
import pytest
from docker.models.containers import Container

from tests.support.engines import SESSION_ID, SESSION_LABEL, EngineEnv, unique_name

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
PASSWORD = f"pw'{uuid.uuid4().hex[:10]} x"  # a quote and a space: the entrypoints must pass it through intact


@pytest.fixture(params=ENGINES)
def client(request: pytest.FixtureRequest, engine_env: EngineEnv) -> Iterator[docker.DockerClient]:
    """A Docker SDK client on the engine's own API socket (podman serves the same API)."""
    api = docker.DockerClient(base_url=engine_env.socket(request.param), timeout=300)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def start(client: docker.DockerClient) -> Iterator[Callable[..., Container]]:
    """Start a container (detached, with init like Rivetr runs them); removed with its volumes afterwards."""
    started: list[Container] = []

    def run(image: str, **kwargs: Any) -> Container:
        container = client.containers.run(
            image,
            name=unique_name("standin"),
            detach=True,
            init=True,
            labels={SESSION_LABEL: SESSION_ID},
            **kwargs,
        )
        started.append(container)
        return container

    yield run
    for container in started:
        # v=True: the images declare their data dir a VOLUME, so every run creates an anonymous volume.
        container.remove(force=True, v=True)


def ip_of(container: Container) -> str:
    container.reload()
    networks = container.attrs["NetworkSettings"]["Networks"]
    address = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
    assert address, f"{container.name} has no address: {networks}"
    return str(address)


def run_in(container: Container, cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    code, output = container.exec_run(cmd, environment=env or {})
    return int(code), output.decode(errors="replace")


def wait_until(
    container: Container, cmd: list[str], ok: Callable[[int, str], bool], timeout: float = 90
) -> str:
    """Run ``cmd`` in the container until ``ok(exit_code, output)``; fail with the container log otherwise."""
    deadline = time.monotonic() + timeout
    code, output = -1, ""
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        code, output = run_in(container, cmd)
        if ok(code, output):
            return output
        time.sleep(0.5)
    logs = container.logs(tail=30).decode(errors="replace")
    pytest.fail(f"{cmd} never succeeded in {container.name} ({code}: {output}); log:\n{logs}")


def registry_digest(env: EngineEnv, repository: str, tag: str) -> str:
    """The manifest digest the local registry serves for ``library/<repository>:<tag>``."""
    request = urllib.request.Request(
        f"http://{env.registry}/v2/library/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_official_name_pulls_from_the_local_mirror(
    client: docker.DockerClient, engine_env: EngineEnv
) -> None:
    image = client.images.pull("docker.io/library/redis", tag="7")
    # No public registry answers here, so a successful pull came from the mirror; the digest says which image.
    digests = image.attrs.get("RepoDigests") or []
    expected = registry_digest(engine_env, "redis", "7")
    assert any(d.endswith(f"@{expected}") for d in digests), (digests, expected)
    assert image.labels.get("rivetr.test.recipe"), image.labels
    catalog = json.load(urllib.request.urlopen(f"http://{engine_env.registry}/v2/_catalog", timeout=10))
    assert {"library/postgres", "library/mariadb", "library/mysql", "library/redis"} <= set(
        catalog["repositories"]
    )
    with pytest.raises(docker.errors.APIError):
        client.images.pull("docker.io/library/rivetr-no-such-image", tag=SESSION_ID)


def test_postgres_initialises_with_password_auth_over_tcp(
    client: docker.DockerClient, start: Callable[..., Container]
) -> None:
    pg = start(
        "docker.io/library/postgres:16", environment={"POSTGRES_PASSWORD": PASSWORD, "POSTGRES_DB": "app"}
    )
    host = ip_of(pg)
    # Over TCP: the entrypoint's set-up server listens on the socket only, so this waits for the real one.
    wait_until(pg, ["pg_isready", "-h", host, "-p", "5432"], lambda code, _: code == 0)
    code, out = run_in(
        pg,
        [
            "psql",
            "-h",
            host,
            "-U",
            "postgres",
            "-d",
            "app",
            "-tAc",
            "SELECT current_database(), current_user",
        ],
        env={"PGPASSWORD": PASSWORD},
    )
    assert (code, out.strip()) == (0, "app|postgres"), out
    code, out = run_in(
        pg, ["psql", "-h", host, "-U", "postgres", "-d", "app", "-c", "SELECT 1"], {"PGPASSWORD": "no"}
    )
    assert code != 0 and "password authentication failed" in out, out
    code, out = run_in(pg, ["sh", "-c", "command -v pg_dump && command -v pg_dumpall"])
    assert code == 0, out
    # The test-app base image reaches it over the network with a URL, as a linked app would.
    url = f"postgresql://postgres:{quote(PASSWORD, safe='')}@{host}:5432/app"
    script = "import os, psycopg2; c = psycopg2.connect(os.environ['DATABASE_URL']); print(c.server_version)"
    app = start(
        "localhost/rivetr-test/dbclient:1",
        command=["python3", "-c", script],
        environment={"DATABASE_URL": url},
    )
    assert app.wait(timeout=60)["StatusCode"] == 0, app.logs().decode(errors="replace")
    assert app.logs().decode().strip().startswith("15"), app.logs()


def test_postgres_refuses_to_initialise_without_a_password(start: Callable[..., Container]) -> None:
    pg = start("docker.io/library/postgres:15")
    assert pg.wait(timeout=60)["StatusCode"] != 0
    assert "POSTGRES_PASSWORD" in pg.logs().decode(errors="replace")


def test_mariadb_creates_the_user_and_database(start: Callable[..., Container]) -> None:
    env = {
        "MYSQL_ROOT_PASSWORD": PASSWORD,
        "MYSQL_DATABASE": "app",
        "MYSQL_USER": "appuser",
        "MARIADB_PASSWORD": "user-" + PASSWORD,  # the MARIADB_ spelling of the same contract
    }
    db = start("docker.io/library/mariadb:11", environment=env)
    host = ip_of(db)
    # ping exits 0 once the server answers over TCP, even though it is denied without a password; the set-up
    # server before it listens on the socket only.
    wait_until(db, ["mysqladmin", "ping", "-h", host], lambda code, _: code == 0)
    query = ["mysql", "-h", host, "-u", "appuser", "app", "-N", "-e", "SELECT database(), current_user()"]
    code, out = run_in(db, query, env={"MYSQL_PWD": "user-" + PASSWORD})
    assert (code, out.split()) == (0, ["app", "appuser@%"]), out
    code, out = run_in(
        db, ["mysql", "-h", host, "-u", "root", "-N", "-e", "SELECT 1"], env={"MYSQL_PWD": PASSWORD}
    )
    assert (code, out.strip()) == (0, "1"), out
    code, out = run_in(db, query, env={"MYSQL_PWD": "wrong"})
    assert code != 0 and "Access denied" in out, out
    code, out = run_in(
        db, ["sh", "-c", "command -v mysqldump && command -v mariadb-dump && command -v mysqladmin"]
    )
    assert code == 0, out


def test_mysql_name_is_the_same_contract(start: Callable[..., Container]) -> None:
    db = start(
        "docker.io/library/mysql:8.4", environment={"MYSQL_ROOT_PASSWORD": PASSWORD, "MYSQL_DATABASE": "d"}
    )
    host = ip_of(db)
    wait_until(db, ["mysqladmin", "ping", "-h", host], lambda code, _: code == 0)
    code, out = run_in(
        db, ["mysql", "-h", host, "-uroot", "-N", "-e", "SHOW DATABASES LIKE 'd'"], {"MYSQL_PWD": PASSWORD}
    )
    assert (code, out.strip()) == (0, "d"), out


def test_redis_requirepass_refuses_unauthenticated_commands(start: Callable[..., Container]) -> None:
    redis = start("docker.io/library/redis:7", command=["--requirepass", PASSWORD])
    host = ip_of(redis)
    # Over the network (protected mode is off like the official image), without and then with the password.
    out = wait_until(
        redis, ["redis-cli", "-h", host, "ping"], lambda _, out: "NOAUTH" in out or "PONG" in out
    )
    assert "NOAUTH" in out, out
    code, out = run_in(redis, ["redis-cli", "-h", host, "--no-auth-warning", "-a", PASSWORD, "ping"])
    assert (code, out.strip()) == (0, "PONG"), out
    code, out = run_in(
        redis, ["redis-cli", "-h", host, "--no-auth-warning", "-a", PASSWORD, "config", "get", "dir"]
    )
    assert out.split() == ["dir", "/data"], out


def test_redis_without_password_serves_other_containers(start: Callable[..., Container]) -> None:
    redis = start("docker.io/library/redis:7")
    host = ip_of(redis)
    wait_until(redis, ["redis-cli", "-h", host, "ping"], lambda _, out: "PONG" in out)
    script = "import os, redis; r = redis.Redis.from_url(os.environ['REDIS_URL']); r.set('k', 'v'); print(r.get('k'))"
    app = start(
        "localhost/rivetr-test/dbclient:1",
        command=["python3", "-c", script],
        environment={"REDIS_URL": f"redis://{host}:6379/0"},
    )
    assert app.wait(timeout=60)["StatusCode"] == 0, app.logs().decode(errors="replace")
    assert app.logs().decode().strip() == "b'v'"
