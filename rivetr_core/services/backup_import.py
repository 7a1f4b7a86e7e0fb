"""Importing a service backup another server made (issue 24: a project moves to a new server with its data).

A backup is a row of the server that made it; the archive itself is an object of the destination
(``services/<name>-<id>/<stamp>-<run>.<ext>.<codec>[.enc]``). Another server that has the same destination (its
own row, the same bucket and passphrase) imports the object into one of its services: the worker reads it once for
its size and sha256 (checked against ``sha256`` when given, e.g. the first server's ``GET /api/backups/{id}``), and
a ``succeeded`` backup row (``trigger: "import"``) records it for that service. It is then restored as any backup
of the service is (``POST /api/backups/{id}/restore-service``), which checks the archive against that sha256 again
before a byte reaches the database. Importing never changes the object nor the service.

An app's volume archive (``apps/<name>-<id>/<stamp>-<run>.tar.<codec>[.enc]``) is imported the same way into an
app (:func:`import_app_backup`): the row names the app's volumes the archive holds (all of its named volumes, or
those given; a project file re-creates them by name), and ``POST /api/backups/{id}/restore`` stages it into them.

A compose stack's volume archive (``stacks/<name>-<id>/<stamp>-<run>.tar.<codec>[.enc]``) likewise
(:func:`import_stack_backup`): the row names the stack's named volumes it holds (all those its compose file
declares, or those given), and ``POST /api/backups/{id}/restore-stack`` restores it into them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

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
    from .backup_service_runs import ServiceRunsMixin

    backups = ctx.services.backups
    if not isinstance(backups, ServiceRunsMixin):  # pragma: no cover - the service is always the full one
        raise TypeError("ctx.services.backups is not the backup service")
    target = await backups._service_target(service_id)
    dest = await backups.get_destination(destination_id, "destination_id")
    check_path(key)
    codec, encrypted = parse_key(key, target.method)
    row = Backup(
        what="service",
        service_id=target.row.id,
        service_name=target.row.name,
        codec=codec,
        encrypted=encrypted,
        volumes=backups._service_entries(target),
        consistency=target.method,
    )
    return await _record(ctx, row, dest, key, sha256, Backup.service_id == target.row.id, target.row.name)


def check_path(key: str) -> None:
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in key:
        raise ValidationFailed.on("key", "a relative path within the destination, without '..'")


async def import_app_backup(
    ctx: RivetrContext,
    app_id: str,
    destination_id: str,
    key: str,
    sha256: str | None = None,
    volumes: list[str] | None = None,
) -> Backup:
    """Record the destination's volume archive ``key`` as a succeeded backup of the app's ``volumes`` (default:
    all of its named volumes), restorable with ``POST /api/backups/{id}/restore``."""
    from .backup_base import volume_entry

    backups = ctx.services.backups
    app = await backups._get_app(app_id)
    dest = await backups.get_destination(destination_id, "destination_id")
    codec, encrypted = _volume_archive(
        key, "apps/", "not an app's volume archive: apps/<app>-<id>/<file>.tar.<zst|gz>[.enc]"
    )
    have = {v.name: v for v in await ctx.services.volumes.for_app(app.id) if v.kind == "volume"}
    names = _chosen_volumes(
        volumes,
        have,
        f"{app.name} has no volume named",
        f"{app.name} has no named volume to restore into (apply the project file first)",
    )
    row = Backup(
        what="volumes",
        app_id=app.id,
        app_name=app.name,
        codec=codec,
        encrypted=encrypted,
        volumes=[volume_entry(have[n]) for n in names],
        consistency=app.backup_consistency,
    )
    return await _record(ctx, row, dest, key, sha256, Backup.app_id == app.id, app.name)


def _volume_archive(key: str, prefix: str, shape: str) -> tuple[str, bool]:
    """``(codec, encrypted)`` of a volume archive's key under ``prefix`` (``apps/``, ``stacks/``);
    ``ValidationFailed`` on ``key`` naming ``shape`` otherwise."""
    check_path(key)
    name = key.rsplit("/", 1)[-1]
    encrypted = name.endswith(".enc")
    parts = (name[: -len(".enc")] if encrypted else name).split(".")
    if not key.startswith(prefix) or len(parts) < 3 or parts[-2] != "tar" or parts[-1] not in _CODECS:
        raise ValidationFailed.on("key", shape)
    return parts[-1], encrypted


def _chosen_volumes(volumes: list[str] | None, have: dict[str, Any], missing: str, none: str) -> list[str]:
    """The volumes an import names (default: every one ``have`` holds), each one of ``have``; ``ValidationFailed``
    on ``volumes`` with ``missing`` + the unknown names, or ``none`` when there is nothing to restore into."""
    names = list(dict.fromkeys(volumes)) if volumes is not None else sorted(have)
    unknown = [n for n in names if n not in have]
    if unknown or not names:
        message = f"{missing} {', '.join(map(repr, unknown))}" if unknown else none
        raise ValidationFailed.on("volumes", message, available=sorted(have))
    return names


async def import_stack_backup(
    ctx: RivetrContext,
    stack_id: str,
    destination_id: str,
    key: str,
    sha256: str | None = None,
    volumes: list[str] | None = None,
) -> Backup:
    """Record the destination's stack volume archive ``key`` as a succeeded backup of the stack's ``volumes``
    (default: every named volume its compose file declares), restorable with ``POST
    /api/backups/{id}/restore-stack``."""
    from .backup_stack_runs import StackRunsMixin

    backups = ctx.services.backups
    if not isinstance(backups, StackRunsMixin):  # pragma: no cover - the service is always the full one
        raise TypeError("ctx.services.backups is not the backup service")
    stack = await backups._stack(stack_id)
    dest = await backups.get_destination(destination_id, "destination_id")
    codec, encrypted = _volume_archive(
        key, "stacks/", "not a stack's volume archive: stacks/<stack>-<id>/<file>.tar.<zst|gz>[.enc]"
    )
    have = {v.name: v for v in await backups.stack_volumes(stack)}
    names = _chosen_volumes(
        volumes,
        have,
        f"stack {stack.name} declares no volume named",
        f"stack {stack.name} declares no named volume to restore into (give it its compose file first)",
    )
    row = Backup(
        what="stack",
        stack_id=stack.id,
        stack_name=stack.name,
        codec=codec,
        encrypted=encrypted,
        volumes=[have[n].entry() for n in names],
        consistency="pause",
    )
    return await _record(ctx, row, dest, key, sha256, Backup.stack_id == stack.id, f"stack {stack.name}")


async def _record(
    ctx: RivetrContext, row: Backup, dest: Any, key: str, sha256: str | None, owner: Any, owner_name: str
) -> Backup:
    """Check the archive (passphrase, not imported yet, its checksum) and store ``row`` for it."""
    from datetime import UTC, datetime

    from rivetr_core.db.engine import utcnow

    from .backup_destinations import unseal, worker_destination

    if row.encrypted and not unseal(ctx.secrets, dest).get("passphrase"):
        raise ValidationFailed.on(
            "key", "this archive is encrypted: the destination needs the passphrase it was made with"
        )
    async with ctx.db.session() as session:
        known = (
            await session.exec(
                select(Backup).where(Backup.destination_id == dest.id, Backup.key == key, owner)
            )
        ).first()
    if known is not None:
        raise Conflict.on("key", f"this archive is already backup {known.id} of {owner_name}")
    result = await ctx.services.backups._worker(
        {"op": "checksum", "destination": worker_destination(ctx.secrets, dest), "key": key}
    )
    if sha256 is not None and result["sha256"] != sha256:
        raise ValidationFailed.on(
            "sha256",
            f"the archive's sha256 is {result['sha256']}, not the one given: it changed or is another",
        )
    stamp = re.search(r"/(\d{8}T\d{6}Z)-", key)
    row.started_at = (
        datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if stamp else utcnow()
    )
    row.destination_id, row.key, row.trigger, row.status = dest.id, key, "import", "succeeded"
    row.size_bytes, row.sha256 = int(result["size"]), str(result["sha256"])
    row.duration_ms, row.finished_at = 0, utcnow()
    async with ctx.db.session() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    return row
