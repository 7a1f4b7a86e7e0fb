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
    """``rivetr services import-backup`` and ``rivetr backup import`` against the API: the destination by name,
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
    finally:
        fake.shutdown()
