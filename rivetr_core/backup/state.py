"""Archives of Rivetr's own state, and restoring one into a stopped server's data dir.

What an archive (``rivetr-state-<UTC time>.tar.gz``, its sha256 in ``<archive>.sha256`` beside it) holds:

* ``rivetr.db`` — copied with SQLite's online backup API: one consistent snapshot, taken while the server keeps
  writing (WAL readers do not block writers), holding every transaction committed before the copy began. On a
  PostgreSQL install (``[database] url``) it is a logical export of every table into a SQLite file, read in one
  snapshot (:mod:`.state_postgres`): the same archive restores on either database.
* ``certs/`` — the data dir's certificate files, when present (issued certificates live in the database).
* ``config/rivetr.toml`` — the config file the server runs with, when there is one.
* ``secrets/secret.key.enc`` and ``secrets/admin.token.enc`` — only with a passphrase: AES-256-GCM under a key
  derived by scrypt, so an archive never carries the key that opens the database's secrets in the clear.
* ``manifest.json`` — format, creation time and every file's sha256, checked again on restore.

A restore unpacks into a temporary directory next to the data dir, verifies everything there (checksums, the
database's ``PRAGMA integrity_check``, the passphrase), and only then swaps the files in; what they replace is
kept in ``<data_dir>/.pre-restore-<time>/``. Any failure before the swap leaves the data dir untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rivetr_core.dbfile import DB_FILE

FORMAT = "rivetr-state"
VERSION = 1
PREFIX = "rivetr-state-"
SUFFIX = ".tar.gz"
SECRET_FILES = ("secret.key", "admin.token")  # secrets.KEY_FILE, auth.TOKEN_FILE


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class BackupResult:
    path: Path
    sha256: str
    size: int
    files: list[str]
    removed: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    data_dir: Path
    restored: list[str]
    previous: Path | None
    config: Path | None


def default_backup_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "backups"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- passphrase encryption ---------------------------------------------------------------------------------

_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # lazily: only backups need it

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def encrypt(data: bytes, passphrase: str, label: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, **_SCRYPT)
    sealed = AESGCM(key).encrypt(nonce, data, label.encode())
    b64 = base64.b64encode
    doc = {"v": 1, "kdf": "scrypt", **_SCRYPT, "salt": b64(salt).decode(), "nonce": b64(nonce).decode()}
    return json.dumps({**doc, "ct": b64(sealed).decode()}).encode()


def decrypt(blob: bytes, passphrase: str, label: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        doc = json.loads(blob)
        salt, nonce, sealed = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "ct"))
        key = _derive(passphrase, salt, int(doc["n"]), int(doc["r"]), int(doc["p"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the encrypted {label} in the archive is damaged ({exc})") from None
    try:
        return AESGCM(key).decrypt(nonce, sealed, label.encode())
    except InvalidTag:
        raise BackupError(
            f"wrong passphrase: the archive's {label} does not decrypt with it (or the archive was altered); "
            "nothing was restored"
        ) from None


# -- create ------------------------------------------------------------------------------------------------


def _copy_database(src: Path, dst: Path) -> None:
    """SQLite's online backup API: a consistent snapshot even while the server writes."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)  # all pages in one step: one read transaction, one snapshot
        finally:
            target.close()
    finally:
        source.close()


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def create_backup(
    data_dir: Path,
    dest_dir: Path,
    *,
    config_file: Path | None = None,
    passphrase: str | None = None,
    keep_last: int | None = None,
    database_url: str | None = None,
) -> BackupResult:
    """Write one archive of ``data_dir``'s state into ``dest_dir``; keep the newest ``keep_last`` there.
    ``database_url``: the install's PostgreSQL database (``[database] url``), exported instead of the SQLite file."""
    data_dir, dest_dir = Path(data_dir), Path(dest_dir)
    db = data_dir / DB_FILE
    if database_url is None and not db.exists():
        raise BackupError(f"no Rivetr database at {db}: is {data_dir} the server's data dir?")
    dest_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=".rivetr-backup-", dir=dest_dir))
    try:
        if database_url is not None:
            from .state_postgres import StateDatabaseError, export_to_sqlite

            try:
                export_to_sqlite(database_url, staging / DB_FILE)
            except StateDatabaseError as exc:
                raise BackupError(f"exporting the database failed: {exc}") from None
        else:
            _copy_database(db, staging / DB_FILE)
        certs = data_dir / "certs"
        if certs.is_dir():
            shutil.copytree(certs, staging / "certs", symlinks=False)
        if config_file is not None and Path(config_file).is_file():
            (staging / "config").mkdir()
            shutil.copy2(config_file, staging / "config" / "rivetr.toml")
        encrypted: list[str] = []
        if passphrase:
            (staging / "secrets").mkdir()
            for name in SECRET_FILES:
                if (data_dir / name).is_file():
                    sealed = encrypt((data_dir / name).read_bytes(), passphrase, name)
                    (staging / "secrets" / f"{name}.enc").write_bytes(sealed)
                    encrypted.append(name)
        files = {str(p.relative_to(staging)): _sha256_file(p) for p in _walk(staging)}
        now = datetime.now(UTC)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "files": files,
            "encrypted_secrets": encrypted,
            "database": "postgresql" if database_url is not None else "sqlite",  # where rivetr.db came from
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        name = f"{PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
        partial = dest_dir / f".{name}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(staging / "manifest.json", arcname="manifest.json")
            for rel in files:
                tar.add(staging / rel, arcname=rel)
            raw.flush()
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        digest = _sha256_file(partial)
        final = dest_dir / name
        os.replace(partial, final)  # an archive is either whole or absent
        (dest_dir / f"{name}.sha256").write_text(f"{digest}  {name}\n")
        removed = prune(dest_dir, keep_last) if keep_last else []
        return BackupResult(final, digest, final.stat().st_size, sorted(files), removed)
    except sqlite3.Error as exc:
        raise BackupError(f"copying the database failed: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for stale in dest_dir.glob(f".{PREFIX}*.partial"):
            stale.unlink(missing_ok=True)


def list_backups(dest_dir: Path) -> list[Path]:
    """The state archives in ``dest_dir``, oldest first (names carry the UTC time)."""
    return sorted(p for p in Path(dest_dir).glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def prune(dest_dir: Path, keep_last: int) -> list[Path]:
    archives = list_backups(dest_dir)
    doomed = archives[: max(0, len(archives) - keep_last)]
    for path in doomed:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    return doomed


# -- restore -----------------------------------------------------------------------------------------------


def server_running(data_dir: Path) -> str | None:
    """The address of a server answering for ``data_dir`` (its ``api.addr``), or None."""
    addr_file = Path(data_dir) / "api.addr"
    try:
        host, _, port = addr_file.read_text().strip().rpartition(":")
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = "127.0.0.1"
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
            return f"{host}:{port}"
    except (OSError, ValueError):
        return None


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir()):
            raise BackupError(f"the archive holds an unsafe entry {m.name!r}; refusing it")
    return members


def restore_backup(
    archive: Path,
    data_dir: Path,
    *,
    passphrase: str | None = None,
    ignore_secrets: bool = False,
    database_url: str | None = None,
) -> RestoreResult:
    """Restore ``archive`` into the stopped server's ``data_dir`` (see the module docstring). ``database_url``:
    the install's PostgreSQL database, whose rows the archive's replace (:mod:`.state_postgres`); refused while a
    control plane on it is alive."""
    archive, data_dir = Path(archive), Path(data_dir)
    if database_url is not None:
        from .state_postgres import StateDatabaseError, live_planes

        try:
            planes = live_planes(database_url)
        except StateDatabaseError as exc:
            raise BackupError(str(exc)) from None
        if planes:
            raise BackupError(
                f"Rivetr is running on this database ({', '.join(planes)}); stop every rivetr serve using it "
                "before restoring"
            )
    from rivetr_core.datalock import exclusive_or_none

    with exclusive_or_none(data_dir) as free:
        running = server_running(data_dir)
        if running or not free:
            where = f" (it answers on {running})" if running else ""
            raise BackupError(
                f"a Rivetr server is running on {data_dir}{where}; stop it before restoring, "
                "or restore into another data dir"
            )
        return _restore_unlocked(
            archive, data_dir, passphrase=passphrase, ignore_secrets=ignore_secrets, database_url=database_url
        )


def _restore_unlocked(
    archive: Path,
    data_dir: Path,
    *,
    passphrase: str | None,
    ignore_secrets: bool,
    database_url: str | None = None,
) -> RestoreResult:
    """The restore proper, while :func:`restore_backup` holds the data dir exclusively (a server starting
    meanwhile waits for the lock instead of opening a database being swapped)."""
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    sidecar = archive.with_name(archive.name + ".sha256")
    if sidecar.is_file():
        expected = sidecar.read_text().split()[0]
        if _sha256_file(archive) != expected:
            raise BackupError(
                f"{archive} does not match its recorded sha256 ({sidecar}): the archive is damaged"
            )
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _safe_members(tar)
                tar.extractall(staging, members=members)  # members checked above: no links, no escapes
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupError(f"{archive} is not a readable state archive ({exc})") from None
        try:
            manifest = json.loads((staging / "manifest.json").read_text())
        except (OSError, ValueError):
            raise BackupError(f"{archive} has no valid manifest.json: not a Rivetr state backup") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise BackupError(f"{archive} is not a Rivetr state backup of a format this version reads")
        for rel, digest in manifest.get("files", {}).items():
            if not (staging / rel).is_file() or _sha256_file(staging / rel) != digest:
                raise BackupError(f"{rel} in {archive} does not match the manifest's checksum")
        try:
            with sqlite3.connect(f"file:{staging / DB_FILE}?mode=ro", uri=True) as conn:
                result = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.Error as exc:
            raise BackupError(f"the archived database does not open ({exc})") from None
        if not result or result[0] != "ok":
            raise BackupError(f"the archived database fails its integrity check: {result}")
        secrets = manifest.get("encrypted_secrets", [])
        if secrets and not ignore_secrets:
            if not passphrase:
                raise BackupError(
                    "this archive holds the secret key encrypted with a passphrase: pass --passphrase-file "
                    "(without the key the database's stored secrets cannot be read)"
                )
            for name in secrets:
                plain = decrypt((staging / "secrets" / f"{name}.enc").read_bytes(), passphrase, name)
                fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(plain)
        # Everything checked: swap. What is replaced moves aside, never deleted.
        data_dir.mkdir(exist_ok=True, mode=0o700)
        os.chmod(staging / DB_FILE, 0o600)
        items = ([] if database_url is not None else [DB_FILE]) + (
            ["certs"] if (staging / "certs").is_dir() else []
        )
        items += [n for n in secrets if (staging / n).is_file()]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        previous = data_dir / f".pre-restore-{stamp}"
        moved_aside = False
        if database_url is not None:
            from .state_postgres import StateDatabaseError, import_from_sqlite

            previous.mkdir(mode=0o700)
            try:  # the rows replaced are saved first, as a SQLite file in the usual place
                import_from_sqlite(staging / DB_FILE, database_url, previous / DB_FILE)
            except StateDatabaseError as exc:
                raise BackupError(f"restoring into the database failed: {exc}") from None
            moved_aside = True
        for name in [*items, f"{DB_FILE}-wal", f"{DB_FILE}-shm"]:
            # a stale -wal beside the new database would be replayed into it: it moves aside too
            if (data_dir / name).exists():
                previous.mkdir(mode=0o700, exist_ok=True)
                os.replace(data_dir / name, previous / name)
                moved_aside = True
        for name in items:
            os.replace(staging / name, data_dir / name)
        config = None
        if (staging / "config" / "rivetr.toml").is_file():
            config = data_dir / "rivetr.restored.toml"
            os.replace(staging / "config" / "rivetr.toml", config)
        restored = [*items, "database (postgresql)"] if database_url is not None else items
        return RestoreResult(data_dir, restored, previous if moved_aside else None, config)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_passphrase(path: str | os.PathLike[str]) -> str:
    """A passphrase file's first line (a file, not argv: argv is visible to every user of the machine)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read().splitlines()
    if not text or not text[0]:
        raise BackupError(f"the passphrase file {path} is empty")
    return text[0]
