"""Importing a service archive another server made (POST /api/services/{id}/backups/import, the CLI's
``rivetr services import-backup``): the archive is a file of a real local destination; the import records its
real size and sha256 as a succeeded backup of the service, and refuses what it could not restore. The restore of an
imported backup on real engines is in tests/e2e/test_project_move_e2e.py."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

KEY = "services/db-0123456789abcdef/20261207T101500Z-feedface.sql.zst"


async def setup(api: Any, tmp_path: Path, *, passphrase: str | None = None) -> tuple[str, str, Path]:
    root = tmp_path / "archives"
    root.mkdir(exist_ok=True)
    body: dict[str, Any] = {"name": "moved", "kind": "local", "path": str(root)}
    if passphrase:
        body["passphrase"] = passphrase
    status, dest = await api.post("/api/backup-destinations", json=body)
    assert status == 201, dest
    status, service = await api.post("/api/services", json={"name": "db", "type": "postgres"})
    assert status == 201, service
    return service["id"], dest["id"], root


def put(root: Path, key: str, data: bytes) -> str:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


async def test_import_records_the_archive_as_a_succeeded_backup(api, tmp_path: Path) -> None:
    service_id, dest_id, root = await setup(api, tmp_path)
    digest = put(root, KEY, b"not really zstd, only read for its checksum" * 100)
    path = f"/api/services/{service_id}/backups/import"
    status, row = await api.post(path, json={"destination_id": dest_id, "key": KEY, "sha256": digest})
    assert status == 201, row
    assert row["status"] == "succeeded" and row["trigger"] == "import" and row["what"] == "service", row
    assert (row["key"], row["sha256"], row["size_bytes"]) == (KEY, digest, 4300)
    assert (row["codec"], row["encrypted"], row["consistency"]) == ("zst", False, "pg_dumpall")
    assert row["service_id"] == service_id and row["started_at"].startswith("2026-12-07T10:15:00")
    status, listed = await api.get(f"/api/services/{service_id}/backups")
    assert [b["id"] for b in listed["items"]] == [row["id"]]

    status, again = await api.post(path, json={"destination_id": dest_id, "key": KEY})
    assert status == 409 and row["id"] in again["error"]["message"], again


async def test_import_refuses_what_it_could_not_restore(api, tmp_path: Path) -> None:
    service_id, dest_id, root = await setup(api, tmp_path)
    put(root, KEY, b"archive")
    path = f"/api/services/{service_id}/backups/import"

    async def refused(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, out = await api.post(path, json={"destination_id": dest_id, **body})
        return status, out["error"]

    status, error = await refused({"key": KEY.replace(".sql.", ".rdb.")})  # a Redis archive into PostgreSQL
    assert status == 422 and error["details"][0]["field"] == "key" and "pg_dumpall" in error["message"], error
    status, error = await refused({"key": "apps/web/20261207T101500Z-x.tar.zst"})
    assert status == 422 and error["details"][0]["field"] == "key", error
    status, error = await refused({"key": "services/../../etc/passwd.sql.zst"})
    assert status == 422 and error["details"][0]["field"] == "key", error
    status, error = await refused({"key": KEY + ".enc"})  # encrypted, and the destination has no passphrase
    assert status == 422 and "passphrase" in error["message"], error
    status, error = await refused({"key": KEY, "sha256": "0" * 64})
    assert status == 422 and error["details"][0]["field"] == "sha256", error
    status, error = await refused({"key": KEY.replace("feedface", "missing")})
    assert status == 502 and error["details"]["problem"] == "archive_not_found", error
    status, out = await api.post(
        "/api/services/nosuch/backups/import", json={"destination_id": dest_id, "key": KEY}
    )
    assert status == 404, out
    assert (await api.get(f"/api/services/{service_id}/backups"))[1]["items"] == []


APP_KEY = "apps/web-0123456789abcdef/20261207T101500Z-cafebabe.tar.zst"


async def test_an_app_s_volume_archive_is_imported_for_its_named_volumes(api, tmp_path: Path) -> None:
    root = tmp_path / "archives"
    root.mkdir()
    status, dest = await api.post(
        "/api/backup-destinations", json={"name": "d", "kind": "local", "path": str(root)}
    )
    assert status == 201, dest
    body = {"name": "web", "git_url": "https://git.example.com/a/web.git"}
    status, app = await api.post("/api/apps", json=body)
    assert status == 201, app
    path = f"/api/apps/{app['id']}/backups/import"
    digest = put(root, APP_KEY, b"a volume archive" * 10)

    status, out = await api.post(path, json={"destination_id": dest["id"], "key": APP_KEY})
    assert status == 422 and out["error"]["details"][0]["field"] == "volumes", out  # no volume yet
    for volume in ("data", "cache"):
        status, out = await api.post(
            f"/api/apps/{app['id']}/volumes", json={"name": volume, "mount_path": f"/{volume}"}
        )
        assert status == 201, out
    status, out = await api.post(path, json={"destination_id": dest["id"], "key": KEY})  # a service's
    assert status == 422 and out["error"]["details"][0]["field"] == "key", out
    status, out = await api.post(
        path, json={"destination_id": dest["id"], "key": APP_KEY, "volumes": ["logs"]}
    )
    assert status == 422 and "logs" in out["error"]["message"], out

    status, row = await api.post(
        path, json={"destination_id": dest["id"], "key": APP_KEY, "sha256": digest, "volumes": ["data"]}
    )
    assert status == 201, row
    assert (row["what"], row["trigger"], row["app_id"], row["size_bytes"]) == (
        "volumes",
        "import",
        app["id"],
        160,
    )
    assert [(v["name"], v["mount_path"]) for v in row["volumes"]] == [("data", "/data")]
    status, out = await api.post(path, json={"destination_id": dest["id"], "key": APP_KEY})
    assert status == 409, out


def test_the_cli_imports_a_service_and_an_app_archive(tmp_path: Path) -> None:
    """``rivetr services import-backup``, ``rivetr backup import`` and ``rivetr stacks import-backup`` against the API: the destination by name,
    the sha256 checked, the volumes named; a wrong sha256 is the API's message and a non-zero exit."""
    import httpx

    from rivetr_core.testing import FakeRuntime
    from tests.support.cli import cli_on_runtime
    from tests.support.server import AUTH

    fake = FakeRuntime()
    root = tmp_path / "archives"
    root.mkdir()
    try:
        with (
            cli_on_runtime(tmp_path, fake) as (url, run),
            httpx.Client(base_url=url, headers=AUTH, timeout=30) as admin,
        ):
            made = admin.post(
                "/api/backup-destinations", json={"name": "moved", "kind": "local", "path": str(root)}
            )
            assert made.status_code == 201, made.text
            assert admin.post("/api/services", json={"name": "db", "type": "postgres"}).status_code == 201
            app = admin.post(
                "/api/apps", json={"name": "web", "git_url": "https://git.example.com/a/web.git"}
            )
            volume = admin.post(
                f"/api/apps/{app.json()['id']}/volumes", json={"name": "data", "mount_path": "/d"}
            )
            assert volume.status_code == 201, volume.text
            digest = put(root, KEY, b"archive")

            wrong = run(
                "services", "import-backup", "db", "--from", "moved", "--key", KEY, "--sha256", "0" * 64
            )
            assert wrong.exit_code != 0 and "sha256" in wrong.output, wrong.output
            done = run("services", "import-backup", "db", "--from", "moved", "--key", KEY, "--sha256", digest)
            assert done.exit_code == 0, done.output
            assert "imported backup" in done.output and "rivetr services restore" in done.output, done.output

            put(root, APP_KEY, b"a volume archive")
            done = run(
                "backup", "import", "web", "--from", "moved", "--key", APP_KEY, "--volume", "data", "--json"
            )
            assert done.exit_code == 0, done.output
            assert '"trigger": "import"' in done.output and '"what": "volumes"' in done.output, done.output

            stack = admin.post("/api/stacks", json={"name": "shop", "compose": STACK_COMPOSE})
            assert stack.status_code == 201, stack.text
            put(root, STACK_KEY, b"a stack volume archive")
            wrong = run(
                "stacks", "import-backup", "shop", "--from", "moved", "--key", STACK_KEY, "--volume", "x"
            )
            assert wrong.exit_code != 0 and "x" in wrong.output, wrong.output
            done = run(
                "stacks", "import-backup", "shop", "--from", "moved", "--key", STACK_KEY, "--volume", "static"
            )
            assert done.exit_code == 0, done.output
            assert "imported backup" in done.output and "rivetr stacks restore" in done.output, done.output
            listed = admin.get(f"/api/stacks/{stack.json()['id']}/backups").json()["items"]
            assert [(b["trigger"], [v["name"] for v in b["volumes"]]) for b in listed] == [
                ("import", ["static"])
            ]
    finally:
        fake.shutdown()


STACK_KEY = "stacks/shop-0123456789abcdef/20261207T101500Z-deadbeef.tar.zst"
STACK_COMPOSE = """
services:
  db:
    image: postgres:16
    volumes: ["pgdata:/var/lib/postgresql/data"]
  web:
    image: nginx
    volumes: ["static:/usr/share/nginx/html:ro"]
volumes:
  pgdata: {}
  static: {}
"""


async def test_a_stack_s_volume_archive_is_imported_for_its_declared_volumes(api, tmp_path: Path) -> None:
    """The import is recorded as a succeeded ``what: stack`` backup of the volumes the stack's compose file
    declares (all, or those named), which the stack's restore endpoint accepts; the app's refusals apply."""
    root = tmp_path / "archives"
    root.mkdir()
    status, dest = await api.post(
        "/api/backup-destinations", json={"name": "d", "kind": "local", "path": str(root)}
    )
    assert status == 201, dest
    status, empty = await api.post(
        "/api/stacks", json={"name": "bare", "compose": "services:\n  a:\n    image: x\n"}
    )
    assert status == 201, empty
    status, stack = await api.post("/api/stacks", json={"name": "shop", "compose": STACK_COMPOSE})
    assert status == 201, stack
    path = f"/api/stacks/{stack['id']}/backups/import"
    digest = put(root, STACK_KEY, b"a stack volume archive" * 10)

    async def refused(target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, out = await api.post(target, json={"destination_id": dest["id"], **body})
        return status, out["error"]

    status, error = await refused(f"/api/stacks/{empty['id']}/backups/import", {"key": STACK_KEY})
    assert status == 422 and error["details"][0]["field"] == "volumes", error  # it declares no volume
    for key in (APP_KEY, KEY, "stacks/../x/20261207T101500Z-a.tar.zst", STACK_KEY.replace(".tar.", ".sql.")):
        status, error = await refused(path, {"key": key})
        assert status == 422 and error["details"][0]["field"] == "key", (key, error)
    status, error = await refused(path, {"key": STACK_KEY, "volumes": ["logs"]})
    assert status == 422 and "logs" in error["message"], error
    status, error = await refused(path, {"key": STACK_KEY + ".enc"})
    assert status == 422 and "passphrase" in error["message"], error
    status, error = await refused(path, {"key": STACK_KEY, "sha256": "0" * 64})
    assert status == 422 and error["details"][0]["field"] == "sha256", error
    status, error = await refused(path, {"key": STACK_KEY.replace("deadbeef", "missing")})
    assert status == 502 and error["details"]["problem"] == "archive_not_found", error
    status, error = await refused("/api/stacks/nosuch/backups/import", {"key": STACK_KEY})
    assert status == 404, error
    assert (await api.get(f"/api/stacks/{stack['id']}/backups"))[1]["items"] == []

    status, row = await api.post(
        path, json={"destination_id": dest["id"], "key": STACK_KEY, "sha256": digest}
    )
    assert status == 201, row
    assert (row["what"], row["trigger"], row["status"], row["stack_id"], row["size_bytes"]) == (
        "stack",
        "import",
        "succeeded",
        stack["id"],
        220,
    )
    assert (row["codec"], row["encrypted"], row["consistency"]) == ("zst", False, "pause"), row
    assert row["started_at"].startswith("2026-12-07T10:15:00"), row
    assert [(v["name"], v["mount_path"], v["services"]) for v in row["volumes"]] == [
        ("pgdata", "/var/lib/postgresql/data", ["db"]),
        ("static", "/usr/share/nginx/html", ["web"]),
    ]
    status, listed = await api.get(f"/api/stacks/{stack['id']}/backups")
    assert [b["id"] for b in listed["items"]] == [row["id"]]
    status, again = await refused(path, {"key": STACK_KEY})
    assert status == 409 and row["id"] in again["message"], again

    other_key = STACK_KEY.replace("deadbeef", "0ddba11")
    put(root, other_key, b"one volume")
    status, row = await api.post(
        path, json={"destination_id": dest["id"], "key": other_key, "volumes": ["static"]}
    )
    assert status == 201 and [v["name"] for v in row["volumes"]] == ["static"], row
    status, restore = await api.post(f"/api/backups/{row['id']}/restore-stack", json={})
    assert status == 202 and restore["backup_id"] == row["id"], restore
