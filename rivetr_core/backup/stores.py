"""Where archives are kept: a local directory or an S3-compatible bucket, written and read as streams.

Both stores offer the same small surface: :meth:`open_writer` (``write`` pieces, then ``commit`` or ``abort``),
:meth:`read` (an iterator of pieces), :meth:`delete` and :meth:`check` (the write/read/delete test). Keys are
relative (``apps/<app>/<stamp>-<id>.tar.zst``); a local store puts them under its ``path``, S3 under ``prefix``.

Failures raise :class:`BackupFailed` with a code the API can show: ``bucket_not_found``, ``access_denied``,
``endpoint_unreachable``, ``not_a_directory``, ``not_writable``, ``disk_full``, ``invalid_destination``,
``archive_not_found``. Only the worker process imports this module (boto3 stays out of the control plane).
"""

from __future__ import annotations

import errno
import os
import secrets
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rivetr_core.backup.runner import BackupFailed

PART_SIZE = 16 << 20
MAX_IN_FLIGHT = 2  # parts uploading while the next one fills: at most (2 + 1) x 16 MiB held
READ_SIZE = 1 << 20
_UNREACHABLE_CODES = {"RequestTimeout", "ServiceUnavailable", "SlowDown", "InternalError"}
_DENIED_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
    "AuthorizationHeaderMalformed", "InvalidSecurity", "AllAccessDisabled", "AccountProblem",
}  # fmt: skip


def check_key(key: Any) -> str:
    parts = key.split("/") if isinstance(key, str) else []
    if not parts or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in key:
        raise BackupFailed(
            "invalid_request", f"invalid archive key {key!r}: a relative path without '..'", {}
        )
    return key


def open_store(destination: Any) -> LocalStore | S3Store:
    if not isinstance(destination, dict):
        raise BackupFailed("invalid_destination", "the destination must be an object", {})
    kind = destination.get("kind")
    if kind == "local":
        return LocalStore(destination)
    if kind == "s3":
        return S3Store(destination)
    raise BackupFailed("invalid_destination", f"unknown destination kind {kind!r}: use 'local' or 's3'", {})


# -- local ---------------------------------------------------------------------------------------------------


def _os_failure(exc: OSError, where: str) -> BackupFailed:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BackupFailed("disk_full", f"no space left on the device of {where}", {"path": where})
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BackupFailed("not_writable", f"{where} is not writable ({reason})", {"path": where})
    if exc.errno == errno.ENOTDIR:
        return BackupFailed("not_a_directory", f"{where} is not a directory", {"path": where})
    return BackupFailed("io_error", f"{where}: {reason}", {"path": where})


class LocalWriter:
    """Writes ``<final>.partial`` and renames it on :meth:`commit`: an archive is whole or absent."""

    def __init__(self, final: str) -> None:
        self.final, self.partial = final, final + ".partial"
        self.size = 0
        try:
            os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
            self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _os_failure(exc, os.path.dirname(final)) from None
        self._buf = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if not self._buf and len(data) >= READ_SIZE // 4:
            self._write_all(data)  # big pieces go straight to the file, without a copy into the buffer
            return
        self._buf += data
        if len(self._buf) >= READ_SIZE:
            self._flush()

    def _write_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise _os_failure(exc, os.path.dirname(self.final)) from None
        finally:
            view.release()

    def _flush(self) -> None:
        self._write_all(self._buf)
        self._buf.clear()

    def commit(self) -> None:
        try:
            self._flush()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
            os.replace(self.partial, self.final)
            dir_fd = os.open(os.path.dirname(self.final), os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself survives a crash
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.abort()
            raise _os_failure(exc, os.path.dirname(self.final)) from None

    def abort(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass


class LocalStore:
    def __init__(self, destination: dict[str, Any]) -> None:
        path = destination.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise BackupFailed("invalid_destination", "a local destination needs an absolute 'path'", {})
        self.root = os.path.normpath(path)

    def _ensure_root(self) -> None:
        if not os.path.exists(self.root):
            raise BackupFailed(
                "not_a_directory", f"{self.root} does not exist: create it first", {"path": self.root}
            )
        if not os.path.isdir(self.root):
            raise BackupFailed("not_a_directory", f"{self.root} is not a directory", {"path": self.root})

    def _path(self, key: str) -> str:
        return os.path.join(self.root, check_key(key))

    def open_writer(self, key: str) -> LocalWriter:
        self._ensure_root()
        return LocalWriter(self._path(key))

    def read(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BackupFailed(
                "archive_not_found", f"no archive {key} in {self.root}", {"key": key}
            ) from None
        except OSError as exc:
            raise _os_failure(exc, path) from None
        return self._chunks(fd)

    @staticmethod
    def _chunks(fd: int) -> Iterator[bytes]:
        try:
            while data := os.read(fd, READ_SIZE):
                yield data
        finally:
            os.close(fd)

    def delete(self, key: str) -> bool:
        try:
            os.unlink(self._path(key))
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _os_failure(exc, self._path(key)) from None

    def check(self) -> None:
        self._ensure_root()
        key = f".rivetr-write-test-{secrets.token_hex(8)}"
        payload = secrets.token_bytes(64)
        writer = LocalWriter(self._path(key))
        try:
            writer.write(payload)
            writer.commit()
            if b"".join(self.read(key)) != payload:
                raise BackupFailed("io_error", f"{self.root} did not read back what was written", {})
        except BaseException:
            writer.abort()
            raise
        finally:
            self.delete(key)


# -- S3 ------------------------------------------------------------------------------------------------------


def _s3_failure(exc: Exception, bucket: str, endpoint: str) -> BackupFailed:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    where = {"bucket": bucket, "endpoint_url": endpoint}
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return BackupFailed(
                "bucket_not_found", f"the bucket {bucket!r} does not exist at {endpoint}", where
            )
        if code in _DENIED_CODES or status == 403:
            return BackupFailed(
                "access_denied",
                f"S3 refused the request ({code or status}): check the access key, secret key and the "
                f"bucket's permissions",
                {**where, "s3_code": code},
            )
        if code in ("NoSuchKey", "404") or status == 404:
            return BackupFailed(
                "archive_not_found", "no such archive in the bucket", {**where, "s3_code": code}
            )
        if code in _UNREACHABLE_CODES or (status or 0) >= 500:
            return BackupFailed("endpoint_unreachable", f"S3 answered {code or status}", where)
        return BackupFailed(
            "s3_error", f"S3 refused the request: {code} {err.get('Message', '')}".strip(), where
        )
    if isinstance(
        exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
    ):
        return BackupFailed("endpoint_unreachable", f"cannot reach the S3 endpoint {endpoint}", where)
    if isinstance(exc, NoCredentialsError):
        return BackupFailed("invalid_destination", "the S3 destination has no access key", where)
    return BackupFailed("s3_error", f"S3 request failed: {type(exc).__name__}", where)


class S3Writer:
    """A multipart upload fed by ``write`` calls: parts of :data:`PART_SIZE` go up in the background (at most
    :data:`MAX_IN_FLIGHT` at once) while the next fills, so memory stays bounded whatever the archive's size.
    An archive smaller than one part is a single PUT. Nothing is visible under the key before :meth:`commit`."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.size = 0
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._in_flight: deque[Future[dict[str, Any]]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._part_size = PART_SIZE

    def write(self, data: bytes | memoryview) -> None:
        self._buf += data
        self.size += len(data)
        if len(self._buf) >= self._part_size:
            self._send_part()

    def _send_part(self) -> None:
        client, bucket = self.store.client, self.store.bucket
        if self._upload_id is None:
            with self.store.errors():
                self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=self.key)["UploadId"]
            self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="s3-part")
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._collect()
        number = len(self._parts) + len(self._in_flight) + 1
        body = bytes(self._buf)
        self._buf.clear()
        assert self._pool is not None
        self._in_flight.append(self._pool.submit(self._upload_part, number, body))
        # S3 allows 10,000 parts: grow the parts of a very large archive instead of failing at 160 GiB
        if number % 1000 == 0:
            self._part_size += PART_SIZE

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        answer = self.store.client.upload_part(
            Bucket=self.store.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _collect(self) -> None:
        with self.store.errors():
            self._parts.append(self._in_flight.popleft().result())

    def commit(self) -> None:
        client, bucket = self.store.client, self.store.bucket
        if self._upload_id is None:
            with self.store.errors():
                client.put_object(Bucket=bucket, Key=self.key, Body=bytes(self._buf))
            self._buf.clear()
            return
        if self._buf:
            self._send_part()
        while self._in_flight:
            self._collect()
        with self.store.errors():
            client.complete_multipart_upload(
                Bucket=bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        self._shutdown()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        self._buf.clear()
        self._shutdown()
        if self._upload_id is not None:
            try:
                self.store.client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=self.key, UploadId=self._upload_id
                )
            except Exception:  # best effort: the bucket's lifecycle rules reap what is left
                pass
            self._upload_id = None


class S3Store:
    def __init__(self, destination: dict[str, Any]) -> None:
        get = destination.get
        for name in ("bucket", "access_key", "secret_key"):
            if not isinstance(get(name), str) or not get(name):
                raise BackupFailed(
                    "invalid_destination", f"an S3 destination needs '{name}'", {"field": name}
                )
        endpoint = get("endpoint_url") or None
        if endpoint is not None and (
            not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))
        ):
            raise BackupFailed(
                "invalid_destination",
                "'endpoint_url' must be an http:// or https:// URL",
                {"field": "endpoint_url"},
            )
        self.bucket: str = destination["bucket"]
        self.endpoint: str = endpoint or "AWS S3"
        prefix = get("prefix") or ""
        if not isinstance(prefix, str):
            raise BackupFailed("invalid_destination", "'prefix' must be a string", {"field": "prefix"})
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=get("region") or "us-east-1",
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # S3-compatible servers (MinIO, Ceph, moto) answer on one host name: path-style addressing
            s3={"addressing_style": "path" if endpoint else "auto"},
            # newer botocore adds CRC checksums many S3-compatible servers reject; send them only when required
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            self.client: Any = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=get("access_key"),
                aws_secret_access_key=get("secret_key"),
                config=config,
            )
        except ValueError as exc:
            raise BackupFailed("invalid_destination", f"invalid S3 settings: {exc}", {}) from None

    def errors(self) -> _S3Errors:
        return _S3Errors(self)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def open_writer(self, key: str) -> S3Writer:
        return S3Writer(self, self._key(key))

    def read(self, key: str) -> Iterator[bytes]:
        with self.errors():
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return self._chunks(body)

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            with self.errors():
                yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()

    def delete(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            failure = _s3_failure(exc, self.bucket, self.endpoint)
            if failure.code == "archive_not_found":
                return False
            raise failure from None
        except Exception as exc:
            raise _s3_failure(exc, self.bucket, self.endpoint) from None
        with self.errors():
            self.client.delete_object(Bucket=self.bucket, Key=full)
        return True

    def check(self) -> None:
        key = f".rivetr-write-test-{secrets.token_hex(8)}"
        payload = secrets.token_bytes(64)
        with self.errors():
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=payload)
            try:
                got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            finally:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        if got != payload:
            raise BackupFailed(
                "s3_error", "the bucket did not return what was written", {"bucket": self.bucket}
            )


class _S3Errors:
    """``with store.errors():`` turns botocore's exceptions into :class:`BackupFailed` with our codes."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, BackupFailed) or not isinstance(exc, Exception):
            return
        raise _s3_failure(exc, self.store.bucket, self.store.endpoint) from None
