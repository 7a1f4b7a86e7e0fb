"""Backup destinations through the real worker process: the write test, file transfers, deletes and failures.

Local destinations are real directories (a 1 MiB tmpfs for "disk full", a read-only tmpfs for "not writable");
S3 destinations are buckets on moto's S3 server (tests/support/s3.py) with real signature checks.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.backup.runner import BackupFailed, run_worker
from tests.support.proxy import free_port
from tests.support.s3 import S3Server


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root with mount permission")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs("name", "size=1m")`` mounts a tmpfs under tmp_path; all are unmounted at the end."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        path = tmp_path / name
        _mount_tmpfs(path, options)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


async def fails(request: dict[str, Any]) -> BackupFailed:
    with pytest.raises(BackupFailed) as caught:
        await run_worker(request, timeout=60)
    return caught.value


# -- local ------------------------------------------------------------------------------------------------------


async def test_local_write_test_passes_and_leaves_nothing(tmp_path: Path) -> None:
    assert await run_worker({"op": "test", "destination": {"kind": "local", "path": str(tmp_path)}}) == {}
    assert list(tmp_path.iterdir()) == []


async def test_local_destination_problems_have_their_codes(
    tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for path, code in [
        (str(a_file), "not_a_directory"),
        (str(tmp_path / "missing"), "not_a_directory"),
        ("relative/dir", "invalid_destination"),
    ]:
        err = await fails({"op": "test", "destination": {"kind": "local", "path": path}})
        assert err.code == code, (path, err)
        assert err.message
    read_only = tmpfs("ro", "size=1m,ro")
    err = await fails({"op": "test", "destination": {"kind": "local", "path": str(read_only)}})
    assert err.code == "not_writable" and str(read_only) in err.message
    err = await fails({"op": "test", "destination": {"kind": "nfs", "path": "/x"}})
    assert err.code == "invalid_destination"


async def test_local_disk_full_is_reported_and_leaves_no_partial(
    tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    disk = tmpfs("small", "size=1m")
    dest = {"kind": "local", "path": str(disk)}
    small = tmp_path / "small.bin"
    small.write_bytes(b"earlier archive" * 100)
    earlier = await run_worker(
        {"op": "put_file", "destination": dest, "key": "old/a.bin", "file": str(small)}
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    err = await fails({"op": "put_file", "destination": dest, "key": "new/b.bin", "file": str(big)})
    assert err.code == "disk_full", err
    assert list((disk / "new").iterdir()) == []  # the .partial went away
    assert hashlib.sha256((disk / "old/a.bin").read_bytes()).hexdigest() == earlier["sha256"]
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    err = await fails({"op": "test", "destination": dest})
    assert err.code == "disk_full"


async def test_local_put_get_delete_round_trip(tmp_path: Path) -> None:
    dest = {"kind": "local", "path": str(tmp_path / "dest")}
    (tmp_path / "dest").mkdir()
    src = tmp_path / "state.tar.gz"
    src.write_bytes(os.urandom(300_000))
    put = await run_worker({"op": "put_file", "destination": dest, "key": "state/s.tar.gz", "file": str(src)})
    assert put == {
        "key": "state/s.tar.gz",
        "size": 300_000,
        "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    }
    out = tmp_path / "back.tar.gz"
    got = await run_worker({"op": "get_file", "destination": dest, "key": "state/s.tar.gz", "file": str(out)})
    assert got == {"size": 300_000, "sha256": put["sha256"]} and out.read_bytes() == src.read_bytes()
    assert await run_worker({"op": "delete", "destination": dest, "key": "state/s.tar.gz"}) == {
        "deleted": True
    }
    assert await run_worker({"op": "delete", "destination": dest, "key": "state/s.tar.gz"}) == {
        "deleted": False
    }
    err = await fails({"op": "get_file", "destination": dest, "key": "state/s.tar.gz", "file": str(out)})
    assert err.code == "archive_not_found"
    for bad in ("../escape", "/abs", "a//b", ""):
        err = await fails({"op": "delete", "destination": dest, "key": bad})
        assert err.code == "invalid_request", bad


# -- S3 ---------------------------------------------------------------------------------------------------------


async def test_s3_write_test_passes_and_leaves_nothing(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    assert await run_worker({"op": "test", "destination": s3_server.destination(bucket)}) == {}
    assert s3_server.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


async def test_s3_problems_have_their_codes(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    cases = [
        (s3_server.destination(bucket, secret_key="wrong-secret-value"), "access_denied"),
        (s3_server.destination(bucket, access_key="AKIAUNKNOWN000000000"), "access_denied"),
        (s3_server.destination("no-such-bucket-here"), "bucket_not_found"),
        (
            s3_server.destination(bucket, endpoint_url=f"http://127.0.0.1:{free_port()}"),
            "endpoint_unreachable",
        ),
        (s3_server.destination(bucket, endpoint_url="ftp://x"), "invalid_destination"),
        (s3_server.destination(bucket, secret_key=""), "invalid_destination"),
    ]
    for dest, code in cases:
        err = await fails({"op": "test", "destination": dest})
        assert err.code == code, (dest, err)
        assert err.message and "wrong-secret-value" not in str(err.as_dict())


async def test_s3_multipart_upload_and_streaming_download(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = s3_server.create_bucket()
    dest = s3_server.destination(bucket)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(40 << 20))  # three parts of 16 MiB
    put = await run_worker(
        {"op": "put_file", "destination": dest, "key": "x/big.bin", "file": str(src)}, timeout=120
    )
    assert put["size"] == 40 << 20
    head = s3_server.client().head_object(Bucket=bucket, Key="rivetr/x/big.bin")
    assert head["ContentLength"] == 40 << 20 and head["ETag"].strip('"').endswith("-3")  # a multipart upload
    out = tmp_path / "back.bin"
    got = await run_worker(
        {"op": "get_file", "destination": dest, "key": "x/big.bin", "file": str(out)}, timeout=120
    )
    assert got["sha256"] == put["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert await run_worker({"op": "delete", "destination": dest, "key": "x/big.bin"}) == {"deleted": True}
    assert await run_worker({"op": "delete", "destination": dest, "key": "x/big.bin"}) == {"deleted": False}
    err = await fails({"op": "get_file", "destination": dest, "key": "x/big.bin", "file": str(out)})
    assert err.code == "archive_not_found"
