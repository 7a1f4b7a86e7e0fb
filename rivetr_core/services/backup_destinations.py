"""Backup destinations: checking what a client sends, storing the secrets encrypted, showing them masked, and
the destination as the backup worker receives it.

A destination is ``{"kind": "local", "path"}`` (a directory on the server) or ``{"kind": "s3", "endpoint_url",
"bucket", "region", "prefix", "access_key", "secret_key"}`` (any S3-compatible service), plus an optional
``passphrase`` that encrypts every archive written there. ``secret_key`` and ``passphrase`` are stored only as
:class:`~rivetr_core.secrets.SecretBox` ciphertext; responses show ``secret_key`` masked and only
``has_passphrase``. The worker gets them in its request on stdin, never in argv, environment or logs.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rivetr_core.contract.errors import RivetrError, ValidationFailed
from rivetr_core.db import isoformat
from rivetr_core.models.backups import DESTINATION_KINDS, BackupDestination
from rivetr_core.secrets import mask

if TYPE_CHECKING:
    from rivetr_core.secrets import SecretBox

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: S3's rules for bucket names (lower-case letters, digits, dots, hyphens; 3-63).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
S3_FIELDS = ("endpoint_url", "bucket", "region", "prefix", "access_key")


class DestinationCheckFailed(RivetrError):
    """The test write to a destination failed; ``details.problem`` is the worker's code (``bucket_not_found``,
    ``access_denied``, ``endpoint_unreachable``, ``not_a_directory``, ``not_writable``, ``disk_full``...)."""

    code = "destination_check_failed"
    status = 422


class BackupWorkerError(RivetrError):
    """The backup worker failed an operation on a destination or a volume (``details.problem`` is its code)."""

    code = "backup_failed"
    status = 502


def check_fields(fields: Mapping[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    """``(name, kind, config, secret)`` from a create body; ``ValidationFailed`` naming the field."""
    name = str(fields.get("name") or "")
    if not NAME_RE.match(name):
        raise ValidationFailed.on(
            "name",
            "must be DNS-safe: 1-63 lower-case letters, digits and hyphens, not starting or ending with -",
        )
    kind = fields.get("kind")
    if kind not in DESTINATION_KINDS:
        raise ValidationFailed.on("kind", "must be 'local' or 's3'")
    secret: dict[str, str] = {}
    passphrase = fields.get("passphrase")
    if passphrase is not None:
        if len(passphrase) < 8:
            raise ValidationFailed.on("passphrase", "at least 8 characters")
        secret["passphrase"] = passphrase
    if kind == "local":
        path = fields.get("path") or ""
        if not path.startswith("/") or "\0" in path:
            raise ValidationFailed.on("path", "a local destination needs an absolute directory on the server")
        path = posixpath.normpath(path)
        if path == "/":
            raise ValidationFailed.on("path", "not the root directory: give a directory for the archives")
        extra = [f for f in (*S3_FIELDS, "secret_key") if fields.get(f)]
        if extra:
            raise ValidationFailed.on(extra[0], "only S3 destinations have it")
        return name, kind, {"path": path}, secret
    if fields.get("path"):
        raise ValidationFailed.on("path", "only local destinations have a path")
    endpoint = str(fields.get("endpoint_url") or "")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.on("endpoint_url", "an http:// or https:// URL of the S3-compatible service")
    bucket = str(fields.get("bucket") or "")
    if not BUCKET_RE.match(bucket):
        raise ValidationFailed.on(
            "bucket", "an S3 bucket name: 3-63 lower-case letters, digits, dots, hyphens"
        )
    for field in ("access_key", "secret_key"):
        if not fields.get(field):
            raise ValidationFailed.on(field, "required for an S3 destination")
    prefix = str(fields.get("prefix") or "").strip("/")
    if "\0" in prefix or ".." in prefix.split("/"):
        raise ValidationFailed.on("prefix", "a key prefix without '..' segments")
    config = {
        "endpoint_url": endpoint.rstrip("/"),
        "bucket": bucket,
        "region": str(fields.get("region") or "us-east-1"),
        "prefix": prefix,
        "access_key": str(fields["access_key"]),
    }
    secret["secret_key"] = str(fields["secret_key"])
    return name, kind, config, secret


def seal(box: SecretBox, secret: Mapping[str, str]) -> str | None:
    return box.encrypt(json.dumps(dict(secret))) if secret else None


def unseal(box: SecretBox, row: BackupDestination) -> dict[str, str]:
    return json.loads(box.decrypt(row.secret_enc)) if row.secret_enc else {}


def worker_destination(box: SecretBox, row: BackupDestination) -> dict[str, Any]:
    """The destination as a worker request carries it (secrets included: the request goes on stdin only)."""
    secret = unseal(box, row)
    out: dict[str, Any] = {"kind": row.kind, **row.config}
    if row.kind == "s3":
        out["secret_key"] = secret.get("secret_key", "")
    if secret.get("passphrase"):
        out["passphrase"] = secret["passphrase"]
    return out


def has_passphrase(box: SecretBox, row: BackupDestination) -> bool:
    return bool(unseal(box, row).get("passphrase"))


def destination_json(box: SecretBox, row: BackupDestination) -> dict[str, Any]:
    """A destination as the API shows it: ``secret_key`` masked, the passphrase only as ``has_passphrase``."""
    secret = unseal(box, row)
    config = row.config or {}
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "path": config.get("path"),
        **{field: config.get(field) for field in S3_FIELDS},
        "secret_key": mask(secret.get("secret_key")),
        "has_passphrase": bool(secret.get("passphrase")),
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def describe(row: BackupDestination) -> str:
    """One human line naming where archives go (events, errors)."""
    config = row.config or {}
    if row.kind == "local":
        return f"{row.name} ({config.get('path')})"
    prefix = f"/{config['prefix']}" if config.get("prefix") else ""
    return f"{row.name} (s3://{config.get('bucket')}{prefix} at {config.get('endpoint_url')})"
