"""Volume backups and restores through the real worker process (run_worker), real directories and moto's S3.

A round trip (backup, then stage + swap into another directory) must give back the same tree: every file's
sha256, owner, mode and mtime, symlinks, hard links, empty directories, long and non-ASCII names; both codecs,
encrypted or not, to a local directory and to S3. Failures (damaged, truncated, hostile archives, a wrong
passphrase, a missing volume) come back as clear codes, with the archives and the live directory untouched and no
staging directory left behind; no output of the worker ever holds the secret key or the passphrase.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.backup import runner
from rivetr_core.backup.runner import BackupFailed, run_worker
from tests.support.s3 import S3Server

PASSPHRASE = "correct horse battery staple 7f3a"


def make_tree(root: Path) -> None:
    """A volume with everything a backup must keep."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "conf").mkdir()
    (root / "conf" / "app.ini").write_text("[db]\nname = test\n" * 50)
    (root / "blob.bin").write_bytes(os.urandom((2 << 20) + 12345))  # spans several encrypted chunks
    (root / "empty").mkdir()
    (root / "secret.txt").write_text("owned by someone else")
    os.chown(root / "secret.txt", 1234, 5678)
    os.chmod(root / "secret.txt", 0o640)
    os.chown(root / "conf", 999, 999)
    os.chmod(root / "conf", 0o2750)
    os.symlink("conf/app.ini", root / "link-rel")
    os.symlink("/etc/hostname", root / "link-abs")
    os.link(root / "blob.bin", root / "blob-hardlink.bin")
    deep = root / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / ("long-name-" + "x" * 90 + ".txt")).write_text("long path")
    (root / "héllo wörld.txt").write_text("unicode")
    os.mkfifo(root / "a-fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "a.sock"))  # sockets are skipped
    sock.close()
    os.utime(root / "conf" / "app.ini", (1_600_000_000, 1_600_000_000))
    os.chown(root, 70, 70)
    os.chmod(root, 0o700)


def snapshot(root: Path, *, skip_sockets: bool = True) -> dict[str, Any]:
    """Everything that must survive a round trip, keyed by relative path ('.' is the directory itself)."""
    out: dict[str, Any] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".rivetr-")]
        for name in [".", *dirnames, *filenames] if Path(dirpath) == root else [*dirnames, *filenames]:
            path = Path(dirpath) / name if name != "." else root
            st = path.lstat()
            if skip_sockets and stat.S_ISSOCK(st.st_mode):
                continue
            rel = str(path.relative_to(root)) if name != "." else "."
            entry: dict[str, Any] = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(st.st_mode):
                entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
                entry["mtime"] = int(st.st_mtime)
                if st.st_nlink > 1:
                    entry["link_group"] = inodes.setdefault(st.st_ino, rel)
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(path)
            elif stat.S_ISDIR(st.st_mode) and name != ".":
                entry["mtime"] = int(st.st_mtime)
            out[rel] = entry
    # hard-link groups are named by their first member in walk order: compare the grouping, not the name
    groups: dict[str, list[str]] = {}
    for rel, entry in out.items():
        if "link_group" in entry:
            groups.setdefault(entry.pop("link_group"), []).append(rel)
    out["__hardlinks__"] = sorted(sorted(g) for g in groups.values())
    return out


def leftovers(*dirs: Path) -> list[str]:
    return [p.name for d in dirs for p in d.iterdir() if p.name.startswith(".rivetr-")]


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    make_tree(tmp_path / "vol")
    return tmp_path / "vol"


def local_dest(tmp_path: Path, passphrase: str | None = None) -> dict[str, Any]:
    (tmp_path / "dest").mkdir(exist_ok=True)
    dest: dict[str, Any] = {"kind": "local", "path": str(tmp_path / "dest")}
    if passphrase:
        dest["passphrase"] = passphrase
    return dest


async def backup(dest: dict[str, Any], key: str, codec: str, sources: list[dict[str, str]]) -> dict[str, Any]:
    req = {"op": "backup", "destination": dest, "key": key, "codec": codec, "sources": sources}
    return await run_worker(req, timeout=120)


async def restore(
    dest: dict[str, Any], key: str, sha: str | None, targets: list[dict[str, str]]
) -> dict[str, Any]:
    staged = await run_worker(
        {"op": "stage", "destination": dest, "key": key, "sha256": sha, "targets": targets}, timeout=120
    )
    for t in targets:  # staged beside the live data, which is not touched yet
        assert (Path(t["path"]) / f".rivetr-restore-{staged['token']}").is_dir()
    assert await run_worker({"op": "swap", "token": staged["token"], "targets": targets}) == {}
    return staged


async def fails(request: dict[str, Any]) -> BackupFailed:
    with pytest.raises(BackupFailed) as caught:
        await run_worker(request, timeout=120)
    return caught.value


@pytest.mark.parametrize(("codec", "encrypted"), [("zst", False), ("gz", False), ("zst", True), ("gz", True)])
async def test_round_trip_local_keeps_everything(
    tmp_path: Path, volume: Path, codec: str, encrypted: bool
) -> None:
    dest = local_dest(tmp_path, PASSPHRASE if encrypted else None)
    key = f"apps/web-1/20260101T000000Z-1.tar.{codec}" + (".enc" if encrypted else "")
    before = snapshot(volume)
    done = await backup(dest, key, codec, [{"name": "data", "path": str(volume)}])
    stored = tmp_path / "dest" / key
    assert done["key"] == key and done["size"] == stored.stat().st_size
    assert done["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert done["bytes_in"] > 2 << 20 and done["duration_ms"] >= 0
    assert not list((tmp_path / "dest").rglob("*.partial"))
    raw = stored.read_bytes()
    assert raw.startswith(b"RVTRENC1") if encrypted else raw[:2] in (b"\x1f\x8b", b"\x28\xb5")

    target = tmp_path / "restored"
    target.mkdir()
    (target / "stale.txt").write_text("replaced by the restore")
    staged = await restore(dest, key, done["sha256"], [{"name": "data", "path": str(target)}])
    assert staged["restored"][0]["name"] == "data" and staged["restored"][0]["files"] >= 5
    assert snapshot(target) == before
    assert not (target / "a.sock").exists() and not (target / "stale.txt").exists()
    assert leftovers(target) == []


async def test_unencrypted_archive_is_plain_tar_zstd_with_manifest_first(
    tmp_path: Path, volume: Path
) -> None:
    dest = local_dest(tmp_path)
    await backup(
        dest,
        "a.tar.gz",
        "gz",
        [{"name": "data", "path": str(volume)}, {"name": "conf", "path": str(volume / "conf")}],
    )
    with tarfile.open(tmp_path / "dest" / "a.tar.gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("rivetr-backup.json"))  # type: ignore[arg-type]
        owner = tar.getmember("data/secret.txt")
    assert names[0] == "rivetr-backup.json" and "data/conf/app.ini" in names and "conf/app.ini" in names
    assert {n.split("/")[0] for n in names} == {"rivetr-backup.json", "data", "conf"}
    assert not any(n.endswith("a.sock") for n in names)
    assert manifest["format"] == "rivetr-volumes" and manifest["version"] == 1 and manifest["codec"] == "gz"
    assert [s["name"] for s in manifest["sources"]] == ["data", "conf"]
    assert (owner.uid, owner.gid, owner.mode) == (1234, 5678, 0o640)


async def test_round_trip_s3_two_volumes_and_a_subset(
    s3_server: S3Server, tmp_path: Path, volume: Path
) -> None:
    bucket = s3_server.create_bucket()
    dest = s3_server.destination(bucket, passphrase=PASSPHRASE)
    other = tmp_path / "other"
    other.mkdir()
    (other / "big.bin").write_bytes(os.urandom(20 << 20))  # an archive over one 16 MiB part: multipart
    sources = [{"name": "data", "path": str(volume)}, {"name": "cache", "path": str(other)}]
    done = await backup(dest, "apps/a/1.tar.zst.enc", "zst", sources)
    obj = s3_server.client().get_object(Bucket=bucket, Key="rivetr/apps/a/1.tar.zst.enc")["Body"].read()
    assert hashlib.sha256(obj).hexdigest() == done["sha256"] and len(obj) == done["size"]

    t1, t2 = tmp_path / "t1", tmp_path / "t2"
    t1.mkdir()
    t2.mkdir()
    staged = await restore(dest, "apps/a/1.tar.zst.enc", done["sha256"], [
        {"name": "data", "path": str(t1)}, {"name": "cache", "path": str(t2)},
    ])  # fmt: skip
    assert [r["name"] for r in staged["restored"]] == ["data", "cache"]
    assert snapshot(t1) == snapshot(volume) and snapshot(t2)["big.bin"] == snapshot(other)["big.bin"]
    t3 = tmp_path / "t3"
    t3.mkdir()
    await restore(dest, "apps/a/1.tar.zst.enc", done["sha256"], [{"name": "cache", "path": str(t3)}])
    assert (t3 / "big.bin").read_bytes() == (other / "big.bin").read_bytes()


# -- failures ---------------------------------------------------------------------------------------------------


async def prepared(
    tmp_path: Path, volume: Path, encrypted: bool
) -> tuple[dict[str, Any], str, dict[str, Any], Path]:
    dest = local_dest(tmp_path, PASSPHRASE if encrypted else None)
    key = "apps/a/1.tar.zst" + (".enc" if encrypted else "")
    done = await backup(dest, key, "zst", [{"name": "data", "path": str(volume)}])
    live = tmp_path / "live"
    make_tree(live)
    return dest, key, done, live


def damage(path: Path, *, flip_at: float | None = None, keep: float | None = None) -> None:
    data = bytearray(path.read_bytes())
    if flip_at is not None:
        data[int(len(data) * flip_at)] ^= 0x40
    if keep is not None:
        data = data[: int(len(data) * keep)]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("with_sha", [True, False])
async def test_damaged_archive_restores_nothing(
    tmp_path: Path, volume: Path, encrypted: bool, how: str, with_sha: bool
) -> None:
    dest, key, done, live = await prepared(tmp_path, volume, encrypted)
    before = snapshot(live)
    stored = tmp_path / "dest" / key
    damage(stored, flip_at=0.5) if how == "flip" else damage(stored, keep=0.7)
    err = await fails({
        "op": "stage", "destination": dest, "key": key, "sha256": done["sha256"] if with_sha else None,
        "targets": [{"name": "data", "path": str(live)}],
    })  # fmt: skip
    assert err.code == "corrupted_archive", err
    assert "nothing was restored" in err.message
    assert snapshot(live) == before and leftovers(live) == []


async def test_wrong_passphrase_is_told_apart_and_touches_nothing(tmp_path: Path, volume: Path) -> None:
    dest, key, done, live = await prepared(tmp_path, volume, encrypted=True)
    before, archive_sha = snapshot(live), hashlib.sha256((tmp_path / "dest" / key).read_bytes()).hexdigest()
    for sha in (done["sha256"], None):
        err = await fails({
            "op": "stage", "destination": {**dest, "passphrase": "not the passphrase"}, "key": key, "sha256": sha,
            "targets": [{"name": "data", "path": str(live)}],
        })  # fmt: skip
        assert err.code == "wrong_passphrase", err
        assert "not the passphrase" not in json.dumps(err.as_dict())
    err = await fails({
        "op": "stage", "destination": {k: v for k, v in dest.items() if k != "passphrase"}, "key": key,
        "targets": [{"name": "data", "path": str(live)}],
    })  # fmt: skip
    assert err.code == "passphrase_required"
    assert snapshot(live) == before and leftovers(live) == []
    assert hashlib.sha256((tmp_path / "dest" / key).read_bytes()).hexdigest() == archive_sha == done["sha256"]


async def test_missing_volume_and_bad_requests(tmp_path: Path, volume: Path) -> None:
    dest, key, done, live = await prepared(tmp_path, volume, encrypted=False)
    before = snapshot(live)
    err = await fails({
        "op": "stage", "destination": dest, "key": key, "sha256": done["sha256"],
        "targets": [{"name": "data", "path": str(live)}, {"name": "uploads", "path": str(tmp_path)}],
    })  # fmt: skip
    assert (
        err.code == "missing_in_archive" and err.details["missing"] == ["uploads"] and "data" in err.message
    )
    assert snapshot(live) == before and leftovers(live, tmp_path) == []
    err = await fails(
        {
            "op": "stage",
            "destination": dest,
            "key": "apps/a/none.tar.zst",
            "targets": [{"name": "data", "path": str(live)}],
        }
    )
    assert err.code == "archive_not_found"
    err = await fails(
        {
            "op": "backup",
            "destination": dest,
            "key": "k.tar.zst",
            "codec": "zst",
            "sources": [{"name": "data", "path": str(tmp_path / "nope")}],
        }
    )
    assert err.code == "source_missing"
    err = await fails(
        {
            "op": "backup",
            "destination": dest,
            "key": "k.tar.xz",
            "codec": "xz",
            "sources": [{"name": "data", "path": str(volume)}],
        }
    )
    assert err.code == "invalid_request"
    err = await fails(
        {"op": "backup", "destination": dest, "key": "k", "sources": [{"name": "../x", "path": str(volume)}]}
    )
    assert err.code == "invalid_request"
    err = await fails(
        {"op": "swap", "token": "0123456789abcdef", "targets": [{"name": "data", "path": str(live)}]}
    )
    assert err.code == "staging_missing"
    assert snapshot(live) == before
    err = await fails({"op": "explode"})
    assert err.code == "invalid_request"


def hostile_archive(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        manifest = json.dumps(
            {"format": "rivetr-volumes", "version": 1, "sources": [{"name": "data"}]}
        ).encode()
        info = tarfile.TarInfo("rivetr-backup.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        top = tarfile.TarInfo("data")
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return zstandard.ZstdCompressor().compress(buf.getvalue())


def _member(
    name: str, *, data: bytes = b"", type_: bytes = tarfile.REGTYPE, link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = type_, link, len(data)
    return info, data


@pytest.mark.parametrize(
    "member",
    [
        _member("data/../../escaped.txt", data=b"evil"),
        _member("/abs/escaped.txt", data=b"evil"),
        _member("data/hl", type_=tarfile.LNKTYPE, link="../../outside"),
        _member("data/hl", type_=tarfile.LNKTYPE, link="other/file"),
        _member("data/dev", type_=tarfile.CHRTYPE),
    ],
    ids=["dotdot", "absolute", "hardlink-out", "hardlink-other-volume", "device"],
)
async def test_hostile_archive_is_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes]) -> None:
    dest = local_dest(tmp_path)
    (tmp_path / "dest" / "evil.tar.zst").write_bytes(
        hostile_archive([_member("data/ok.txt", data=b"ok"), member])
    )
    live = tmp_path / "a" / "b" / "live"
    live.mkdir(parents=True)
    (live / "keep.txt").write_text("live")
    err = await fails(
        {
            "op": "stage",
            "destination": dest,
            "key": "evil.tar.zst",
            "targets": [{"name": "data", "path": str(live)}],
        }
    )
    assert err.code == "corrupted_archive", err
    assert not list(tmp_path.rglob("escaped.txt")) and not list(tmp_path.rglob("ok.txt"))
    assert [p.name for p in live.iterdir()] == ["keep.txt"]


async def test_discard_removes_staging_and_keeps_live(tmp_path: Path, volume: Path) -> None:
    dest, key, done, live = await prepared(tmp_path, volume, encrypted=False)
    before = snapshot(live)
    targets = [{"name": "data", "path": str(live)}]
    staged = await run_worker(
        {"op": "stage", "destination": dest, "key": key, "sha256": done["sha256"], "targets": targets}
    )
    assert leftovers(live) == [f".rivetr-restore-{staged['token']}"]
    # a backup taken meanwhile leaves our working directories out
    again = await backup(dest, "again.tar.gz", "gz", [{"name": "data", "path": str(live)}])
    with tarfile.open(tmp_path / "dest" / "again.tar.gz") as tar:
        assert not any(".rivetr-" in n for n in tar.getnames())
    assert again["size"] > 0
    assert await run_worker({"op": "discard", "token": staged["token"], "targets": targets}) == {}
    assert leftovers(live) == [] and snapshot(live) == before


async def test_no_output_of_the_worker_holds_a_secret(
    s3_server: S3Server, tmp_path: Path, volume: Path
) -> None:
    secret_key = "SECRET-KEY-must-not-leak-9d1c"
    bucket = s3_server.create_bucket()
    requests: list[dict[str, Any]] = [
        {"op": "test", "destination": s3_server.destination(bucket, secret_key=secret_key)},
        {"op": "backup", "destination": s3_server.destination(bucket, secret_key=secret_key, passphrase=PASSPHRASE),
         "key": "k.tar.zst.enc", "codec": "zst", "sources": [{"name": "data", "path": str(volume)}]},
        {"op": "stage", "destination": {**local_dest(tmp_path), "passphrase": PASSPHRASE}, "key": "nope.tar.zst.enc",
         "targets": [{"name": "data", "path": str(tmp_path)}]},
        {"op": "backup", "destination": {**local_dest(tmp_path), "passphrase": PASSPHRASE}, "key": "../" + PASSPHRASE,
         "codec": "zst", "sources": [{"name": "data", "path": str(volume)}]},
    ]  # fmt: skip
    for request in requests:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "rivetr_core.backup.worker"], input=json.dumps(request).encode(),
            capture_output=True, timeout=120, env=runner._child_env(),
        )  # fmt: skip
        assert done.returncode == 0
        last = json.loads(done.stdout.splitlines()[-1])
        assert last["ok"] is False and last["error"]["code"], last
        everything = done.stdout + done.stderr
        assert secret_key.encode() not in everything and PASSPHRASE.encode() not in everything, request["op"]
        err = await fails(request)
        assert secret_key not in json.dumps(err.as_dict()) and PASSPHRASE not in json.dumps(err.as_dict())


async def test_a_crashed_worker_is_reported_with_its_stderr_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    # An interpreter that cannot start at all: the worker dies before answering.
    monkeypatch.setattr(
        runner, "_child_env", lambda: {**os.environ, "PYTHONHOME": f"/nonexistent/{PASSPHRASE}"}
    )
    err = await fails(
        {"op": "test", "destination": {"kind": "local", "path": "/tmp", "passphrase": PASSPHRASE}}
    )
    assert err.code == "worker_crashed" and err.details["returncode"] != 0
    assert "Python" in err.message or "encodings" in err.message
    assert PASSPHRASE not in json.dumps(err.as_dict()) and "***" in err.details["stderr"]


async def test_timeout_stops_the_worker_and_cleans_up(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "f.bin", "wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(1 << 20))
    dest = local_dest(tmp_path)
    err = await fails_with_timeout({"op": "backup", "destination": dest, "key": "t.tar.gz", "codec": "gz",
                                    "sources": [{"name": "data", "path": str(big)}]}, 0.5)  # fmt: skip
    assert err.code == "timeout"
    assert list((tmp_path / "dest").iterdir()) == []  # the worker removed its .partial on SIGTERM


async def fails_with_timeout(request: dict[str, Any], timeout: float) -> BackupFailed:
    with pytest.raises(BackupFailed) as caught:
        await run_worker(request, timeout=timeout)
    return caught.value
