"""Importing a service backup another server made (issue 24: a project moves to a new server with its data).

A backup is a row of the server that made it; the archive itself is an object of the destination
(``services/<name>-<id>/<stamp>-<run>.<ext>.<codec>[.enc]``). Another server that has the same destination (its
own row, the same bucket and passphrase) imports the object into one of its services: the worker reads it once for
its size and sha256 (checked against ``sha256`` when given, e.g. the first server's ``GET /api/backups/{id}``), and
a ``succeeded`` backup row (``trigger: "import"``) records it for that service. It is then restored as any backup
of the service is (``POST /api/backups/{id}/restore-service``), which checks the archive against that sha256 again
before a byte reaches the database. Importing never changes the object nor the service.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlmodel import select

from rivetr_core.contract.errors import Conflict, ValidationFailed
from rivetr_core.models.backups import Backup

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

_CODECS = ("zst", "gz")


def parse_key(key: str, method: str) -> tuple[str, bool]:
    """``(codec, encrypted)`` of a service archive's key, which must be of ``method`` (its extension says);
    ``ValidationFailed`` on ``key`` otherwise."""
    from rivetr_core.backup.dumps import EXTENSIONS

    name = key.rsplit("/", 1)[-1]
    encrypted = name.endswith(".enc")
    parts = (name[: -len(".enc")] if encrypted else name).split(".")
    if not key.startswith("services/") or len(parts) < 3 or parts[-1] not in _CODECS:
        raise ValidationFailed.on(
            "key",
            "not a service backup's key: services/<service>-<id>/<file>.<sql|rdb|tar>.<zst|gz>[.enc]",
        )
    if parts[-2] != EXTENSIONS.get(method):
        raise ValidationFailed.on(
            "key", f"a .{parts[-2]} archive cannot be restored into a service that backs up by {method}"
        )
    return parts[-1], encrypted


async def import_service_backup(
    ctx: RivetrContext, service_id: str, destination_id: str, key: str, sha256: str | None = None
) -> Backup:
    """Record the destination's archive ``key`` as a succeeded backup of the service (see the module)."""
    from .backup_destinations import unseal, worker_destination
    from .backup_service_runs import ServiceRunsMixin

    backups = ctx.services.backups
    if not isinstance(backups, ServiceRunsMixin):  # pragma: no cover - the service is always the full one
        raise TypeError("ctx.services.backups is not the backup service")
    target = await backups._service_target(service_id)
    dest = await backups.get_destination(destination_id, "destination_id")
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in key:
        raise ValidationFailed.on("key", "a relative path within the destination, without '..'")
    codec, encrypted = parse_key(key, target.method)
    if encrypted and not unseal(ctx.secrets, dest).get("passphrase"):
        raise ValidationFailed.on(
            "key", "this archive is encrypted: the destination needs the passphrase it was made with"
        )
    async with ctx.db.session() as session:
        known = (
            await session.exec(
                select(Backup).where(
                    Backup.destination_id == dest.id, Backup.key == key, Backup.service_id == target.row.id
                )
            )
        ).first()
    if known is not None:
        raise Conflict.on("key", f"this archive is already backup {known.id} of {target.row.name}")
    result = await backups._worker(
        {"op": "checksum", "destination": worker_destination(ctx.secrets, dest), "key": key}
    )
    if sha256 is not None and result["sha256"] != sha256:
        raise ValidationFailed.on(
            "sha256",
            f"the archive's sha256 is {result['sha256']}, not the one given: it changed or is another",
        )
    stamp = re.search(r"/(\d{8}T\d{6}Z)-", key)
    from datetime import UTC, datetime

    from rivetr_core.db.engine import utcnow

    started = datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if stamp else utcnow()
    row = Backup(
        what="service",
        service_id=target.row.id,
        service_name=target.row.name,
        destination_id=dest.id,
        trigger="import",
        status="succeeded",
        key=key,
        codec=codec,
        encrypted=encrypted,
        size_bytes=int(result["size"]),
        sha256=str(result["sha256"]),
        duration_ms=0,
        volumes=backups._service_entries(target),
        consistency=target.method,
        started_at=started,
        finished_at=utcnow(),
    )
    async with ctx.db.session() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    return row
