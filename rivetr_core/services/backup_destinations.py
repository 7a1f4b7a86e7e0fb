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

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from rivetr_core.contract.errors import Conflict, ValidationFailed
from rivetr_core.db import isoformat
from rivetr_core.models.backups import DESTINATION_KINDS, Backup, BackupDestination, BackupSchedule
from rivetr_core.secrets import mask

from .backup_base import BackupBase
from .backup_responses import DestinationOut

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery
    from rivetr_core.secrets import SecretBox


NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: S3's rules for bucket names (lower-case letters, digits, dots, hyphens; 3-63).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
S3_FIELDS = ("endpoint_url", "bucket", "region", "prefix", "access_key")


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
    return DestinationOut(
        id=row.id,
        name=row.name,
        kind=row.kind,  # type: ignore[arg-type]
        path=config.get("path"),
        **{field: config.get(field) for field in S3_FIELDS},
        secret_key=mask(secret.get("secret_key")),
        target=target(row.kind, config),
        has_passphrase=bool(secret.get("passphrase")),
        created_at=isoformat(row.created_at),
        updated_at=isoformat(row.updated_at),
    ).model_dump(mode="json")


def target(kind: str, config: Mapping[str, Any]) -> str:
    """Where a destination writes, for people: its directory, or ``s3://bucket/prefix (endpoint)``."""
    if kind == "local":
        return str(config.get("path") or "-")
    prefix = (config.get("prefix") or "").strip("/")
    where = f"s3://{config.get('bucket')}" + (f"/{prefix}" if prefix else "")
    return f"{where} ({config['endpoint_url']})" if config.get("endpoint_url") else where


def describe(row: BackupDestination) -> str:
    """One human line naming where archives go (events, errors)."""
    return f"{row.name}: {target(row.kind, row.config or {})}"


class DestinationsMixin(BackupBase):
    """Backup destinations (part of :class:`~rivetr_core.services.backups.BackupService`)."""

    async def list_destinations(self, page: PageQuery) -> tuple[list[BackupDestination], str | None]:
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            return await keyset_page(session, select(BackupDestination), BackupDestination, page)

    def destination_json(self, row: BackupDestination) -> dict[str, Any]:
        return destination_json(self.ctx.secrets, row)

    async def create_destination(self, fields: Mapping[str, Any]) -> BackupDestination:
        """Check the fields, run the test write (422 ``destination_check_failed`` naming the problem), then
        store it with its secrets encrypted."""
        name, kind, config, secret = check_fields(fields)
        async with self.ctx.db.session() as session:
            taken = (
                await session.exec(select(BackupDestination).where(BackupDestination.name == name))
            ).first()
        if taken is not None:
            raise Conflict.on("name", "already used by another backup destination")
        row = BackupDestination(
            name=name, kind=kind, config=config, secret_enc=seal(self.ctx.secrets, secret)
        )
        await self._test_write(row)
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except IntegrityError:
            raise Conflict.on("name", "already used by another backup destination") from None
        return row

    async def _test_write(self, row: BackupDestination) -> None:
        request = {"op": "test", "destination": worker_destination(self.ctx.secrets, row)}
        await self._worker(request, check=True)

    async def test_destination(self, destination_id: str) -> None:
        await self._test_write(await self.get_destination(destination_id))

    async def delete_destination(self, destination_id: str, *, force: bool = False) -> None:
        """409 while schedules use it or backups reference it, unless ``force`` (then those rows go too; the
        archives at the destination are never deleted by this). Always 409 while a run writes there."""
        row = await self.get_destination(destination_id)
        async with self.ctx.db.session() as session:
            schedules = list(
                (
                    await session.exec(
                        select(BackupSchedule).where(BackupSchedule.destination_id == destination_id)
                    )
                ).all()
            )
            counts = {
                status: n
                for status, n in (
                    await session.exec(
                        select(Backup.status, func.count())
                        .where(Backup.destination_id == destination_id)
                        .group_by(Backup.status)
                    )
                ).all()
            }
        if counts.get("running"):
            raise Conflict(
                f"a backup is being written to {row.name}; wait for it to finish",
                code="destination_in_use",
                details={"running": counts["running"]},
            )
        backups = sum(counts.values())
        if (schedules or backups) and not force:
            raise Conflict(
                f"destination {row.name} is used by {len(schedules)} schedule(s) and {backups} backup(s); "
                "delete those first or pass ?force=true (their rows go, the archives stay where they are)",
                code="destination_in_use",
                details={"schedules": len(schedules), "backups": backups},
            )
        for schedule in schedules:
            await self._delete_job(schedule.id)
        async with self.ctx.db.session() as session:
            await session.exec(sa.delete(Backup).where(Backup.destination_id == destination_id))  # type: ignore[call-overload, arg-type]
            await session.exec(
                sa.delete(BackupSchedule).where(BackupSchedule.destination_id == destination_id)  # type: ignore[call-overload, arg-type]
            )
            found = await session.get(BackupDestination, destination_id)
            if found is not None:
                await session.delete(found)
            await session.commit()
