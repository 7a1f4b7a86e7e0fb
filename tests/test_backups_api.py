"""Backups through the API and the service with the FAKE runtime and a fake backup worker (a few lines of
shutil standing in for the child process, so the orchestration is what is tested): validation (422 naming the
field), masking of secrets, 409s, consistency (pause always thawed, a failing pre-backup command), restores
(staged, swapped while the container is stopped, nothing touched when staging fails), retention as a pure
function, schedules as scheduler jobs, and runs interrupted by a server stop. Real engines, the real worker and
a real S3 server: tests/e2e/test_backups_e2e.py."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from rivetr_core.backup.retention import expired, keep_set
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, make_config
from tests.test_deploy_pipeline import Events, _hookimpls, deploy_and_wait, make_app


class BackupFailed(Exception):
    """Shaped like rivetr_core.backup.runner.BackupFailed (the service recognises it by name and fields)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}


class FakeWorker:
    """The worker protocol over local directories: an "archive" is a directory ``<path>/<key>.d``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail: dict[str, BackupFailed] = {}
        self.gate: asyncio.Event | None = None  # a backup waits for it (tests look at a run in progress)

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        op = request["op"]
        if op in self.fail:
            raise self.fail[op]
        if op == "test":
            path = Path(request["destination"].get("path") or "/nonexistent")
            if not path.is_dir():
                raise BackupFailed("not_a_directory", f"{path} is not a directory")
            return {}
        if op == "backup":
            if self.gate is not None:
                await self.gate.wait()
            archive = Path(request["destination"]["path"], request["key"] + ".d")
            for source in request["sources"]:
                shutil.copytree(source["path"], archive / source["name"], symlinks=True)
            marker = Path(request["destination"]["path"], request["key"])
            marker.write_text(request["key"])
            digest = hashlib.sha256(marker.read_bytes()).hexdigest()
            return {"key": request["key"], "size": marker.stat().st_size, "sha256": digest, "duration_ms": 5}
        if op == "stage":
            archive = Path(request["destination"]["path"], request["key"] + ".d")
            token = "t1"
            for target in request["targets"]:
                staging = Path(target["path"], f".rivetr-restore-{token}")
                shutil.copytree(archive / target["name"], staging, symlinks=True)
            return {"token": token, "restored": []}
        if op == "swap":
            for target in request["targets"]:
                root = Path(target["path"])
                staging = root / f".rivetr-restore-{request['token']}"
                for entry in list(root.iterdir()):
                    if entry != staging:
                        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                for entry in list(staging.iterdir()):
                    entry.rename(root / entry.name)
                staging.rmdir()
            return {}
        if op == "discard":
            for target in request["targets"]:
                shutil.rmtree(Path(target["path"], f".rivetr-restore-{request['token']}"), ignore_errors=True)
            return {}
        if op == "delete":
            marker = Path(request["destination"]["path"], request["key"])
            shutil.rmtree(str(marker) + ".d", ignore_errors=True)
            existed = marker.exists()
            marker.unlink(missing_ok=True)
            return {"deleted": existed}
        if op == "put_file":
            target = Path(request["destination"]["path"], request["key"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(request["file"], target)
            return {"key": request["key"], "size": target.stat().st_size, "sha256": "x" * 64}
        raise AssertionError(f"unexpected op {op}")


@pytest.fixture
def events() -> Events:
    return _hookimpls(Events())


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
async def bapi(
    tmp_path: Path, fake_runtime: FakeRuntime, worker: FakeWorker, events: Events
) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    config = make_config(tmp_path / "data", runtime={"crash_check_interval": 0.1})
    app = create_app(config, plugins=[events])
    ctx = app.extensions["rivetr_ctx"]
    ctx._runtime = fake_runtime
    ctx.services.backups.worker = worker
    async with app.test_app():
        yield ApiClient(app)


def _ctx(api: ApiClient) -> Any:
    return api.app.extensions["rivetr_ctx"]


def _field(body: dict[str, Any]) -> Any:
    return body["error"]["details"][0]["field"]


async def _local(api: ApiClient, tmp_path: Path, name: str = "disk", **extra: Any) -> dict[str, Any]:
    path = tmp_path / f"dest-{name}"
    path.mkdir(exist_ok=True)
    code, body = await api.post(
        "/api/backup-destinations", json={"name": name, "kind": "local", "path": str(path), **extra}
    )
    assert code == 201, body
    return body


async def _wait(api: ApiClient, path: str, timeout: float = 10) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, body = await api.get(path)
        assert code == 200, body
        if body["status"] != "running":
            # The row is final before the run's event is emitted: let the run's task end too.
            ident = path.rstrip("/").rsplit("/", 1)[-1]
            await api.ctx.services.backups.wait(ident)
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.02)


async def _deployed_app_with_volume(api: ApiClient, git_server: Any, name: str = "web", **extra: Any) -> dict:
    app = await make_app(api, git_server.create_repo(name), name, **extra)
    code, body = await api.post(
        f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"}
    )
    assert code == 201, body
    await deploy_and_wait(api, app["id"], ("running",))
    return app


async def _volume_dir(api: ApiClient, app_id: str, name: str = "data") -> Path:
    path = await _ctx(api)._runtime.volume_path(f"rivetr-{app_id}-{name}")
    assert path is not None
    return Path(path)


# ---------------------------------------------------------------------------------------------- destinations
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "kind": "local", "path": "/tmp"}, "name"),
        ({"name": "d", "kind": "ftp", "path": "/tmp"}, "kind"),
        ({"name": "d", "kind": "local", "path": "relative/dir"}, "path"),
        ({"name": "d", "kind": "local", "path": "/"}, "path"),
        ({"name": "d", "kind": "local", "path": "/tmp", "bucket": "b"}, "bucket"),
        (
            {
                "name": "d",
                "kind": "s3",
                "endpoint_url": "ftp://x",
                "bucket": "abc",
                "access_key": "a",
                "secret_key": "s",
            },
            "endpoint_url",
        ),
        (
            {
                "name": "d",
                "kind": "s3",
                "endpoint_url": "http://127.0.0.1:9",
                "bucket": "A_B",
                "access_key": "a",
                "secret_key": "s",
            },
            "bucket",
        ),
        (
            {
                "name": "d",
                "kind": "s3",
                "endpoint_url": "http://127.0.0.1:9",
                "bucket": "abc",
                "access_key": "a",
            },
            "secret_key",
        ),
        ({"name": "d", "kind": "local", "path": "/tmp", "passphrase": "short"}, "passphrase"),
        ({"name": "d", "kind": "local", "path": "/tmp", "extra": 1}, "extra"),
    ],
)
async def test_invalid_destination_is_a_422_naming_the_field(bapi, worker, body, field):
    code, answer = await bapi.post("/api/backup-destinations", json=body)
    assert code == 422, answer
    assert field in str(_field(answer)), answer
    assert not [r for r in worker.requests if r["op"] == "test"]  # nothing reached the worker


async def test_destination_check_failure_is_a_422_naming_the_problem(bapi, tmp_path):
    body = {"name": "gone", "kind": "local", "path": str(tmp_path / "missing")}
    code, answer = await bapi.post("/api/backup-destinations", json=body)
    assert code == 422
    assert answer["error"]["code"] == "destination_check_failed"
    assert answer["error"]["details"]["problem"] == "not_a_directory"
    code, page = await bapi.get("/api/backup-destinations")
    assert (code, page) == (200, {"items": [], "next": None})  # nothing saved


async def test_secrets_are_masked_encrypted_and_reach_only_the_worker(bapi, worker):
    body = {
        "name": "s3",
        "kind": "s3",
        "endpoint_url": "http://127.0.0.1:9000",
        "bucket": "my-bucket",
        "prefix": "/rivetr/",
        "access_key": "AKIA",
        "secret_key": "very-secret-key",
        "passphrase": "correct horse battery",
    }
    worker.fail = {}
    original = worker.__call__

    async def accept(request: dict[str, Any]) -> dict[str, Any]:  # no S3 here: the check passes
        if request["op"] == "test":
            worker.requests.append(request)
            return {}
        return await original(request)

    _ctx(bapi).services.backups.worker = accept
    code, dest = await bapi.post("/api/backup-destinations", json=body)
    assert code == 201, dest
    assert dest["secret_key"] == "••••••••" and dest["has_passphrase"] is True
    assert dest["prefix"] == "rivetr" and dest["region"] == "us-east-1" and dest["path"] is None
    assert "passphrase" not in dest and "very-secret-key" not in str(dest)
    sent = worker.requests[-1]["destination"]
    assert sent["secret_key"] == "very-secret-key" and sent["passphrase"] == "correct horse battery"
    from rivetr_core.models.backups import BackupDestination

    async with _ctx(bapi).db.session() as session:
        row = await session.get(BackupDestination, dest["id"])
    assert "very-secret-key" not in str(row.config) and "very-secret-key" not in (row.secret_enc or "")
    assert "correct horse" not in (row.secret_enc or "")
    code, again = await bapi.get(f"/api/backup-destinations/{dest['id']}")
    assert code == 200 and again == dest
    code, answer = await bapi.post("/api/backup-destinations", json=body)
    assert code == 409 and _field(answer) == "name"


async def test_destination_test_route_and_404(bapi, tmp_path, worker):
    dest = await _local(bapi, tmp_path)
    code, body = await bapi.post(f"/api/backup-destinations/{dest['id']}/test")
    assert (code, body) == (200, {"ok": True})
    worker.fail["test"] = BackupFailed("disk_full", "no space left on the device")
    code, body = await bapi.post(f"/api/backup-destinations/{dest['id']}/test")
    assert code == 422 and body["error"]["details"]["problem"] == "disk_full"
    assert "No space" in body["error"]["message"]
    code, body = await bapi.get("/api/backup-destinations/nope")
    assert code == 404


# ------------------------------------------------------------------------------------------ backup runs
async def test_backup_pauses_the_app_and_always_unpauses(bapi, git_server, fake_runtime, tmp_path, events):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    (await _volume_dir(bapi, app["id"]) / "file.txt").write_text("hello")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 202 and run["status"] == "running", run
    assert run["consistency"] == "pause" and run["volumes"] == [
        {"name": "data", "mount_path": "/data", "kind": "volume"}
    ]
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    assert done["status"] == "succeeded", done
    assert done["size_bytes"] > 0 and len(done["sha256"]) == 64 and done["duration_ms"] == 5
    assert done["key"].startswith(f"apps/web-{app['id']}/") and done["key"].endswith(f"-{run['id']}.tar.zst")
    assert (tmp_path / "dest-disk" / (done["key"] + ".d") / "data" / "file.txt").read_text() == "hello"
    paused = fake_runtime.calls_to("pause")
    assert len(paused) == 1 and fake_runtime.calls_to("unpause") == paused
    assert not any(c.paused for c in fake_runtime.containers.values())
    assert [e.type for e in events.events if e.type.startswith("backup_")] == ["backup_succeeded"]

    # The worker fails: the run records the error, the container is thawed all the same, backup_failed.
    from rivetr_core.backup.retention import expired as _  # noqa: F401  (imported by the service lazily too)

    _ctx(bapi).services.backups.worker.fail["backup"] = BackupFailed(
        "disk_full", "no space left on the device"
    )
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    failed = await _wait(bapi, f"/api/backups/{run['id']}")
    assert failed["status"] == "failed" and "no space left" in failed["error"]
    assert len(fake_runtime.calls_to("unpause")) == 2 and not any(
        c.paused for c in fake_runtime.containers.values()
    )
    failure = [e for e in events.events if e.type == "backup_failed"][-1]
    assert failure.data["backup_id"] == run["id"] and "no space" in failure.data["error"]
    assert failure.app_name == "web" and failure.data["destination"] == "disk"

    code, page = await bapi.get(f"/api/apps/{app['id']}/backups")
    assert (
        code == 200 and [b["id"] for b in page["items"]] == [run["id"], done["id"]] and page["next"] is None
    )
    code, page = await bapi.get("/api/backups?status=failed")
    assert [b["id"] for b in page["items"]] == [run["id"]]


async def test_pre_backup_command_runs_in_the_container_and_a_failure_fails_the_run(
    bapi, git_server, fake_runtime, tmp_path
):
    from rivetr_core.contract import ExecResult

    dest = await _local(bapi, tmp_path)
    code, answer = await bapi.post(
        "/api/apps", json={"name": "x", "git_url": "https://e.com/a/b.git", "backup_consistency": "command"}
    )
    assert code == 422 and _field(answer) == "pre_backup_command"
    app = await _deployed_app_with_volume(
        bapi, git_server, backup_consistency="command", pre_backup_command="dump-db > /data/dump.sql"
    )
    assert app["backup_consistency"] == "command" and app["pre_backup_command"] == "dump-db > /data/dump.sql"
    fake_runtime.exec_handler = lambda cid, cmd, env: ExecResult(3, "dump-db: database is locked")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    failed = await _wait(bapi, f"/api/backups/{run['id']}")
    assert failed["status"] == "failed"
    assert "exited with code 3" in failed["error"] and "database is locked" in failed["error"]
    assert fake_runtime.calls_to("exec")[-1]["cmd"] == ["sh", "-c", "dump-db > /data/dump.sql"]
    assert not fake_runtime.calls_to("pause")
    fake_runtime.exec_handler = lambda cid, cmd, env: ExecResult(0, "")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert (await _wait(bapi, f"/api/backups/{run['id']}"))["status"] == "succeeded"
    code, updated = await bapi.put(f"/api/apps/{app['id']}", json={"pre_backup_command": None})
    assert code == 422 and _field(updated) == "pre_backup_command"  # still "command": it needs one
    code, updated = await bapi.put(
        f"/api/apps/{app['id']}", json={"backup_consistency": "none", "pre_backup_command": None}
    )
    assert code == 200 and updated["backup_consistency"] == "none" and updated["pre_backup_command"] is None
    code, updated = await bapi.put(f"/api/apps/{app['id']}", json={"backup_consistency": "sometimes"})
    assert code == 422 and _field(updated) == "backup_consistency"


async def test_backup_input_errors_and_409_while_one_runs(bapi, git_server, tmp_path, worker):
    dest = await _local(bapi, tmp_path)
    code, answer = await bapi.post("/api/apps/nope/backups", json={"destination_id": dest["id"]})
    assert code == 404
    app = await make_app(bapi, git_server.create_repo("bare"), "bare")
    code, answer = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 422 and "no volumes" in answer["error"]["message"]
    app = await _deployed_app_with_volume(bapi, git_server)
    code, answer = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": "nope"})
    assert code == 404 and _field(answer) == "destination_id"
    code, answer = await bapi.post(
        f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"], "volumes": ["data", "logs"]}
    )
    assert (
        code == 422 and _field(answer) == "volumes" and answer["error"]["details"][0]["available"] == ["data"]
    )
    code, answer = await bapi.post(
        f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"], "codec": "xz"}
    )
    assert code == 422 and _field(answer) == "codec"

    worker.gate = asyncio.Event()
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 202
    code, answer = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 409 and answer["error"]["code"] == "backup_in_progress"
    code, answer = await bapi.delete(f"/api/backups/{run['id']}")
    assert code == 409
    code, answer = await bapi.delete(f"/api/backup-destinations/{dest['id']}?force=true")
    assert code == 409 and answer["error"]["code"] == "destination_in_use"
    worker.gate.set()
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    assert done["status"] == "succeeded"

    # Deleting the destination: 409 while backups reference it, ?force=true removes the rows, not the archives.
    code, answer = await bapi.delete(f"/api/backup-destinations/{dest['id']}")
    assert code == 409 and answer["error"]["details"] == {"schedules": 0, "backups": 1}
    archive = tmp_path / "dest-disk" / done["key"]
    assert archive.exists()
    code, _ = await bapi.delete(f"/api/backup-destinations/{dest['id']}?force=true")
    assert code == 204
    assert (await bapi.get(f"/api/backups/{run['id']}"))[0] == 404 and archive.exists()


async def test_delete_backup_removes_the_archive_then_the_row(bapi, git_server, tmp_path):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    _code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    archive = tmp_path / "dest-disk" / done["key"]
    assert archive.exists()
    assert (await bapi.delete(f"/api/backups/{run['id']}"))[0] == 204
    assert not archive.exists() and (await bapi.get(f"/api/backups/{run['id']}"))[0] == 404


async def test_runtime_without_volume_access_is_a_clear_409(bapi, git_server, fake_runtime, tmp_path):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)

    class OldRuntime:  # a third-party runtime written before volume backups
        name = "old"

        def __getattr__(self, item: str) -> Any:
            if item in ("volume_path", "pause", "unpause", "start"):
                raise AttributeError(item)
            return getattr(fake_runtime, item)

    _ctx(bapi)._runtime = OldRuntime()
    code, answer = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 409 and answer["error"]["code"] == "runtime_unsupported"
    assert "Runtime old cannot back up volumes" in answer["error"]["message"]


# ---------------------------------------------------------------------------------------------- restores
async def test_restore_in_place_and_into_another_app(bapi, git_server, fake_runtime, tmp_path, events):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    live = await _volume_dir(bapi, app["id"])
    (live / "file.txt").write_text("v1")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    (live / "file.txt").write_text("v2")
    (live / "new.txt").write_text("added after the backup")

    stops_before = len(fake_runtime.calls_to("stop"))
    code, restore = await bapi.post(
        f"/api/backups/{done['id']}/restore"
    )  # no body: the source app, every volume
    assert code == 202 and restore["status"] == "running" and restore["app_id"] == app["id"], restore
    finished = await _wait(bapi, f"/api/restores/{restore['id']}")
    assert finished["status"] == "succeeded", finished
    assert (live / "file.txt").read_text() == "v1" and not (live / "new.txt").exists()
    assert not list(live.glob(".rivetr-*"))
    assert len(fake_runtime.calls_to("stop")) == stops_before + 1 and fake_runtime.calls_to("start")
    assert fake_runtime.live()  # started again
    assert [e.type for e in events.events if e.type.startswith("restore_")] == ["restore_succeeded"]

    # Into another app, which has no volume yet: created with the source's mount path.
    other = await make_app(bapi, git_server.create_repo("other"), "other")
    code, restore = await bapi.post(f"/api/backups/{done['id']}/restore", json={"app_id": other["id"]})
    assert code == 202, restore
    assert (await _wait(bapi, f"/api/restores/{restore['id']}"))["status"] == "succeeded"
    code, volumes = await bapi.get(f"/api/apps/{other['id']}/volumes")
    assert [(v["name"], v["mount_path"]) for v in volumes["items"]] == [("data", "/data")]
    assert (await _volume_dir(bapi, other["id"]) / "file.txt").read_text() == "v1"
    code, page = await bapi.get(f"/api/backups/{done['id']}/restores")
    assert code == 200 and len(page["items"]) == 2 and page["items"][0]["id"] == restore["id"]


async def test_failed_staging_leaves_live_data_and_the_app_untouched(
    bapi, git_server, fake_runtime, tmp_path, worker, events
):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    live = await _volume_dir(bapi, app["id"])
    (live / "file.txt").write_text("v1")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    assert code == 202, run
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    (live / "file.txt").write_text("live")
    stops = len(fake_runtime.calls_to("stop"))
    worker.fail["stage"] = BackupFailed("wrong_passphrase", "the passphrase does not decrypt this archive")
    _code, restore = await bapi.post(f"/api/backups/{done['id']}/restore", json={})
    finished = await _wait(bapi, f"/api/restores/{restore['id']}")
    assert finished["status"] == "failed" and "passphrase" in finished["error"]
    assert (live / "file.txt").read_text() == "live" and len(fake_runtime.calls_to("stop")) == stops
    assert fake_runtime.live()
    assert [e.type for e in events.events if e.type.startswith("restore_")] == ["restore_failed"]

    # The swap fails after the stop: staging discarded, the container started again all the same.
    worker.fail = {"swap": BackupFailed("swap_failed", "rename failed")}
    _code, restore = await bapi.post(f"/api/backups/{done['id']}/restore", json={})
    finished = await _wait(bapi, f"/api/restores/{restore['id']}")
    assert finished["status"] == "failed" and (live / "file.txt").read_text() == "live"
    assert not list(live.glob(".rivetr-restore-*")) and fake_runtime.live()
    assert [r["op"] for r in worker.requests][-1] == "discard"


async def test_restore_input_errors(bapi, git_server, tmp_path, worker):
    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    code, answer = await bapi.post(f"/api/backups/{done['id']}/restore", json={"volumes": ["nope"]})
    assert code == 422 and _field(answer) == "volumes"
    code, answer = await bapi.post(f"/api/backups/{done['id']}/restore", json={"app_id": "nope"})
    assert code == 404 and _field(answer) == "app_id"
    code, answer = await bapi.post(f"/api/backups/{done['id']}/restore", json={"bogus": 1})
    assert code == 422
    assert (await bapi.post("/api/backups/nope/restore", json={}))[0] == 404
    worker.fail["backup"] = BackupFailed("disk_full", "full")
    code, run = await bapi.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest["id"]})
    bad = await _wait(bapi, f"/api/backups/{run['id']}")
    code, answer = await bapi.post(f"/api/backups/{bad['id']}/restore", json={})
    assert code == 409
    assert (await bapi.get("/api/restores/nope"))[0] == 404


# --------------------------------------------------------------------------------------- state backups
async def test_state_backup_to_a_destination(bapi, tmp_path, events):
    dest = await _local(bapi, tmp_path)
    code, run = await bapi.post("/api/backups", json={"what": "state", "destination_id": dest["id"]})
    assert code == 202 and run["what"] == "state" and run["app_id"] is None, run
    done = await _wait(bapi, f"/api/backups/{run['id']}")
    assert done["status"] == "succeeded", done
    assert done["key"].startswith("state/rivetr-state-") and (tmp_path / "dest-disk" / done["key"]).is_file()
    assert [e.data["what"] for e in events.events if e.type == "backup_succeeded"] == ["state"]
    code, answer = await bapi.post(f"/api/backups/{done['id']}/restore", json={})
    assert code == 422 and "rivetr backup restore" in answer["error"]["message"]
    code, answer = await bapi.post("/api/backups", json={"what": "volumes", "destination_id": dest["id"]})
    assert code == 422


# ---------------------------------------------------------------------------------------------- retention
def _at(day: int, hour: int = 3) -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=day, hours=hour)  # 2026-03-02 is a Monday


@pytest.mark.parametrize(
    ("runs", "rules", "kept"),
    [
        ([], {"keep_last": 3}, set()),
        ([("a", _at(0)), ("b", _at(1)), ("c", _at(2))], {"keep_last": 5}, {"a", "b", "c"}),
        ([("a", _at(0)), ("b", _at(1)), ("c", _at(2))], {"keep_last": 2}, {"b", "c"}),
        (
            [("a", _at(0)), ("b", _at(1)), ("c", _at(2))],
            {"keep_last": 0},
            {"a", "b", "c"},
        ),  # no rule: keep all
        # Several a day: the newest of each day, for the 2 most recent days that have one.
        (
            [("a", _at(0, 1)), ("b", _at(0, 5)), ("c", _at(1, 1)), ("d", _at(1, 9)), ("e", _at(2, 2))],
            {"keep_daily": 2},
            {"d", "e"},
        ),
        # Days are those with backups: a month-long gap does not expire the old ones.
        ([("a", _at(0)), ("b", _at(1)), ("c", _at(40))], {"keep_daily": 3}, {"a", "b", "c"}),
        # Weeks (ISO): newest of each of the 2 most recent weeks.
        (
            [("a", _at(0)), ("b", _at(3)), ("c", _at(7)), ("d", _at(12)), ("e", _at(15))],
            {"keep_weekly": 2},
            {"d", "e"},
        ),
        # Rules add up: last 1 + daily 2 + weekly 3.
        (
            [
                ("a", _at(0)),
                ("b", _at(6)),
                ("c", _at(8)),
                ("d", _at(13, 1)),
                ("e", _at(13, 2)),
                ("f", _at(14)),
            ],
            {"keep_last": 1, "keep_daily": 2, "keep_weekly": 3},
            {"f", "e", "b"},
        ),
        # Ties in time: the id breaks them, one still counts once per day.
        ([("a", _at(0)), ("b", _at(0))], {"keep_daily": 1}, {"b"}),
    ],
)
def test_retention_keeps_the_newest_per_rule(runs, rules, kept):
    assert keep_set(runs, **rules) == kept
    assert expired(runs, **rules) == [i for i, _ in sorted(runs, key=lambda r: r[1]) if i not in kept]


def test_retention_counts_days_in_the_schedules_time_zone():
    # 14:30 and 15:30 UTC: one day in UTC, two days in Tokyo (+9: 23:30 and 00:30).
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo, March 2
    early = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 00:30 in Tokyo, March 3
    runs = [("late", late), ("early", early)]
    assert keep_set(runs, keep_daily=2, tz=UTC) == {"early"}
    assert keep_set(runs, keep_daily=1, tz=UTC) == {"early"}
    assert keep_set(runs, keep_daily=2, tz=ZoneInfo("Asia/Tokyo")) == {"late", "early"}
    naive = [("n", datetime(2026, 3, 2, 1)), ("m", datetime(2026, 3, 2, 2))]  # stored times are naive UTC
    assert expired(naive, keep_last=1) == ["n"]


# ---------------------------------------------------------------------------------------------- schedules
async def test_schedule_creates_updates_and_deletes_its_job(bapi, git_server, tmp_path):
    dest = await _local(bapi, tmp_path)
    app = await make_app(bapi, git_server.create_repo("web"), "web")
    base = {"app_id": app["id"], "destination_id": dest["id"], "cron": "0 3 * * *", "keep_last": 7}
    for bad, field in (
        ({"cron": "every night"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"keep_last": 0}, "keep_last"),
        ({"keep_daily": -1}, "keep_daily"),
        ({"app_id": None}, "app_id"),
        ({"what": "state"}, "app_id"),
    ):
        code, answer = await bapi.post("/api/backup-schedules", json={**base, **bad})
        assert code == 422 and _field(answer) == field, (bad, answer)
    code, answer = await bapi.post("/api/backup-schedules", json={**base, "destination_id": "nope"})
    assert code == 404 and _field(answer) == "destination_id"

    code, sched = await bapi.post("/api/backup-schedules", json={**base, "timezone": "Europe/Paris"})
    assert code == 201, sched
    assert sched["job_name"] == f"backup-schedule:{sched['id']}" and sched["next_run_at"]
    code, jobs = await bapi.get("/api/schedules")
    job = next(j for j in jobs["items"] if j["name"] == sched["job_name"])
    assert (job["kind"], job["cron"], job["timezone"], job["enabled"]) == (
        "backup_schedule",
        "0 3 * * *",
        "Europe/Paris",
        True,
    )

    code, changed = await bapi.put(
        f"/api/backup-schedules/{sched['id']}", json={"cron": "30 4 * * 1", "enabled": False}
    )
    assert code == 200 and changed["cron"] == "30 4 * * 1" and changed["enabled"] is False
    code, jobs = await bapi.get("/api/schedules")
    job = next(j for j in jobs["items"] if j["name"] == sched["job_name"])
    assert (job["cron"], job["enabled"]) == ("30 4 * * 1", False)
    code, answer = await bapi.put(f"/api/backup-schedules/{sched['id']}", json={"cron": None})
    assert code == 422
    code, page = await bapi.get(f"/api/backup-schedules?app_id={app['id']}")
    assert [s["id"] for s in page["items"]] == [sched["id"]]

    code, answer = await bapi.delete(f"/api/backup-destinations/{dest['id']}")
    assert code == 409 and answer["error"]["details"]["schedules"] == 1
    assert (await bapi.delete(f"/api/backup-schedules/{sched['id']}"))[0] == 204
    code, jobs = await bapi.get("/api/schedules")
    assert sched["job_name"] not in [j["name"] for j in jobs["items"]]
    assert (await bapi.get(f"/api/backup-schedules/{sched['id']}"))[0] == 404


async def test_scheduled_run_backs_up_and_applies_retention(bapi, git_server, tmp_path):
    from rivetr_core.scheduler.kinds import get_kind

    dest = await _local(bapi, tmp_path)
    app = await _deployed_app_with_volume(bapi, git_server)
    code, sched = await bapi.post(
        "/api/backup-schedules",
        json={"app_id": app["id"], "destination_id": dest["id"], "cron": "0 3 * * *", "keep_last": 2},
    )
    assert code == 201
    run = get_kind("backup_schedule")
    assert run is not None
    ctx = _ctx(bapi)
    results = [await run(ctx, {"schedule_id": sched["id"]}) for _ in range(4)]
    code, page = await bapi.get(f"/api/apps/{app['id']}/backups")
    ids = [b["id"] for b in page["items"]]
    assert ids == [results[3]["backup_id"], results[2]["backup_id"]]  # the newest 2 kept
    assert all(b["trigger"] == "schedule" and b["schedule_id"] == sched["id"] for b in page["items"])
    assert results[2]["expired"] == [results[0]["backup_id"]]
    keys = {str(p.relative_to(tmp_path / "dest-disk")) for p in (tmp_path / "dest-disk").rglob("*.tar.zst")}
    assert keys == {b["key"] for b in page["items"]}  # the expired archives are gone too

    # A schedule deleted with its app: its job's next run removes the job.
    assert (await bapi.delete(f"/api/apps/{app['id']}"))[0] == 204
    assert await run(ctx, {"schedule_id": sched["id"]}) == {"skipped": "the schedule no longer exists"}
    code, jobs = await bapi.get("/api/schedules")
    assert sched["job_name"] not in [j["name"] for j in jobs["items"]]
    code, page = await bapi.get("/api/backups")  # the backups outlive their app
    assert len(page["items"]) == 2 and all(
        b["app_id"] is None and b["app_name"] == "web" for b in page["items"]
    )


# ----------------------------------------------------------------------------------------- interrupted
async def test_runs_interrupted_by_a_server_stop_are_marked_failed_at_start(tmp_path):
    from rivetr_core.app import create_app
    from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore

    config = make_config(tmp_path / "data")
    app = create_app(config)
    async with app.test_app():
        ctx = app.extensions["rivetr_ctx"]
        async with ctx.db.session() as session:
            dest = BackupDestination(name="d", kind="local", config={"path": str(tmp_path)})
            session.add(dest)
            await session.flush()
            run = Backup(what="state", destination_id=dest.id, status="running")
            session.add(run)
            await session.flush()
            session.add(BackupRestore(backup_id=run.id, status="running"))
            await session.commit()
    again = create_app(config)
    async with again.test_app():
        client = ApiClient(again)
        _code, page = await client.get("/api/backups")
        assert page["items"][0]["status"] == "failed"
        assert page["items"][0]["error"] == "interrupted by a server restart"
        _code, restores = await client.get(f"/api/backups/{page['items'][0]['id']}/restores")
        assert restores["items"][0]["status"] == "failed"


async def test_every_backup_route_is_in_the_openapi_document(bapi):
    _code, spec = await bapi.get("/openapi.json")
    paths = spec["paths"]
    for path, methods in {
        "/api/backup-destinations": {"get", "post"},
        "/api/backup-destinations/{destination_id}": {"get", "delete"},
        "/api/backup-destinations/{destination_id}/test": {"post"},
        "/api/apps/{app_id}/backups": {"get", "post"},
        "/api/backups": {"get", "post"},
        "/api/backups/{backup_id}": {"get", "delete"},
        "/api/backups/{backup_id}/restore": {"post"},
        "/api/backups/{backup_id}/restores": {"get"},
        "/api/restores/{restore_id}": {"get"},
        "/api/backup-schedules": {"get", "post"},
        "/api/backup-schedules/{schedule_id}": {"get", "put", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "202" in paths["/api/apps/{app_id}/backups"]["post"]["responses"]
    assert "409" in paths["/api/backup-destinations/{destination_id}"]["delete"]["responses"]
    assert os.environ.get("RIVETR_NEVER_SET_THIS") is None
