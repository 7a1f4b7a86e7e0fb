"""The backup worker: ``python -m rivetr_core.backup.worker`` runs one op read as JSON from stdin.

It does the heavy, library-bound part of backups (tar, zstd/gzip, AES-GCM, boto3) in a process of its own, so the
control plane never loads those libraries and its memory does not move while gigabytes stream through here.
Ops and their results are described in :mod:`rivetr_core.backup.runner` and docs/backups.md; every op answers
with one last JSON line on stdout (``{"ok": true, "result": ...}`` or ``{"ok": false, "error": ...}``) and exits
0 even when the op failed cleanly. Messages never carry the request's secret key or passphrase. SIGTERM is turned
into an exception so a stopped run still removes its partial archive and staging directories.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rivetr_core.backup import archive, crypto, swap
from rivetr_core.backup.runner import BackupFailed, request_secrets, scrub, scrub_obj
from rivetr_core.backup.stores import LocalStore, open_store

TOKEN_RE = re.compile(r"^[0-9a-f]{16}$")
PROGRESS_EVERY = 1.0


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Progress:
    def __init__(self, op: str) -> None:
        self.op, self.last = op, time.monotonic()

    def __call__(self, **values: Any) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            emit({"progress": {"op": self.op, **values}})


def _destination(request: dict[str, Any]) -> dict[str, Any]:
    dest = request.get("destination")
    if not isinstance(dest, dict):
        raise BackupFailed("invalid_request", "the request needs a 'destination' object", {})
    return dest


def _passphrase(request: dict[str, Any]) -> str | None:
    value = _destination(request).get("passphrase")
    if value is not None and (not isinstance(value, str) or not value):
        raise BackupFailed("invalid_destination", "'passphrase' must be a non-empty string", {})
    return value


def _dirs(request: dict[str, Any], field: str) -> list[tuple[str, str]]:
    items = request.get(field)
    if not isinstance(items, list) or not items:
        raise BackupFailed("invalid_request", f"'{field}' must be a non-empty list of {{name, path}}", {})
    seen: set[str] = set()
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise BackupFailed("invalid_request", f"each of '{field}' must be an object", {})
        name, path = archive.check_name(item.get("name")), item.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise BackupFailed("invalid_request", f"{name!r} needs an absolute 'path'", {"name": name})
        if name in seen:
            raise BackupFailed("invalid_request", f"the name {name!r} appears twice", {"name": name})
        seen.add(name)
        out.append((name, os.path.normpath(path)))
    return out


def _token(request: dict[str, Any]) -> str:
    token = request.get("token")
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        raise BackupFailed("invalid_request", "'token' must be the token a stage op returned", {})
    return token


SINK_BATCH = 256 << 10


class Sink:
    """Encrypts, hashes and stores compressed output on a thread of its own, so that work overlaps with reading
    tar's output and compressing (hashlib, AES-GCM and file writes release the GIL). The queue is bounded: a slow
    store slows the producer down instead of piling archive bytes up in memory."""

    def __init__(self, writer: Any, encryptor: crypto.Encryptor | None) -> None:
        self._writer, self._encryptor = writer, encryptor
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._digest = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backup-sink", daemon=True)
        self._thread.start()

    def _store(self, data: bytes) -> None:
        if data:
            self._digest.update(data)
            self._writer.write(data)

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks on a dead consumer
            try:
                self._store(self._encryptor.update(data) if self._encryptor is not None else data)
            except BaseException as exc:
                self._error = exc

    def put(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> str:
        """Waits for everything queued to be stored; returns the sha256 of the stored bytes."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._encryptor is not None:
            self._store(self._encryptor.finish())
        return self._digest.hexdigest()

    def abort(self) -> None:
        if self._thread.is_alive():
            self._error = self._error or BackupFailed("interrupted", "the backup stopped", {})
            self._queue.put(None)
            self._thread.join()


# -- ops -------------------------------------------------------------------------------------------------------


def op_test(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    _passphrase(request)
    open_store(_destination(request)).check()
    return {}


def _codec(request: dict[str, Any]) -> str:
    codec = request.get("codec", "zst")
    if codec not in archive.CODECS:
        raise BackupFailed("invalid_request", f"unknown codec {codec!r}: use 'zst' or 'gz'", {})
    return str(codec)


def _store_stream(
    request: dict[str, Any], codec: str, pieces: Iterator[bytes], progress: Progress
) -> dict[str, Any]:
    """Compress ``pieces``, encrypt them when the destination has a passphrase and store them under the
    request's key: committed only once ``pieces`` ended normally (an exception aborts: no archive appears)."""
    started = time.monotonic()
    passphrase = _passphrase(request)
    key = request.get("key")
    store = open_store(_destination(request))
    compress = archive.compressor(codec)
    writer = store.open_writer(key)  # type: ignore[arg-type]  # checked by the store
    sink = Sink(writer, crypto.Encryptor(passphrase) if passphrase else None)
    bytes_in = 0
    pending: list[bytes] = []
    pending_size = 0
    try:
        for piece in pieces:
            bytes_in += len(piece)
            out = compress.compress(piece)
            if out:
                # small compressed pieces travel together: one queue hand-off per quarter MiB, not per piece
                pending.append(out)
                pending_size += len(out)
                if pending_size >= SINK_BATCH:
                    sink.put(b"".join(pending))
                    pending, pending_size = [], 0
            progress(bytes_in=bytes_in, bytes_out=writer.size)
        pending.append(compress.flush())
        sink.put(b"".join(pending))
        digest = sink.close()
        writer.commit()
    except BaseException:
        sink.abort()
        writer.abort()
        raise
    return {
        "key": key,
        "size": writer.size,
        "sha256": digest,
        "bytes_in": bytes_in,
        "duration_ms": int((time.monotonic() - started) * 1000),
    }


def op_backup(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    codec = _codec(request)
    _passphrase(request)
    sources = [archive.walk_source(name, path) for name, path in _dirs(request, "sources")]
    result = _store_stream(request, codec, archive.tar_stream(codec, sources), progress)
    result["sources"] = [
        {"name": s.name, "files": s.files, "bytes": s.total, "skipped": s.skipped} for s in sources
    ]
    return result


FRAME_HEADER = 4
FRAME_MAX = 1 << 20


def read_frames(stream: Any) -> Iterator[bytes]:
    """The data a ``backup_stream`` request carries after its JSON line: frames of a 4-byte big-endian length and
    that many bytes, ended by an empty frame. Stdin closing before that end (the server died, or gave up on a
    failed dump) is a failure: a dump cut short must never be stored as if it were whole."""

    def exactly(n: int) -> bytes:
        data = stream.read(n)
        while data is not None and 0 < len(data) < n:
            more = stream.read(n - len(data))
            if not more:
                break
            data += more
        if not data or len(data) < n:
            raise BackupFailed("stream_truncated", "the dump stream ended before its end marker", {})
        return bytes(data)

    while True:
        size = int.from_bytes(exactly(FRAME_HEADER), "big")
        if size == 0:
            return
        if size > FRAME_MAX:
            raise BackupFailed("invalid_request", f"a stream frame of {size} bytes is over {FRAME_MAX}", {})
        yield exactly(size)


def op_backup_stream(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Store the dump that follows the request on stdin (see :func:`read_frames`) as one compressed (and
    encrypted) object: a database dump piped from the service's container, never written to this disk."""
    codec = _codec(request)
    _passphrase(request)
    return _store_stream(request, codec, read_frames(sys.stdin.buffer), progress)


def _verified_file(request: dict[str, Any], progress: Progress) -> tuple[str, bool]:
    """``(path, temporary)`` of a local copy of the archive whose sha256 matched the run's: a local
    destination's own file, else a download into ``staging_dir``. Nothing is restored from bytes that were not
    checked first (a restore cannot be undone half-way the way a volume swap can)."""
    expected = request.get("sha256")
    if not (isinstance(expected, str) and re.fullmatch(r"[0-9a-f]{64}", expected)):
        raise BackupFailed("invalid_request", "'sha256' must be 64 lowercase hex digits", {})
    store = open_store(_destination(request))
    # A local destination's archive is read where it is (twice: checked, then restored); S3 is downloaded once.
    local = store._path(request.get("key")) if isinstance(store, LocalStore) else None  # type: ignore[arg-type]
    temporary = local is None
    if temporary:
        staging = request.get("staging_dir")
        if not isinstance(staging, str) or not os.path.isabs(staging):
            raise BackupFailed("invalid_request", "'staging_dir' must be an absolute directory", {})
        path = os.path.join(staging, f".rivetr-service-restore-{secrets.token_hex(8)}")
        digest = hashlib.sha256()
        read = 0
        try:
            with open(path, "wb") as fh:
                for chunk in _stored_chunks(request):
                    digest.update(chunk)
                    read += len(chunk)
                    fh.write(chunk)
                    progress(bytes_read=read)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
    else:
        path = str(local)
        digest = hashlib.sha256()
        for chunk in _stored_chunks(request):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        if temporary:
            os.unlink(path)
        raise archive.corrupted(
            "the archive does not match its recorded sha256; nothing was restored", sha256=digest.hexdigest()
        )
    return path, temporary


def op_unpack_stream(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Write the dump an archive holds (decrypted, decompressed) to the pipe ``fd`` the server passed, for
    the service's container to read; the archive is checked against its sha256 before the first byte goes."""
    passphrase = _passphrase(request)
    fd = request.get("fd")
    if not isinstance(fd, int) or fd < 3:
        raise BackupFailed("invalid_request", "'fd' must be the pipe the server passed", {})
    key = request.get("key")
    if isinstance(key, str) and key.endswith(".enc") and not passphrase:
        raise BackupFailed(
            "passphrase_required", "this archive is encrypted: its destination needs the passphrase", {}
        )
    path, temporary = _verified_file(request, progress)
    written = 0
    try:
        with open(path, "rb") as fh, os.fdopen(fd, "wb", buffering=0) as out:
            decryptor = crypto.Decryptor(passphrase) if passphrase else None
            decompress = archive.Decompressor()
            while chunk := fh.read(READ_CHUNK):
                data = decryptor.update(chunk) if decryptor is not None else chunk
                if data:
                    plain = decompress.update(data)
                    if plain:
                        out.write(plain)
                        written += len(plain)
                progress(bytes_out=written)
            if decryptor is not None:
                plain = decompress.update(decryptor.finish())
                if plain:
                    out.write(plain)
                    written += len(plain)
            decompress.finish()
    except crypto.WrongPassphrase as exc:
        raise BackupFailed("wrong_passphrase", f"{exc}; nothing was restored", {}) from None
    except crypto.CorruptedData as exc:
        raise archive.corrupted(str(exc)) from None
    except BrokenPipeError:
        raise BackupFailed("reader_gone", "the service stopped reading the dump", {}) from None
    finally:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return {"bytes": written}


READ_CHUNK = 1 << 20


def _stored_chunks(request: dict[str, Any]) -> Iterator[bytes]:
    return open_store(_destination(request)).read(request.get("key"))  # type: ignore[arg-type]


def op_stage(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    passphrase = _passphrase(request)
    key = request.get("key")
    expected = request.get("sha256")
    if expected is not None and not (isinstance(expected, str) and re.fullmatch(r"[0-9a-f]{64}", expected)):
        raise BackupFailed("invalid_request", "'sha256' must be 64 lowercase hex digits", {})
    if isinstance(key, str) and key.endswith(".enc") and not passphrase:
        raise BackupFailed(
            "passphrase_required", "this archive is encrypted: its destination needs the passphrase", {}
        )
    targets = _dirs(request, "targets")
    for name, path in targets:
        if not os.path.isdir(path):
            raise BackupFailed(
                "target_missing", f"the target directory {path} of {name!r} does not exist", {"name": name}
            )
    chunks = _stored_chunks(request)
    token = secrets.token_hex(8)
    staged: dict[str, archive.Target] = {}
    extractor: archive.Extractor | None = None
    digest = hashlib.sha256()
    try:
        for name, path in targets:
            staging = os.path.join(path, swap.STAGE_PREFIX + token)
            os.mkdir(staging, 0o700)
            staged[name] = archive.Target(name, path, staging)
        extractor = archive.Extractor(staged)
        decryptor = crypto.Decryptor(passphrase) if passphrase else None
        decompress = archive.Decompressor()
        read = 0
        for chunk in chunks:
            digest.update(chunk)
            read += len(chunk)
            data = decryptor.update(chunk) if decryptor is not None else chunk
            if data:
                extractor.feed(decompress.update(data))
            progress(bytes_read=read)
        if decryptor is not None:
            extractor.feed(decompress.update(decryptor.finish()))
        if expected and digest.hexdigest() != expected:
            raise archive.corrupted(
                "the archive does not match its recorded sha256", sha256=digest.hexdigest()
            )
        decompress.finish()
        extractor.finish()
    except crypto.WrongPassphrase as exc:
        for chunk in chunks:  # a damaged header also fails the key check: the checksum tells them apart
            digest.update(chunk)
        _cleanup(staged.values(), extractor)
        if expected and digest.hexdigest() != expected:
            raise archive.corrupted("the archive does not match its recorded sha256") from None
        raise BackupFailed("wrong_passphrase", f"{exc}; nothing was restored", {}) from None
    except crypto.CorruptedData as exc:
        _cleanup(staged.values(), extractor)
        raise archive.corrupted(f"{exc}; nothing was restored") from None
    except OSError as exc:
        _cleanup(staged.values(), extractor)
        raise BackupFailed("io_error", f"staging failed: {exc.strerror or exc}", {}) from None
    except BaseException as exc:
        _cleanup(staged.values(), extractor)
        if isinstance(exc, BackupFailed) and exc.code == "corrupted_archive":
            exc.message += "; nothing was restored"
        raise
    return {
        "token": token,
        "restored": [{"name": t.name, "files": t.files, "bytes": t.total} for t in staged.values()],
        "manifest": extractor.manifest,
    }


def _cleanup(targets: Any, extractor: archive.Extractor | None) -> None:
    if extractor is not None:
        extractor.abort()
    for target in targets:
        shutil.rmtree(target.staging, ignore_errors=True)


def op_swap(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    token = _token(request)
    targets = [swap.Paths(name, path, token) for name, path in _dirs(request, "targets")]
    for t in targets:
        if not os.path.isdir(t.staging):
            raise BackupFailed(
                "staging_missing",
                f"nothing staged for {t.name!r} under {t.path} (token {token})",
                {"name": t.name},
            )
    try:
        swap.swap(targets)
    except swap.SwapError as exc:
        raise BackupFailed("swap_failed", str(exc), {"name": exc.name}) from None
    return {}


def op_discard(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    token = _token(request)
    swap.discard([swap.Paths(name, path, token) for name, path in _dirs(request, "targets")])
    return {}


def op_recover(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Settle restores a crash left half-done in these directories (see :mod:`rivetr_core.backup.swap`)."""
    return {"recovered": swap.recover(_dirs(request, "targets"))}


def op_delete(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return {"deleted": open_store(_destination(request)).delete(request.get("key"))}  # type: ignore[arg-type]


def _file(request: dict[str, Any]) -> str:
    path = request.get("file")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise BackupFailed("invalid_request", "'file' must be an absolute path", {})
    return path


def op_put_file(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    path, key = _file(request), request.get("key")
    store = open_store(_destination(request))
    try:
        fh = open(path, "rb")  # closed by the with below, after the writer is set up
    except OSError as exc:
        raise BackupFailed("file_unreadable", f"cannot read {path}: {exc.strerror}", {}) from None
    writer = store.open_writer(key)  # type: ignore[arg-type]
    digest = hashlib.sha256()
    try:
        with fh:
            while data := fh.read(1 << 20):
                digest.update(data)
                writer.write(data)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return {"key": key, "size": writer.size, "sha256": digest.hexdigest()}


def op_get_file(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    path = _file(request)
    chunks = _stored_chunks(request)
    partial = path + ".partial"
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
        os.replace(partial, path)
    except OSError as exc:
        raise BackupFailed("io_error", f"cannot write {path}: {exc.strerror}", {}) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return {"size": size, "sha256": digest.hexdigest()}


def op_checksum(request: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Size and sha256 of a stored archive, read once (importing a backup another server made: the restore then
    checks the archive against this, as against a run's own)."""
    digest, size = hashlib.sha256(), 0
    for chunk in _stored_chunks(request):
        digest.update(chunk)
        size += len(chunk)
        progress(bytes_read=size)
    return {"size": size, "sha256": digest.hexdigest()}


OPS: dict[str, Callable[[dict[str, Any], Progress], dict[str, Any]]] = {
    "test": op_test,
    "checksum": op_checksum,
    "backup": op_backup,
    "stage": op_stage,
    "swap": op_swap,
    "discard": op_discard,
    "recover": op_recover,
    "delete": op_delete,
    "put_file": op_put_file,
    "get_file": op_get_file,
    "backup_stream": op_backup_stream,
    "unpack_stream": op_unpack_stream,
}


def _terminate(signum: int, frame: Any) -> None:
    raise BackupFailed("interrupted", "the backup worker was stopped", {})


def _die_with_parent() -> None:
    """SIGTERM this worker when the server that started it dies (``kill -9`` included; Linux only), so an
    orphan never goes on writing while the restarted server recovers the same volumes."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect (we were re-parented)
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    _die_with_parent()
    sys.setrecursionlimit(20_000)  # the source walk recurses once per directory level
    try:
        # One line: a backup_stream's dump follows it on stdin (other ops send the request alone, unterminated).
        request = json.loads(sys.stdin.buffer.readline() or b"null")
    except ValueError:
        request = None
    if not isinstance(request, dict) or request.get("op") not in OPS:
        emit(
            {
                "ok": False,
                "error": {
                    "code": "invalid_request",
                    "message": f"unknown op; one of {', '.join(OPS)}",
                    "details": {},
                },
            }
        )
        return 0
    hidden = request_secrets(request)
    try:
        result = OPS[request["op"]](request, Progress(request["op"]))
    except BackupFailed as exc:
        emit({"ok": False, "error": scrub_obj(exc.as_dict(), hidden)})
        return 0
    except Exception as exc:  # a bug or an unforeseen failure: still one clean answer, never a secret
        message = scrub(f"{type(exc).__name__}: {exc}", hidden)
        emit({"ok": False, "error": {"code": "internal_error", "message": message, "details": {}}})
        return 0
    emit({"ok": True, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
