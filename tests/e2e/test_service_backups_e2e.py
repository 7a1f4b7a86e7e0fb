"""Backups of managed services on real engines (Docker and Podman): real PostgreSQL, MariaDB and Redis (the
official names, from the local mirror's stand-ins), the real backup worker, a local destination and a real
S3-compatible server (moto's), encrypted.

For each: rows (keys) are written, the service is backed up, a table is dropped (Redis: FLUSHALL), the backup is
restored into the same service and the row count and an md5 of the ordered rows are compared with the values
before; PostgreSQL is also restored into a new service of the same type, whose own credentials keep working,
and a restore into a service of another type is refused (422)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

PG_FILL = (
    "CREATE TABLE items (id int PRIMARY KEY, v text); "
    "INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 5000) g; "
    "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('kept');"
)
PG_SUM = "SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items"
_DIGITS = "(" + " UNION ALL ".join(f"SELECT {d} AS n" for d in range(10)) + ")"
MY_FILL = (  # 3000 rows from a cross join of digits (recursive CTEs stop at 1000 levels by default)
    "CREATE TABLE items (id int PRIMARY KEY, v varchar(64)); "
    f"INSERT INTO items SELECT id, md5(id) FROM (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + d.n + 1 AS id "
    f"FROM {_DIGITS} a, {_DIGITS} b, {_DIGITS} c, {_DIGITS} d) AS g WHERE id <= 3000;"
)
MY_SUM = "SELECT CONCAT(COUNT(*), ':', MD5(GROUP_CONCAT(id, '=', v ORDER BY id SEPARATOR ','))) FROM items"


def wait_status(rivetr: Any, path: str, done: tuple[str, ...], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = rivetr.api.get(path)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        if body["status"] in done:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def create_service(rivetr: Any, name: str, type_: str) -> dict[str, Any]:
    response = rivetr.api.post("/api/services", json={"name": name, "type": type_})
    assert response.status_code == 201, response.text
    service = wait_status(rivetr, f"/api/services/{response.json()['id']}", ("running", "failed"))
    assert service["status"] == "running", service
    revealed = rivetr.api.get(f"/api/services/{service['id']}?reveal=true").json()
    return dict(revealed)


def in_service(rivetr: Any, service: dict[str, Any], *cmd: str, env: dict[str, str] | None = None) -> str:
    flags = [part for key, value in (env or {}).items() for part in ("-e", f"{key}={value}")]
    return str(rivetr.cli("exec", *flags, f"rivetr-svc-{service['name']}", *cmd)).strip()


def psql(rivetr: Any, service: dict[str, Any], sql: str) -> str:
    creds = service["credentials"]
    return in_service(
        rivetr,
        service,
        "psql", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-U", creds["user"], "-d", creds["database"],
        "-c", sql,
        env={"PGPASSWORD": creds["password"]},
    )  # fmt: skip


def mysql(rivetr: Any, service: dict[str, Any], sql: str) -> str:
    creds = service["credentials"]  # the app user, as a linked app connects
    return in_service(
        rivetr,
        service,
        "mariadb", "-h", "127.0.0.1", "-u", creds["user"], "-N", "-B", creds["database"], "-e", sql,
        env={"MYSQL_PWD": creds["password"]},
    )  # fmt: skip


def redis(rivetr: Any, service: dict[str, Any], *args: str) -> str:
    return in_service(
        rivetr, service, "redis-cli", *args, env={"REDISCLI_AUTH": service["credentials"]["password"]}
    )


def destination(rivetr: Any, kind: str, name: str, tmp_path: Path, s3: Any) -> dict[str, Any]:
    if kind == "local":
        path = tmp_path / f"archives-{name}"
        path.mkdir()
        body: dict[str, Any] = {"name": name, "kind": "local", "path": str(path)}
    else:
        body = {
            "name": name,
            **s3.destination(s3.create_bucket(), prefix=f"rivetr/{name}"),
            "passphrase": "service backups passphrase",
        }
    response = rivetr.api.post("/api/backup-destinations", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def backup(rivetr: Any, service: dict[str, Any], dest: dict[str, Any]) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/services/{service['id']}/backups", json={"destination_id": dest["id"]})
    assert response.status_code == 202, response.text
    done = wait_status(rivetr, f"/api/backups/{response.json()['id']}", ("succeeded", "failed"))
    assert done["status"] == "succeeded", done
    assert done["what"] == "service" and done["service_id"] == service["id"], done
    return done


def restore(rivetr: Any, backup_id: str, **body: Any) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/backups/{backup_id}/restore-service", json=body)
    assert response.status_code == 202, response.text
    return wait_status(rivetr, f"/api/restores/{response.json()['id']}", ("succeeded", "failed"))


def cleanup(rivetr: Any, services: list[dict[str, Any]]) -> None:
    for service in services:
        rivetr.api.delete(f"/api/services/{service['id']}?force=true")


@pytest.mark.parametrize("engine", ENGINES)
def test_postgres_backup_restore_in_place_and_into_a_new_service(e2e, engine, tmp_path, s3_server):
    rivetr = e2e(engine)
    created: list[dict[str, Any]] = []
    try:
        pg = create_service(rivetr, f"bkpg-{engine[:3]}", "postgres")
        created.append(pg)
        psql(rivetr, pg, PG_FILL)
        before = psql(rivetr, pg, PG_SUM)
        assert before.startswith("5000:"), before

        s3_dest = destination(rivetr, "s3", f"pg-s3-{engine[:3]}", tmp_path, s3_server)
        local_dest = destination(rivetr, "local", f"pg-loc-{engine[:3]}", tmp_path, None)
        encrypted = backup(rivetr, pg, s3_dest)
        assert encrypted["encrypted"] is True and encrypted["key"].endswith(".sql.zst.enc"), encrypted
        assert encrypted["key"].startswith(f"services/{pg['name']}-{pg['id']}/")
        plain = backup(rivetr, pg, local_dest)
        dump = Path(local_dest["path"], plain["key"])
        assert dump.is_file() and dump.stat().st_size == plain["size_bytes"]

        # Lose data: a table dropped, another changed. The restore brings both back as they were.
        psql(rivetr, pg, "DROP TABLE items; INSERT INTO notes (body) VALUES ('after the backup')")
        result = restore(rivetr, encrypted["id"])
        assert result["status"] == "succeeded", result
        assert psql(rivetr, pg, PG_SUM) == before
        assert psql(rivetr, pg, "SELECT string_agg(body, ',') FROM notes") == "kept"

        # Into a new service of the same type: the data comes, its own password still works (psql uses it).
        copy = create_service(rivetr, f"bkpg2-{engine[:3]}", "postgres")
        created.append(copy)
        assert copy["credentials"]["password"] != pg["credentials"]["password"]
        result = restore(rivetr, plain["id"], service_id=copy["id"])
        assert result["status"] == "succeeded", result
        assert psql(rivetr, copy, PG_SUM) == before

        cache = create_service(rivetr, f"bkpgr-{engine[:3]}", "redis")
        created.append(cache)
        response = rivetr.api.post(
            f"/api/backups/{plain['id']}/restore-service", json={"service_id": cache["id"]}
        )
        assert response.status_code == 422, response.text
        listed = rivetr.api.get(f"/api/services/{pg['id']}/backups").json()["items"]
        assert {b["id"] for b in listed} == {encrypted["id"], plain["id"]}
    finally:
        cleanup(rivetr, created)


@pytest.mark.parametrize("engine", ENGINES)
def test_mariadb_backup_and_restore(e2e, engine, tmp_path):
    rivetr = e2e(engine)
    created: list[dict[str, Any]] = []
    try:
        db = create_service(rivetr, f"bkmy-{engine[:3]}", "mariadb")
        created.append(db)
        mysql(rivetr, db, MY_FILL)
        before = mysql(rivetr, db, MY_SUM)
        assert before.startswith("3000:"), before
        dest = destination(rivetr, "local", f"my-loc-{engine[:3]}", tmp_path, None)
        done = backup(rivetr, db, dest)
        assert done["consistency"] == "mysqldump" and done["key"].endswith(".sql.zst")
        mysql(rivetr, db, "DROP TABLE items")
        result = restore(rivetr, done["id"])
        assert result["status"] == "succeeded", result
        assert mysql(rivetr, db, MY_SUM) == before
    finally:
        cleanup(rivetr, created)


@pytest.mark.parametrize("engine", ENGINES)
def test_redis_backup_and_restore(e2e, engine, tmp_path, s3_server):
    rivetr = e2e(engine)
    created: list[dict[str, Any]] = []
    try:
        cache = create_service(rivetr, f"bkrd-{engine[:3]}", "redis")
        created.append(cache)
        for i in range(4):
            redis(rivetr, cache, "SET", f"key:{i}", f"value-{i}")
        redis(rivetr, cache, "EVAL", "for i=1,2000 do redis.call('SET','k:'..i,'v'..i) end return 1", "0")
        redis(rivetr, cache, "RPUSH", "list", "a", "b", "c")
        before = (redis(rivetr, cache, "DBSIZE"), redis(rivetr, cache, "LRANGE", "list", "0", "-1"))
        assert before[0] == str(2000 + 4 + 1), before
        dest = destination(rivetr, "s3", f"rd-s3-{engine[:3]}", tmp_path, s3_server)
        done = backup(rivetr, cache, dest)
        assert done["consistency"] == "redis_rdb" and done["key"].endswith(".rdb.zst.enc"), done

        redis(rivetr, cache, "FLUSHALL")
        assert redis(rivetr, cache, "DBSIZE") == "0"
        result = restore(rivetr, done["id"])
        assert result["status"] == "succeeded", result
        service = rivetr.api.get(f"/api/services/{cache['id']}").json()
        assert service["status"] == "running", service
        assert (redis(rivetr, cache, "DBSIZE"), redis(rivetr, cache, "LRANGE", "list", "0", "-1")) == before
        assert redis(rivetr, cache, "GET", "k:1234") == "v1234"
    finally:
        cleanup(rivetr, created)
