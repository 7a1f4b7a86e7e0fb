"""Cleanup settings changed from the dashboard, the API or the CLI, over the config file's ``[cleanup]``.

Stored in the ``meta`` key/value table (the pattern of the git providers' OAuth settings), one row
``cleanup_settings`` holding a JSON object of the overridden fields and ``updated_at``. Each stored field
overrides the same field of ``[cleanup]``; a field not stored falls back to the file, so dropping an override
(or all of them) returns to the file. Nothing here is secret, so nothing is encrypted.

:class:`CleanupSettingsStore` keeps the row in memory (loaded at start, replaced on every write through it): the
disk monitor reads the thresholds every minute. The control plane is one process and nothing else writes this
row while it runs (a state restore needs a stopped server), so the copy cannot go stale.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Literal

from rivetr_core.config import CleanupConfig
from rivetr_core.contract.errors import NotFound, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.core import Meta

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

log = logging.getLogger("rivetr.cleanup")

META_KEY = "cleanup_settings"
#: The settings a user may change, in the order forms and the CLI show them.
FIELDS = tuple(CleanupConfig.model_fields)
Source = Literal["config", "dashboard"]


def _field_error(field: str, exc: Exception) -> ValidationFailed:
    """pydantic's first message for ``field`` (``Input should be greater than or equal to 1``)."""
    errors = getattr(exc, "errors", None)
    message = errors()[0]["msg"] if callable(errors) else str(exc)
    return ValidationFailed.on(field, message)


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Each given value checked against ``CleanupConfig``'s own field (type and range), so a value the config file
    would refuse is refused here too; ``None`` passes (it drops the override). Unknown names: 422 naming them."""
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in CleanupConfig.model_fields:
            raise ValidationFailed.on(name, "unknown cleanup setting", available=list(FIELDS))
        if value is None:
            checked[name] = None
            continue
        if isinstance(value, bool) != (name == "prune_build_cache"):
            # pydantic would take True as 1 and 1 as True: a client mixing them up is told instead.
            kind = "true or false" if name == "prune_build_cache" else "a whole number"
            raise ValidationFailed.on(name, f"must be {kind}")
        try:
            # The whole section validated with this one value changed: the file's rules, exactly.
            checked[name] = getattr(CleanupConfig.model_validate({name: value}), name)
        except ValueError as exc:
            raise _field_error(name, exc) from None
    return checked


class CleanupSettingsStore:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self._row: dict[str, Any] = {}
        # Read-modify-write of the one row: two changes at once must not lose one of them.
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self.ctx.db.session() as session:
            meta = await session.get(Meta, META_KEY)
        row = json.loads(meta.value) if meta is not None else {}
        self._row = {"updated_at": row.get("updated_at")} if row else {}
        for name, value in row.items():
            if name in CleanupConfig.model_fields and value is not None:
                try:
                    self._row.update(check_fields({name: value}))
                except ValidationFailed as exc:  # a row edited by hand: the file's value applies instead
                    log.warning("ignoring the stored cleanup setting %s: %s", name, exc)

    # ------------------------------------------------------------------------------------------ reading
    def overrides(self) -> dict[str, Any]:
        """The stored fields (only known ones: a field a later version dropped is ignored)."""
        return {k: v for k, v in self._row.items() if k in CleanupConfig.model_fields}

    def effective(self) -> CleanupConfig:
        """What the cleanup and the disk monitor run with: the stored fields over the file's ``[cleanup]``."""
        return self.ctx.config.cleanup.model_copy(update=self.overrides())

    def sources(self) -> dict[str, Source]:
        stored = self.overrides()
        return {name: ("dashboard" if name in stored else "config") for name in FIELDS}

    def view(self) -> dict[str, Any]:
        return {
            "settings": self.effective().model_dump(),
            "sources": self.sources(),
            "config": self.ctx.config.cleanup.model_dump(),
            "updated_at": self._row.get("updated_at"),
        }

    # ------------------------------------------------------------------------------------------ writing
    async def update(self, fields: dict[str, Any]) -> None:
        """Store the fields given (``None``: drop that override, the file's value applies again). Nothing is
        stored unless every field is acceptable, and the warning threshold stays at or below the critical one."""
        checked = check_fields(fields)
        if not checked:
            return
        async with self._lock:
            await self._update(checked)

    async def _update(self, checked: dict[str, Any]) -> None:
        row = dict(self.overrides())
        for name, value in checked.items():
            if value is None:
                row.pop(name, None)
            else:
                row[name] = value
        merged = self.ctx.config.cleanup.model_copy(update=row)
        if merged.disk_warning_percent > merged.disk_critical_percent:
            # Name the field the caller changed (warning when both were sent: the one the form shows first).
            field = "disk_warning_percent" if "disk_warning_percent" in checked else "disk_critical_percent"
            raise ValidationFailed.on(
                field,
                f"the warning threshold ({merged.disk_warning_percent}%) must not be above the critical one "
                f"({merged.disk_critical_percent}%)",
            )
        await self._write(row)

    async def reset(self, field: str | None = None) -> bool:
        """Drop one override (``field``) or all (None): the file's values apply again. False when none was
        stored; 404 for a name that is no cleanup setting."""
        if field is not None and field not in CleanupConfig.model_fields:
            raise NotFound(
                f"cleanup setting {field!r} not found", details={"id": field, "available": list(FIELDS)}
            )
        async with self._lock:
            row = self.overrides()
            dropped = list(row) if field is None else [field] if field in row else []
            for name in dropped:
                row.pop(name)
            if dropped:
                await self._write(row)
        return bool(dropped)

    async def _write(self, row: dict[str, Any]) -> None:
        stored = {**row, "updated_at": isoformat(utcnow())} if row else {}
        async with self.ctx.db.session() as session:
            meta = await session.get(Meta, META_KEY)
            if not stored:
                if meta is not None:
                    await session.delete(meta)
            else:
                if meta is None:
                    meta = Meta(key=META_KEY, value="")
                meta.value = json.dumps(stored)
                session.add(meta)
            await session.commit()
        self._row = stored


__all__ = ["FIELDS", "META_KEY", "CleanupSettingsStore", "check_fields"]
