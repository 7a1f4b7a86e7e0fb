"""Volume backups and restores on real engines (Docker and Podman), with the real backup worker, to a local
directory and to a real S3-compatible server (moto's, started by the suite).

An app with a named volume gets data written through it (the notes CGI of tests/e2e/test_volumes.py) and by
exec (a random binary file, a sub-directory, a mode, a symlink). It is backed up (encrypted, paused for the
copy), restored into a fresh app (byte-identical files, sha256 compared inside the container, the app healthy)
and in place after the data changed. A corrupted archive and a wrong passphrase fail the restore with the live
data untouched and the app running again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_volumes import add_volume, notes, notes_repo
from tests.support import at_rest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

WRITE_FILES = (
    "mkdir -p /data/sub/deeper && head -c 300000 /dev/urandom > /data/sub/blob.bin && chmod 640 /data/sub/blob.bin"
    " && echo nested > /data/sub/deeper/n.txt && ln -sf notes.txt /data/link && sync"
)
CHECKSUMS = (
    "cd /data && find . -type f | sort | xargs sha256sum; find . -type l | sort; stat -c '%n %a' sub/blob.bin"
)


def container_of(rivetr: Any, app_id: str) -> str:
    app = rivetr.api.get(f"/api/apps/{app_id}").json()
    dep = rivetr.deployment(app["current_deployment_id"])
    return str(dep["container_id"])


def sh(rivetr: Any, app_id: str, command: str) -> str:
    return str(rivetr.cli("exec", container_of(rivetr, app_id), "sh", "-c", command))


def wait_done(rivetr: Any, path: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = rivetr.api.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def create_destination(rivetr: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = rivetr.api.post("/api/backup-destinations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def backup(rivetr: Any, app_id: str, destination_id: str) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/apps/{app_id}/backups", json={"destination_id": destination_id})
    assert response.status_code == 202, response.text
    done = wait_done(rivetr, f"/api/backups/{response.json()['id']}")
    assert done["status"] == "succeeded", done
    return done


def restore(rivetr: Any, backup_id: str, **body: Any) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/backups/{backup_id}/restore", json=body)
    assert response.status_code == 202, response.text
    return wait_done(rivetr, f"/api/restores/{response.json()['id']}")


def destination_body(kind: str, name: str, tmp_path: Path, s3: Any, passphrase: str) -> dict[str, Any]:
    if kind == "local":
        path = tmp_path / f"archives-{name}"
        path.mkdir(exist_ok=True)
        return {"name": name, "kind": "local", "path": str(path), "passphrase": passphrase}
    return {
        "name": name,
        **s3.destination(s3.create_bucket(), prefix=f"rivetr/{name}"),
        "passphrase": passphrase,
    }


@pytest.mark.parametrize("kind", ["local", "s3"])
@pytest.mark.parametrize("engine", ENGINES)
def test_backup_restore_round_trip(e2e, git_server, engine, kind, tmp_path, request):
    s3 = request.getfixturevalue("s3_server") if kind == "s3" else None
    rivetr = e2e(engine)
    name = f"bk-{engine[:3]}-{kind}"
    host = f"{name}.e2e.test"
    repo = notes_repo(git_server, name)
    app = rivetr.create_app(repo, name)
    add_volume(rivetr, app["id"], name="data", mount_path="/data")
    rivetr.deploy_and_wait(app["id"])
    assert notes(rivetr, host, "one") == ["one"]
    sh(rivetr, app["id"], WRITE_FILES)
    before = sh(rivetr, app["id"], CHECKSUMS)
    assert "sub/blob.bin" in before and "./link" in before and "sub/blob.bin 640" in before

    dest = create_destination(rivetr, destination_body(kind, f"{name}-d", tmp_path, s3, "right passphrase"))
    assert dest["has_passphrase"] is True
    done = backup(rivetr, app["id"], dest["id"])
    assert done["encrypted"] is True and done["key"].endswith(".enc") and done["size_bytes"] > 300000 * 0.9
    assert done["consistency"] == "pause"
    status, _ = rivetr.fetch(host)  # unpaused after the copy
    assert status == 200

    # Into a fresh app: its volume is created from the backup, the files come back byte for byte.
    fresh_name = f"{name}-new"
    fresh = rivetr.create_app(notes_repo(git_server, fresh_name), fresh_name)
    result = restore(rivetr, done["id"], app_id=fresh["id"])
    assert result["status"] == "succeeded", result
    rivetr.deploy_and_wait(fresh["id"])
    assert sh(rivetr, fresh["id"], CHECKSUMS) == before
    assert notes(rivetr, f"{fresh_name}.e2e.test") == ["one"]

    # In place after the data changed: the app is stopped, swapped, started, health-checked.
    assert notes(rivetr, host, "two") == ["one", "two"]
    sh(rivetr, app["id"], "rm -rf /data/sub && echo junk > /data/junk")
    result = restore(rivetr, done["id"])
    assert result["status"] == "succeeded", result
    rivetr.wait_content(host, "one\n", "/cgi-bin/notes")
    assert sh(rivetr, app["id"], CHECKSUMS) == before
    assert "junk" not in sh(rivetr, app["id"], "ls -a /data")

    events = rivetr.api.get(f"/api/apps/{app['id']}/backups").json()["items"]
    assert [b["id"] for b in events] == [done["id"]]


def _corrupt_local(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("engine", ENGINES)
def test_corrupted_archive_and_wrong_passphrase_leave_the_live_data(e2e, git_server, engine, tmp_path):
    rivetr = e2e(engine)
    name = f"bad-{engine[:3]}"
    host = f"{name}.e2e.test"
    app = rivetr.create_app(notes_repo(git_server, name), name)
    add_volume(rivetr, app["id"], name="data", mount_path="/data")
    rivetr.deploy_and_wait(app["id"])
    assert notes(rivetr, host, "one") == ["one"]
    sh(rivetr, app["id"], WRITE_FILES)
    dest = create_destination(
        rivetr, destination_body("local", f"{name}-d", tmp_path, None, "right passphrase")
    )
    done = backup(rivetr, app["id"], dest["id"])
    assert notes(rivetr, host, "after") == ["one", "after"]
    live = sh(rivetr, app["id"], CHECKSUMS)
    container = container_of(rivetr, app["id"])

    # A destination recreated with a mistyped passphrase, the backup's row pointing at it.
    wrong = create_destination(
        rivetr,
        {"name": f"{name}-w", "kind": "local", "path": dest["path"], "passphrase": "wrong passphrase"},
    )
    at_rest.execute(
        rivetr.server, "UPDATE backups SET destination_id = ? WHERE id = ?", wrong["id"], done["id"]
    )
    result = restore(rivetr, done["id"])
    assert result["status"] == "failed" and "passphrase" in result["error"], result
    assert sh(rivetr, app["id"], CHECKSUMS) == live and notes(rivetr, host) == ["one", "after"]
    assert container_of(rivetr, app["id"]) == container  # never stopped: staging failed first
    assert not sh(rivetr, app["id"], "ls -a /data | grep rivetr-restore || true").strip()
    at_rest.execute(
        rivetr.server, "UPDATE backups SET destination_id = ? WHERE id = ?", dest["id"], done["id"]
    )

    _corrupt_local(Path(dest["path"]) / done["key"])
    result = restore(rivetr, done["id"])
    assert result["status"] == "failed", result
    assert sh(rivetr, app["id"], CHECKSUMS) == live and notes(rivetr, host) == ["one", "after"]
    status, _ = rivetr.fetch(host)
    assert status == 200
