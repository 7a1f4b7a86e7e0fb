"""Managed services on real engines (Docker and Podman) through a real ``rivetr serve``: the official image names
are pulled (from the local registry mirror the engines use for Docker Hub, see scripts/engines.sh), each service
becomes ``running`` only after its template's real readiness check (``pg_isready``, ``mariadb-admin ping``,
``redis-cli ping``; the pull, with the engine's progress, is in its event log first), and data written with the database's own client survives a service restart, a Rivetr
restart, the container stopping behind Rivetr's back (as when the engine goes down: the start-up reconcile
brings it back) and an upgrade (postgres 15 → 16, same volume). A public port makes the service answer on the
host, and nothing is published without one. Deleting with ``keep_volumes`` leaves the engine volume."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
READY_TIMEOUT = 240


def create_service(rivetr: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = rivetr.api.post("/api/services", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_running(rivetr: Any, service_id: str, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = rivetr.api.get(f"/api/services/{service_id}", params={"reveal": "true"}).json()
        if body["status"] == "running" and not body["error"]:
            return body  # type: ignore[no-any-return]
        if body["status"] == "failed" or time.monotonic() > deadline:
            logs = rivetr.api.get(f"/api/services/{service_id}/logs", params={"tail": 40}).json()
            lines = "\n".join(i["line"] for i in logs["items"])
            raise AssertionError(f"service {body['name']} is {body['status']}: {body['error']}\n{lines}")
        time.sleep(0.25)


def sql(rivetr: Any, service: dict[str, Any], statement: str) -> str:
    """Run SQL with the database's own client inside the service's container (as a user would by exec)."""
    name = f"rivetr-svc-{service['name']}"
    creds = service["credentials"]
    if service["type"] == "postgres":
        url = f"postgres://{creds['user']}:{creds['password']}@127.0.0.1:5432/{creds['database']}"
        return str(
            rivetr.cli("exec", name, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", statement)
        )
    return str(
        rivetr.cli(
            "exec",
            name,
            "mariadb",
            "-h",
            "127.0.0.1",
            f"-u{creds['user']}",
            f"-p{creds['password']}",
            "-N",
            "-B",
            creds["database"],
            "-e",
            statement,
        )
    )


def redis(rivetr: Any, service: dict[str, Any], *args: str) -> str:
    name = f"rivetr-svc-{service['name']}"
    password = service["credentials"]["password"]
    return str(rivetr.cli("exec", name, "redis-cli", "-a", password, "--no-auth-warning", *args)).strip()


def restart_rivetr(rivetr: Any, e2e: Any, engine: str) -> Any:
    rivetr.server.stop(timeout=15)
    return e2e(engine, data_dir=rivetr.server.data_dir)


def redis_ping_over_tcp(port: int, password: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"AUTH {password}\r\nPING\r\n".encode())
        data = b""
        deadline = time.monotonic() + 5
        while b"PONG" not in data and time.monotonic() < deadline:
            chunk = conn.recv(100)
            if not chunk:
                break
            data += chunk
        return data


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def networks() -> Iterator[list[tuple[str, str]]]:
    """(engine, network) pairs a test made; removed at teardown (after the e2e fixture removed the containers:
    fixtures tear down in reverse order, and this one is requested first)."""
    made: list[tuple[str, str]] = []
    yield made
    for engine, name in made:
        subprocess.run([engine, "network", "rm", name], capture_output=True, timeout=60)


@pytest.mark.parametrize("engine", ENGINES)
def test_databases_keep_their_data_through_restarts_and_an_upgrade(
    networks: list[tuple[str, str]], e2e: Any, engine: str
) -> None:
    rivetr = e2e(engine)
    suffix = uuid.uuid4().hex[:6]
    project = rivetr.api.post("/api/projects", json={"name": f"svc-{suffix}"}).json()
    networks.append((engine, f"rivetr-net-{project['id']}"))
    base = {"project_id": project["id"]}
    pg = create_service(rivetr, {**base, "name": f"pg-{suffix}", "type": "postgres", "version": "15"})
    maria = create_service(rivetr, {**base, "name": f"maria-{suffix}", "type": "mariadb"})
    port = free_port()
    cache = create_service(rivetr, {**base, "name": f"cache-{suffix}", "type": "redis", "public_port": port})
    assert pg["status"] == "starting" and pg["image"] == "docker.io/library/postgres:15"

    pg, maria, cache = (wait_running(rivetr, s["id"]) for s in (pg, maria, cache))
    assert pg["network"] == f"rivetr-net-{project['id']}"
    # The image's pull, with the engine's progress, is in the service's event log (shown by GET .../logs while
    # there is no container yet, and with ?source=events at any time), before the container started.
    events = rivetr.api.get(f"/api/services/{pg['id']}/logs", params={"tail": 200, "source": "events"})
    assert events.status_code == 200, events.text
    lines = [e["line"] for e in events.json()["items"]]
    assert {e["stream"] for e in events.json()["items"]} == {"rivetr"}, lines
    image = "docker.io/library/postgres:15"
    order = [lines.index(f"pulling {image}"), lines.index(f"pulled {image}")]
    order.append(next(i for i, line in enumerate(lines) if line.startswith("pull finished in")))
    order.append(lines.index(f"starting container rivetr-svc-{pg['name']} ({image})"))
    assert order == sorted(order), lines

    sql(rivetr, pg, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept by postgres')")
    sql(rivetr, maria, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept by mariadb')")
    assert redis(rivetr, cache, "SET", "note", "kept by redis") == "OK"

    # public port: redis answers on the host; the databases without one publish nothing
    assert b"+PONG" in redis_ping_over_tcp(port, cache["credentials"]["password"])
    for private in (pg, maria):
        assert rivetr.cli("port", f"rivetr-svc-{private['name']}").strip() == ""

    def data_is_there() -> None:
        assert sql(rivetr, pg, "SELECT body FROM notes").strip() == "kept by postgres"
        assert sql(rivetr, maria, "SELECT body FROM notes").strip() == "kept by mariadb"
        assert redis(rivetr, cache, "GET", "note") == "kept by redis"

    # 1. a service restart (redis saves its snapshot on the stop)
    for service in (pg, maria, cache):
        response = rivetr.api.post(f"/api/services/{service['id']}/restart")
        assert response.status_code == 200, response.text
    pg, maria, cache = (wait_running(rivetr, s["id"]) for s in (pg, maria, cache))
    data_is_there()

    # 2. Rivetr restarts: the services keep running, their data with them
    rivetr = restart_rivetr(rivetr, e2e, engine)
    pg, maria, cache = (wait_running(rivetr, s["id"]) for s in (pg, maria, cache))
    data_is_there()

    # 3. the containers stop behind Rivetr's back while it is down (the engine went away): the start-up
    #    reconcile starts them again and checks readiness
    rivetr.server.stop(timeout=15)
    rivetr.cli("stop", *(f"rivetr-svc-{s['name']}" for s in (pg, maria, cache)))
    rivetr = e2e(engine, data_dir=rivetr.server.data_dir)
    pg, maria, cache = (wait_running(rivetr, s["id"]) for s in (pg, maria, cache))
    running = rivetr.cli("inspect", "-f", "{{.State.Running}}", f"rivetr-svc-{pg['name']}").strip()
    assert running == "true"
    data_is_there()

    # 4. upgrade postgres 15 -> 16 on the same volume
    response = rivetr.api.put(f"/api/services/{pg['id']}", json={"version": "16"})
    assert response.status_code == 200 and response.json()["status"] == "starting", response.text
    pg = wait_running(rivetr, pg["id"])
    assert pg["version"] == "16" and pg["image"] == "docker.io/library/postgres:16"
    assert "postgres:16" in rivetr.cli("inspect", "-f", "{{.Config.Image}}", f"rivetr-svc-{pg['name']}")
    data_is_there()

    # 5. stopped stays stopped across a Rivetr restart
    assert rivetr.api.post(f"/api/services/{cache['id']}/stop").json()["status"] == "stopped"
    rivetr = restart_rivetr(rivetr, e2e, engine)
    time.sleep(2)  # the reconcile has run (it starts what should run, in the background)
    assert rivetr.api.get(f"/api/services/{cache['id']}").json()["status"] == "stopped"
    assert rivetr.cli("inspect", "-f", "{{.State.Running}}", f"rivetr-svc-{cache['name']}").strip() == "false"

    # 6. delete: keep_volumes leaves the data on the engine, the default removes it
    volume = pg["volumes"][0]["engine_name"]
    response = rivetr.api.delete(f"/api/services/{pg['id']}", params={"keep_volumes": "true"})
    assert response.status_code == 204, response.text
    assert rivetr.cli("volume", "ls", "-q", "--filter", f"name={volume}").split() == [volume]
    assert rivetr.api.get(f"/api/services/{pg['id']}").status_code == 404
    maria_volume = maria["volumes"][0]["engine_name"]
    assert rivetr.api.delete(f"/api/services/{maria['id']}").status_code == 204
    assert rivetr.cli("volume", "ls", "-q", "--filter", f"name={maria_volume}").split() == []
    assert rivetr.api.delete(f"/api/services/{cache['id']}").status_code == 204
