"""Backups of managed services without an engine: the dump and restore commands (pure), the worker's stream ops
(the real worker process, a local destination), and the API's rules and orchestration with a runtime whose
``exec_output`` / ``exec_input`` are in memory (the dump, the restore's stdin). Real engines with the real
databases: tests/e2e/test_service_backups_e2e.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.backup import dumps
from rivetr_core.backup.runner import BackupFailed, run_worker, worker_output
from rivetr_core.contract import ExecResult
from rivetr_core.contract.errors import ExecFailed
from rivetr_core.contract.runtime import ContainerInfo
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient

PASSWORD = "s3cr3t-Pass'word"


# -- commands --------------------------------------------------------------------------------------------------


def test_default_commands_keep_passwords_out_of_argv() -> None:
    login = dumps.Login.of(
        {"user": "app", "password": PASSWORD, "database": "app"}, {"MYSQL_ROOT_PASSWORD": "r00t"}
    )
    assert login.root_password == "r00t"
    for method in ("pg_dumpall", "mysqldump", "redis_rdb"):
        command = dumps.dump_command(method, login)
        assert not any(PASSWORD in part or "r00t" in part for part in command.cmd), command.cmd
        assert PASSWORD in command.env.values() or "r00t" in command.env.values(), command.env
    mysql = dumps.mysql_dump(login)
    assert mysql.env["MYSQL_PWD"] == "r00t" and mysql.env["RIVETR_DB_USER"] == "root"
    # Without a root password of its own, the app user dumps.
    plain = dumps.mysql_dump(dumps.Login.of({"user": "app", "password": PASSWORD}))
    assert plain.env == {"MYSQL_PWD": PASSWORD, "RIVETR_DB_USER": "app"}
    with pytest.raises(ValueError, match="volume"):
        dumps.dump_command("volume", login)


def test_pg_restore_wrapping() -> None:
    login = dumps.Login("o'brien", PASSWORD, "app")
    epilogue = dumps.pg_epilogue(login).decode()
    # Quoted as an identifier and a literal: a quote in either cannot end the statement.
    assert "ALTER ROLE \"o'brien\" WITH PASSWORD 's3cr3t-Pass''word';" in epilogue
    assert "ALLOW_CONNECTIONS true" in epilogue and epilogue.startswith("\\connect postgres\n")
    assert "\\gset" in dumps.pg_preamble().decode() and "pg_terminate_backend" in dumps.pg_preamble().decode()
    output = (
        'psql:<stdin>:25: ERROR:  current user cannot be dropped\npsql:<stdin>:32: ERROR:  role "app" already exists\n'
        'psql:<stdin>:90: ERROR:  relation "t" does not exist\n'
    )
    assert dumps.pg_errors(output) == ['psql:<stdin>:90: ERROR:  relation "t" does not exist']
    assert dumps.pg_errors("") == []


# -- the worker's stream ops (the real child process) ----------------------------------------------------------


async def _feed(data: bytes, size: int = 300_000, fail: BaseException | None = None) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]
        await asyncio.sleep(0)
    if fail is not None:
        raise fail


async def _collect(chunks: AsyncIterable[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


@pytest.mark.parametrize("codec", ["zst", "gz"])
async def test_a_streamed_dump_round_trips_encrypted(tmp_path: Path, codec: str) -> None:
    dest = {"kind": "local", "path": str(tmp_path), "passphrase": "a passphrase"}
    data = os.urandom(1 << 20) + b"INSERT INTO t VALUES (1);\n" * 100_000
    key = f"services/db-1/x.sql.{codec}.enc"
    result = await run_worker(
        {"op": "backup_stream", "destination": dest, "key": key, "codec": codec}, feed=_feed(data)
    )
    stored = (tmp_path / key).read_bytes()
    assert result["sha256"] == hashlib.sha256(stored).hexdigest() and result["bytes_in"] == len(data)
    assert b"INSERT INTO" not in stored  # compressed, then encrypted
    back = await _collect(
        worker_output(
            {
                "op": "unpack_stream",
                "destination": dest,
                "key": key,
                "sha256": result["sha256"],
                "staging_dir": "/tmp",
            }
        )
    )
    assert back == data
    # Without the passphrase: refused before a byte comes out.
    with pytest.raises(BackupFailed) as failed:
        await _collect(
            worker_output(
                {
                    "op": "unpack_stream",
                    "destination": {"kind": "local", "path": str(tmp_path)},
                    "key": key,
                    "sha256": result["sha256"],
                    "staging_dir": "/tmp",
                }
            )
        )
    assert failed.value.code == "passphrase_required"


async def test_a_failed_dump_stores_nothing(tmp_path: Path) -> None:
    dest = {"kind": "local", "path": str(tmp_path)}
    with pytest.raises(ExecFailed):
        await run_worker(
            {"op": "backup_stream", "destination": dest, "key": "services/a/b.sql.zst", "codec": "zst"},
            feed=_feed(b"half a dump" * 1000, fail=ExecFailed(2, "pg_dumpall: error: connection refused")),
        )
    assert not any(p.is_file() for p in tmp_path.rglob("*")), list(tmp_path.rglob("*"))


async def test_a_stream_cut_short_is_refused_by_the_worker(tmp_path: Path) -> None:
    # Stdin closing without the end marker (the server died mid-dump) must not commit a truncated dump.
    request = {
        "op": "backup_stream",
        "destination": {"kind": "local", "path": str(tmp_path)},
        "key": "k.sql.zst",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rivetr_core.backup.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(json.dumps(request).encode() + b"\n" + (5).to_bytes(4, "big") + b"hello")
    answer = json.loads(out.splitlines()[-1])
    assert answer["ok"] is False and answer["error"]["code"] == "stream_truncated", answer
    assert not (tmp_path / "k.sql.zst").exists()


async def test_a_damaged_archive_never_reaches_the_service(tmp_path: Path) -> None:
    dest = {"kind": "local", "path": str(tmp_path)}
    result = await run_worker(
        {"op": "backup_stream", "destination": dest, "key": "d.sql.zst", "codec": "zst"},
        feed=_feed(b"x" * 100_000),
    )
    path = tmp_path / "d.sql.zst"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    chunks = worker_output(
        {
            "op": "unpack_stream",
            "destination": dest,
            "key": "d.sql.zst",
            "sha256": result["sha256"],
            "staging_dir": "/tmp",
        }
    )
    with pytest.raises(BackupFailed) as failed:
        await chunks.__anext__()  # the first chunk never comes: the checksum is checked first
    assert failed.value.code == "corrupted_archive"


# -- API rules and orchestration (in-process server, in-memory streams, the real worker) ---------------------


class StreamRuntime(FakeRuntime):
    """The fake runtime plus the streamed execs: ``dump`` is what ``exec_output`` yields (then ``dump_exit``
    raises ExecFailed when non-zero); ``exec_input`` records what it was fed."""

    def __init__(self) -> None:
        super().__init__()
        self.dump = b"-- dump\nCREATE TABLE t (id int);\n" * 5000
        self.dump_exit = 0
        self.fed: list[tuple[list[str], dict[str, str] | None, bytes]] = []
        self.running_ids: set[str] = set()
        self.exec_calls: list[list[str]] = []

    async def inspect(self, container_id: str) -> ContainerInfo:
        if container_id in self.running_ids:
            return ContainerInfo(id=container_id, name="svc", image="img", status="running", running=True)
        return await super().inspect(container_id)

    async def exec_output(
        self, container_id: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        for at in range(0, len(self.dump), 65536):
            yield self.dump[at : at + 65536]
        if self.dump_exit:
            raise ExecFailed(self.dump_exit, "pg_dumpall: error: boom")

    async def exec_input(
        self,
        container_id: str,
        cmd: list[str],
        chunks: AsyncIterable[bytes],
        env: dict[str, str] | None = None,
    ) -> ExecResult:
        self.fed.append((cmd, env, await _collect(chunks)))
        return ExecResult(0, "")


@pytest.fixture
async def sapi(config_factory: Any, tmp_path: Path) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(config_factory())
    async with app.test_app():
        client = ApiClient(app)
        runtime = StreamRuntime()
        client.ctx._runtime = runtime
        try:
            yield client
        finally:
            runtime.shutdown()


async def _service(api: ApiClient, name: str, type_: str, *, running: bool = True) -> str:
    from rivetr_core.models.services import ManagedService

    ctx = api.ctx
    creds = {"user": "app", "password": PASSWORD, "database": "app"}
    row = ManagedService(
        name=name,
        type=type_,
        version="16",
        image=f"docker.io/library/{type_}:16",
        credentials_enc=ctx.secrets.encrypt(json.dumps(creds)),
        status="running" if running else "stopped",
        container_id=f"ctr-{name}",
    )
    async with ctx.db.session() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    if running:
        ctx._runtime.running_ids.add(row.container_id)
    return row.id


async def _destination(api: ApiClient, tmp_path: Path, name: str = "local") -> str:
    path = tmp_path / f"dest-{name}"
    path.mkdir()
    status, body = await api.post(
        "/api/backup-destinations", json={"name": name, "kind": "local", "path": str(path)}
    )
    assert status == 201, body
    return str(body["id"])


def _field(body: dict[str, Any]) -> str | None:
    details = body["error"]["details"]
    return details[0]["field"] if isinstance(details, list) and details else None


async def _wait(api: ApiClient, path: str) -> dict[str, Any]:
    for _ in range(400):
        status, body = await api.get(path)
        assert status == 200, body
        if body["status"] != "running":
            return dict(body)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still running")


async def test_backup_and_restore_a_postgres_service(sapi: ApiClient, tmp_path: Path) -> None:
    runtime: StreamRuntime = sapi.ctx._runtime
    service_id = await _service(sapi, "pg-main", "postgres")
    dest_id = await _destination(sapi, tmp_path)
    status, row = await sapi.post(f"/api/services/{service_id}/backups", json={"destination_id": dest_id})
    assert status == 202 and row["status"] == "running" and row["what"] == "service", row
    assert (
        row["service_id"] == service_id
        and row["service_name"] == "pg-main"
        and row["consistency"] == "pg_dumpall"
    )
    assert row["key"].startswith(f"services/pg-main-{service_id}/") and row["key"].endswith(
        f"-{row['id']}.sql.zst"
    )
    done = await _wait(sapi, f"/api/backups/{row['id']}")
    assert done["status"] == "succeeded" and done["size_bytes"] > 0, done
    status, listing = await sapi.get(f"/api/services/{service_id}/backups")
    assert status == 200 and [b["id"] for b in listing["items"]] == [row["id"]] and listing["next"] is None

    # Into the same service: the dump is fed back between the preamble and the epilogue.
    status, restore = await sapi.post(f"/api/backups/{row['id']}/restore-service", json={})
    assert status == 202 and restore["service_id"] == service_id and restore["app_id"] is None, restore
    finished = await _wait(sapi, f"/api/restores/{restore['id']}")
    assert finished["status"] == "succeeded", finished
    cmd, env, fed = runtime.fed[-1]
    assert env is not None and env["PGPASSWORD"] == PASSWORD
    assert cmd[0] == "psql" and fed.startswith(dumps.pg_preamble()) and runtime.dump in fed
    assert fed.endswith(dumps.pg_epilogue(dumps.Login("app", PASSWORD, "app")))

    # Into another postgres service: allowed; into a redis one: 422 naming service_id.
    other = await _service(sapi, "pg-copy", "postgres")
    status, restore = await sapi.post(f"/api/backups/{row['id']}/restore-service", json={"service_id": other})
    assert status == 202, restore
    assert (await _wait(sapi, f"/api/restores/{restore['id']}"))["status"] == "succeeded"
    cache = await _service(sapi, "cache", "redis")
    status, body = await sapi.post(f"/api/backups/{row['id']}/restore-service", json={"service_id": cache})
    assert status == 422 and _field(body) == "service_id" and "postgres" in body["error"]["message"], body


async def test_a_failing_dump_fails_the_run_and_leaves_no_archive(sapi: ApiClient, tmp_path: Path) -> None:
    sapi.ctx._runtime.dump_exit = 1
    service_id = await _service(sapi, "pg-bad", "postgres")
    dest_id = await _destination(sapi, tmp_path)
    status, row = await sapi.post(f"/api/services/{service_id}/backups", json={"destination_id": dest_id})
    assert status == 202, row
    done = await _wait(sapi, f"/api/backups/{row['id']}")
    assert done["status"] == "failed" and "boom" in done["error"] and "pg_dumpall" in done["error"], done
    assert not [p for p in (tmp_path / "dest-local").rglob("*") if p.is_file()]


async def test_service_backup_rules(sapi: ApiClient, tmp_path: Path) -> None:
    dest_id = await _destination(sapi, tmp_path)
    status, body = await sapi.post("/api/services/nope/backups", json={"destination_id": dest_id})
    assert status == 404, body
    service_id = await _service(sapi, "pg-stopped", "postgres", running=False)
    status, body = await sapi.post(f"/api/services/{service_id}/backups", json={"destination_id": dest_id})
    assert status == 409 and body["error"]["code"] == "service_not_running", body
    running = await _service(sapi, "pg-up", "postgres")
    status, body = await sapi.post(f"/api/services/{running}/backups", json={"destination_id": "nope"})
    assert status == 404 and _field(body) == "destination_id", body
    status, body = await sapi.post(
        f"/api/services/{running}/backups", json={"destination_id": dest_id, "codec": "xz"}
    )
    assert status == 422, body
    status, body = await sapi.get("/api/services/nope/backups")
    assert status == 404, body

    # One run per service at a time.
    gate = asyncio.Event()
    runtime: StreamRuntime = sapi.ctx._runtime
    original = runtime.exec_output

    async def slow(
        container_id: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        await gate.wait()
        async for chunk in original(container_id, cmd, env):
            yield chunk

    runtime.exec_output = slow  # type: ignore[method-assign]
    status, first = await sapi.post(f"/api/services/{running}/backups", json={"destination_id": dest_id})
    assert status == 202, first
    status, body = await sapi.post(f"/api/services/{running}/backups", json={"destination_id": dest_id})
    assert status == 409 and body["error"]["code"] == "backup_in_progress", body
    status, body = await sapi.post(f"/api/backups/{first['id']}/restore-service", json={})
    assert status == 409, body  # not succeeded (yet)
    gate.set()
    assert (await _wait(sapi, f"/api/backups/{first['id']}"))["status"] == "succeeded"


async def test_a_volume_backup_is_not_restored_as_a_service(sapi: ApiClient, tmp_path: Path) -> None:
    from rivetr_core.models.backups import Backup

    dest_id = await _destination(sapi, tmp_path)
    row = Backup(
        what="volumes", destination_id=dest_id, status="succeeded", key="apps/x.tar.zst", sha256="0" * 64
    )
    async with sapi.ctx.db.session() as session:
        session.add(row)
        await session.commit()
    status, body = await sapi.post(f"/api/backups/{row.id}/restore-service", json={})
    assert status == 422 and "Not a service backup" in body["error"]["message"], body
    status, body = await sapi.post("/api/backups/nope/restore-service")
    assert status == 404, body


async def test_schedules_take_a_service(sapi: ApiClient, tmp_path: Path) -> None:
    dest_id = await _destination(sapi, tmp_path)
    service_id = await _service(sapi, "pg-sched", "postgres")
    base = {"destination_id": dest_id, "cron": "0 2 * * *", "keep_last": 3}
    status, body = await sapi.post("/api/backup-schedules", json={**base, "service_id": "nope"})
    assert status == 404 and _field(body) == "service_id", body
    status, body = await sapi.post("/api/backup-schedules", json={**base, "what": "service"})
    assert status == 422 and _field(body) == "service_id", body
    status, body = await sapi.post(
        "/api/backup-schedules", json={**base, "what": "state", "service_id": service_id}
    )
    assert status == 422 and _field(body) == "service_id", body
    status, sched = await sapi.post("/api/backup-schedules", json={**base, "service_id": service_id})
    assert status == 201 and sched["what"] == "service" and sched["service_id"] == service_id, sched
    status, listing = await sapi.get(f"/api/backup-schedules?service_id={service_id}")
    assert status == 200 and [s["id"] for s in listing["items"]] == [sched["id"]]

    # The job's run: a backup of the service, then retention.
    result = await sapi.ctx.services.backups.run_schedule(sched["id"])
    status, backup = await sapi.get(f"/api/backups/{result['backup_id']}")
    assert status == 200 and backup["trigger"] == "schedule" and backup["schedule_id"] == sched["id"], backup
    assert backup["status"] == "succeeded" and backup["service_id"] == service_id


async def test_the_volume_method_archives_and_swaps_the_services_volumes(
    sapi: ApiClient, tmp_path: Path
) -> None:
    """One-click apps (template method ``volume``): the volume is archived with the container paused (always
    thawed), and restored by the staged swap with the container stopped, then the service started again."""
    from rivetr_core.models.services import service_volume_name

    runtime: StreamRuntime = sapi.ctx._runtime
    calls: list[tuple[str, str]] = []

    async def record(op: str, container_id: str, **_: Any) -> None:
        calls.append((op, container_id))

    runtime.pause = lambda cid: record("pause", cid)  # type: ignore[method-assign]
    runtime.unpause = lambda cid: record("unpause", cid)  # type: ignore[method-assign]
    runtime.stop = lambda cid, timeout=10: record("stop", cid)  # type: ignore[method-assign]
    service_id = await _service(sapi, "kuma", "uptime-kuma")
    runtime.volumes[service_volume_name(service_id, "data")] = {}
    data = Path(str(await runtime.volume_path(service_volume_name(service_id, "data"))))
    (data / "kuma.db").write_bytes(b"rows" * 1000)
    (data / "sub").mkdir()
    (data / "sub" / "f.txt").write_text("kept")
    restarted: list[str] = []

    async def restart(target: Any) -> None:  # the service layer's restart and readiness wait
        restarted.append(target.row.id)

    sapi.ctx.services.backups._restart_service = restart
    dest_id = await _destination(sapi, tmp_path)
    status, row = await sapi.post(f"/api/services/{service_id}/backups", json={"destination_id": dest_id})
    assert status == 202 and row["consistency"] == "volume" and row["key"].endswith(".tar.zst"), row
    assert [v["name"] for v in row["volumes"]] == ["data"]
    done = await _wait(sapi, f"/api/backups/{row['id']}")
    assert done["status"] == "succeeded", done
    assert calls == [("pause", "ctr-kuma"), ("unpause", "ctr-kuma")]

    (data / "kuma.db").write_bytes(b"changed")
    (data / "sub" / "f.txt").unlink()
    (data / "new.txt").write_text("after the backup")
    status, restore = await sapi.post(f"/api/backups/{row['id']}/restore-service")
    assert status == 202, restore
    assert (await _wait(sapi, f"/api/restores/{restore['id']}"))["status"] == "succeeded"
    assert (data / "kuma.db").read_bytes() == b"rows" * 1000 and (
        data / "sub" / "f.txt"
    ).read_text() == "kept"
    assert not (data / "new.txt").exists() and not [p for p in data.iterdir() if p.name.startswith(".rivetr")]
    assert calls[-1] == ("stop", "ctr-kuma") and restarted == [service_id]


async def test_the_service_backup_job_kind(sapi: ApiClient, tmp_path: Path) -> None:
    from rivetr_core.backup.jobs import run_service_backup

    dest_id = await _destination(sapi, tmp_path)
    service_id = await _service(sapi, "pg-job", "postgres")
    result = await run_service_backup(
        sapi.ctx, {"service_id": service_id, "destination_id": dest_id, "codec": "gz"}
    )
    status, backup = await sapi.get(f"/api/backups/{result['backup_id']}")
    assert status == 200 and backup["status"] == "succeeded" and backup["key"].endswith(".sql.gz"), backup
    sapi.ctx._runtime.dump_exit = 3
    with pytest.raises(RuntimeError, match="boom"):  # the job's run is recorded failed too
        await run_service_backup(sapi.ctx, {"service_id": service_id, "destination_id": dest_id})


async def test_a_redis_restore_that_cannot_swap_leaves_the_live_rdb(sapi: ApiClient, tmp_path: Path) -> None:
    """The RDB is staged beside the live one; when it cannot be put in place (here: the server keeps an
    append-only file), the staged copy is removed, the server is never shut down and the restore fails."""
    runtime: StreamRuntime = sapi.ctx._runtime
    ran: list[str] = []

    async def exec_(container_id: str, cmd: list[str], env: dict[str, str] | None = None) -> ExecResult:
        script = " ".join(cmd)
        ran.append("swap" if "CONFIG SET save" in script else "discard" if "rm -f" in script else script)
        return (
            ExecResult(3, "the server keeps an append-only file") if ran[-1] == "swap" else ExecResult(0, "")
        )

    runtime.exec = exec_  # type: ignore[method-assign]
    runtime.dump = b"REDIS0011" + os.urandom(5000)
    service_id = await _service(sapi, "cache-aof", "redis")
    dest_id = await _destination(sapi, tmp_path)
    status, row = await sapi.post(f"/api/services/{service_id}/backups", json={"destination_id": dest_id})
    assert status == 202 and row["key"].endswith(".rdb.zst"), row
    assert (await _wait(sapi, f"/api/backups/{row['id']}"))["status"] == "succeeded"
    status, restore = await sapi.post(f"/api/backups/{row['id']}/restore-service")
    assert status == 202, restore
    finished = await _wait(sapi, f"/api/restores/{restore['id']}")
    assert finished["status"] == "failed" and "append-only" in finished["error"], finished
    assert ran == ["swap", "discard"]  # no SHUTDOWN
    cmd, env, fed = runtime.fed[-1]
    assert fed == runtime.dump and env == {"REDISCLI_AUTH": PASSWORD} and ".rivetr-restore.rdb" in cmd[-1]
