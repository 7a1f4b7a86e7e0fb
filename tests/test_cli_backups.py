"""``rivetr backup destinations|run|list|show|rm|restore-volumes|schedules|consistency`` and ``backup create --to
DEST`` against a real ``rivetr serve`` process: a local destination in a temp dir, an app whose data is a bind
mount of a temp dir (archived and restored byte for byte without a deployment), secrets refused as arguments
and read from stdin instead."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess, start_server
from tests.test_cli import create_app, run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("cli-backups")
    (root / "binds").mkdir()
    proc = start_server(
        root / "data", {"RIVETR_VOLUMES__ALLOWED_BIND_ROOTS": json.dumps([str(root / "binds")])}
    )
    proc.root = root  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def _ok(result):  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_destinations_add_list_test_and_remove(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "local-dest"
    target.mkdir()
    result = _ok(
        run(["backup", "destinations", "add", "disk", "--kind", "local", "--path", str(target)], env)
    )
    assert "added destination disk" in result.stdout and "test write ok" in result.stdout
    assert target.is_dir() and not any(target.iterdir())  # the test file was written, read back and deleted
    listing = _ok(run(["backup", "destinations", "list"], env)).stdout
    assert "disk" in listing and str(target) in listing
    rows = json.loads(_ok(run(["backup", "destinations", "list", "--json"], env)).stdout)
    assert [r["kind"] for r in rows if r["name"] == "disk"] == ["local"]
    assert "disk: test write ok" in _ok(run(["backup", "destinations", "test", "disk"], env)).stdout
    # The server's check names the problem: a file where a directory should be.
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run(["backup", "destinations", "add", "bad", "--kind", "local", "--path", str(blocker)], env)
    assert result.exit_code == 2 and "HTTP 422" in result.stderr, result.output
    # A destination that stops working is reported by test with exit 1 and the problem.
    target.rmdir()
    target.write_text("now a file")
    result = run(["backup", "destinations", "test", "disk"], env)
    assert result.exit_code == 1 and "not_a_directory" in result.stderr, result.output
    target.unlink()
    assert (
        "removed destination disk" in _ok(run(["backup", "destinations", "rm", "disk", "--yes"], env)).stdout
    )
    result = run(["backup", "destinations", "test", "disk"], env)
    assert result.exit_code == 2 and "unknown backup destination 'disk'" in result.stderr


def test_secrets_are_never_arguments(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    s3 = ["--kind", "s3", "--endpoint-url", "http://127.0.0.1:9", "--bucket", "bkt", "--access-key", "AK"]
    result = run(["backup", "destinations", "add", "s3dest", *s3, "--secret-key", "hunter2"], env)
    assert result.exit_code == 2 and "--secret-key is not accepted" in result.output, result.output
    result = run(
        [
            "backup",
            "destinations",
            "add",
            "enc",
            "--kind",
            "local",
            "--path",
            str(tmp_path),
            "--passphrase",
            "pw",
        ],
        env,
    )
    assert result.exit_code == 2 and "--passphrase is not accepted" in result.output, result.output
    # From stdin instead: the secret key (and nothing listens at that endpoint: the check says so).
    result = run(["backup", "destinations", "add", "s3dest", *s3], env, input="hunter2\n")
    assert result.exit_code == 2 and "endpoint" in result.stderr.lower(), result.output
    assert "hunter2" not in server.log()
    # A passphrase from stdin: the destination encrypts, and never shows it.
    (tmp_path / "e").mkdir()
    result = _ok(
        run(
            [
                "backup",
                "destinations",
                "add",
                "enc",
                "--kind",
                "local",
                "--path",
                str(tmp_path / "e"),
                "--encrypt",
            ],
            env,
            input="correct horse\n",
        )
    )
    assert "archives encrypted" in result.stdout
    shown = _ok(run(["backup", "destinations", "list", "--json"], env)).stdout
    assert "correct horse" not in shown and json.loads(shown)[-1]["has_passphrase"] is True
    _ok(run(["backup", "destinations", "rm", "enc", "--yes", "--force"], env))


def test_run_list_show_restore_and_rm(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    data = server.root / "binds" / "site"  # type: ignore[attr-defined]
    (data / "sub").mkdir(parents=True)
    (data / "index.html").write_text("<h1>v1</h1>")
    (data / "sub" / "blob.bin").write_bytes(os.urandom(200_000))
    before = _tree(data)
    app = create_app(server, "bk-app")
    with server.client() as client:
        response = client.post(
            f"/api/apps/{app['id']}/volumes",
            json={"name": "site", "mount_path": "/site", "kind": "bind", "host_path": str(data)},
        )
        assert response.status_code == 201, response.text
    (tmp_path / "runs").mkdir()
    _ok(
        run(
            ["backup", "destinations", "add", "runs", "--kind", "local", "--path", str(tmp_path / "runs")],
            env,
        )
    )
    result = _ok(run(["backup", "run", "bk-app", "--to", "runs", "--wait", "--json"], env))
    done = json.loads(result.stdout)
    assert done["status"] == "succeeded" and done["size_bytes"] > 0 and len(done["sha256"]) == 64
    archive = tmp_path / "runs" / done["key"]
    assert archive.is_file() and hashlib.sha256(archive.read_bytes()).hexdigest() == done["sha256"]
    listing = _ok(run(["backup", "list", "--app", "bk-app"], env)).stdout
    assert done["id"] in listing and "succeeded" in listing and "runs" in listing
    assert json.loads(_ok(run(["backup", "list", "--status", "failed", "--json"], env)).stdout) == []
    shown = _ok(run(["backup", "show", done["id"]], env)).stdout
    assert done["sha256"] in shown and "site" in shown
    # Change the data, restore, get the archived bytes back.
    (data / "index.html").write_text("<h1>v2</h1>")
    (data / "new.txt").write_text("not in the backup")
    result = run(["backup", "restore-volumes", done["id"]], env, input="n\n")
    assert result.exit_code != 0 and (data / "new.txt").exists()  # asked, declined: nothing happened
    result = run(["backup", "restore-volumes", done["id"], "--yes", "--wait"], env)
    assert result.exit_code == 0 and "restore" in result.stdout and "succeeded" in result.stdout, (
        result.output
    )
    assert _tree(data) == before
    # A volume the archive does not hold: refused up front (exit 2), data untouched.
    (data / "index.html").write_text("<h1>v3</h1>")
    result = run(["backup", "restore-volumes", done["id"], "--volume", "nope", "--yes", "--wait"], env)
    assert result.exit_code == 2 and "Not in this backup" in result.stderr, result.output
    # A damaged archive: the restore runs, fails before the swap (exit 1 with its error), data untouched.
    original = archive.read_bytes()
    damaged = bytearray(original)
    middle = len(damaged) // 2
    damaged[middle : middle + 100] = bytes(b ^ 0xFF for b in damaged[middle : middle + 100])
    archive.write_bytes(bytes(damaged))
    result = run(["backup", "restore-volumes", done["id"], "--yes", "--wait"], env)
    assert result.exit_code == 1 and "failed" in result.stderr, result.output
    assert (data / "index.html").read_text() == "<h1>v3</h1>"
    assert not [p for p in data.iterdir() if p.name.startswith(".rivetr-")]  # no staging left behind
    archive.write_bytes(original)
    _ok(run(["backup", "rm", done["id"], "--yes"], env))
    assert not archive.exists()
    result = run(["backup", "show", done["id"]], env)
    assert result.exit_code == 2


def test_schedules_consistency_and_state_to_destination(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    create_app(server, "sched-app")
    (tmp_path / "n").mkdir()
    _ok(
        run(
            ["backup", "destinations", "add", "nightly", "--kind", "local", "--path", str(tmp_path / "n")],
            env,
        )
    )
    result = run(
        ["backup", "schedules", "add", "--app", "sched-app", "--to", "nightly", "--cron", "0 2 * * *"], env
    )
    assert result.exit_code == 2 and "--keep-last" in result.output  # a retention rule is required
    result = _ok(
        run(
            [
                "backup",
                "schedules",
                "add",
                "--app",
                "sched-app",
                "--to",
                "nightly",
                "--cron",
                "0 2 * * *",
                "--timezone",
                "Europe/Paris",
                "--keep-daily",
                "7",
                "--keep-weekly",
                "4",
                "--json",
            ],
            env,
        )
    )
    schedule = json.loads(result.stdout)
    listing = _ok(run(["backup", "schedules", "list"], env)).stdout
    assert "app sched-app" in listing and "daily 7, weekly 4" in listing and "Europe/Paris" in listing
    jobs = _ok(run(["schedules", "list"], env)).stdout
    assert f"backup-schedule:{schedule['id']}" in jobs
    result = run(
        [
            "backup",
            "schedules",
            "add",
            "--state",
            "--to",
            "nightly",
            "--cron",
            "nonsense",
            "--keep-last",
            "2",
        ],
        env,
    )
    assert result.exit_code == 2 and "cron" in result.stderr, result.output
    paused = _ok(run(["backup", "schedules", "pause", schedule["id"]], env)).stdout
    assert f"paused schedule {schedule['id']}" in paused, paused
    row = json.loads(_ok(run(["backup", "schedules", "list", "--json"], env)).stdout)[0]
    assert row["enabled"] is False and row["next_run_at"] is None, row
    resumed = _ok(run(["backup", "schedules", "resume", schedule["id"]], env)).stdout
    assert f"resumed schedule {schedule['id']}, next run" in resumed, resumed
    assert run(["backup", "schedules", "pause", "nope"], env).exit_code != 0
    _ok(run(["backup", "schedules", "rm", schedule["id"]], env))
    assert "no backup schedules" in _ok(run(["backup", "schedules", "list"], env)).stdout
    # Consistency: shown, set, refused without its command.
    assert "backup consistency: pause" in _ok(run(["backup", "consistency", "sched-app"], env)).stdout
    result = run(["backup", "consistency", "sched-app", "command"], env)
    assert result.exit_code == 2 and "--command" in result.output
    result = _ok(run(["backup", "consistency", "sched-app", "command", "--command", "sync"], env))
    assert "backup consistency: command" in result.stdout and "pre-backup command: sync" in result.stdout
    result = _ok(run(["backup", "consistency", "sched-app", "none"], env))
    assert "backup consistency: none" in result.stdout and "pre-backup command" not in result.stdout
    # Rivetr's state to a destination, through the server.
    result = _ok(run(["backup", "create", "--to", "nightly"], env))
    assert "sha256" in result.stdout, result.output
    states = [p for p in (tmp_path / "n").rglob("*") if p.is_file()]
    assert states, "no state archive at the destination"
    result = run(["backup", "create", "--to", "nightly", "--keep-last", "2"], env)
    assert result.exit_code == 2 and "--keep-last" in result.output


def test_s3_destination_secret_from_stdin_backup_and_restore(
    server: ServerProcess,
    env: dict[str, str],
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    """An S3-compatible server started by the tests (moto, real signature checks): wrong keys and a missing
    bucket are refused naming the problem; with the right secret key (stdin) and a passphrase (a file), a bind
    mount's backup lands encrypted in the bucket and restores byte for byte."""
    bucket = s3_server.create_bucket()
    base = ["backup", "destinations", "add", "--kind", "s3", "--endpoint-url", s3_server.endpoint_url]
    base += ["--region", "us-east-1", "--prefix", "cli/", "--access-key", s3_server.access_key]
    result = run([*base[:3], "wrongkey", *base[3:], "--bucket", bucket], env, input="not-the-secret\n")
    assert result.exit_code == 2 and "[access_denied]" in result.stderr, result.output
    result = run(
        [*base[:3], "nobucket", *base[3:], "--bucket", "no-such-bucket"], env, input=s3_server.secret_key
    )
    assert result.exit_code == 2 and "[bucket_not_found]" in result.stderr, result.output
    passphrase = tmp_path / "pass"
    passphrase.write_text("a long enough passphrase\n")
    result = _ok(
        run(
            [*base[:3], "bucket", *base[3:], "--bucket", bucket, "--passphrase-file", str(passphrase)],
            env,
            input=s3_server.secret_key + "\n",
        )
    )
    assert "archives encrypted" in result.stdout and f"s3://{bucket}/cli" in result.stdout
    shown = json.loads(_ok(run(["backup", "destinations", "list", "--json"], env)).stdout)
    row = next(r for r in shown if r["name"] == "bucket")
    assert row["secret_key"] != s3_server.secret_key and row["has_passphrase"] is True
    assert s3_server.secret_key not in server.log()
    data = server.root / "binds" / "s3data"  # type: ignore[attr-defined]
    data.mkdir()
    (data / "db.bin").write_bytes(os.urandom(300_000))
    before = _tree(data)
    app = create_app(server, "s3-app")
    with server.client() as client:
        response = client.post(
            f"/api/apps/{app['id']}/volumes",
            json={"name": "data", "mount_path": "/data", "kind": "bind", "host_path": str(data)},
        )
        assert response.status_code == 201, response.text
    done = json.loads(_ok(run(["backup", "run", "s3-app", "--to", "bucket", "--wait", "--json"], env)).stdout)
    assert done["encrypted"] is True and done["key"].endswith(".enc")
    stored = s3_server.client().get_object(Bucket=bucket, Key=f"cli/{done['key']}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == done["sha256"]
    assert (data / "db.bin").read_bytes()[:4096] not in stored  # encrypted, not just compressed
    (data / "db.bin").write_bytes(b"overwritten")
    _ok(run(["backup", "restore-volumes", done["id"], "--yes", "--wait"], env))
    assert _tree(data) == before
