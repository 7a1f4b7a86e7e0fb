"""The webhook delivery log: every received webhook (rejected ones too) with its outcome.

Dedupe is a unique column: :meth:`DeliveryLog.claim` inserts the row with ``dedupe_key`` set and reports a
duplicate when the database refuses it, so two concurrent deliveries of one id cannot both deploy.
Unverified requests are logged without a ``dedupe_key`` (they must not be able to burn a real delivery id),
and the log is trimmed to :data:`KEEP` rows so unauthenticated noise cannot grow the database without bound.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.db import Database, isoformat
from rivetr_core.models.git import WebhookDelivery

KEEP = 5000
TRIM_EVERY = 100


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._inserts = 0

    async def add(self, row: WebhookDelivery) -> WebhookDelivery:
        async with self.db.session() as session:
            session.add(row)
            await session.commit()
        await self._maybe_trim()
        return row

    async def claim(self, row: WebhookDelivery) -> bool:
        """Insert ``row`` (its ``dedupe_key`` set); False when that key was already processed."""
        try:
            async with self.db.session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            return False
        await self._maybe_trim()
        return True

    async def finish(self, row: WebhookDelivery, **fields: Any) -> WebhookDelivery:
        async with self.db.session() as session:
            stored = await session.get(WebhookDelivery, row.id)
            target = stored or row
            for key, value in fields.items():
                setattr(target, key, value)
            session.add(target)
            await session.commit()
        return target

    async def list(
        self, *, provider: str | None = None, outcome: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[WebhookDelivery], int]:
        conditions: list[Any] = []
        if provider:
            conditions.append(WebhookDelivery.provider == provider)
        if outcome:
            conditions.append(WebhookDelivery.outcome == outcome)
        async with self.db.session() as session:
            total = (
                await session.exec(select(func.count()).select_from(WebhookDelivery).where(*conditions))
            ).one()
            rows = await session.exec(
                select(WebhookDelivery)
                .where(*conditions)
                .order_by(col(WebhookDelivery.received_at).desc(), col(WebhookDelivery.id))
                .offset(offset)
                .limit(limit)
            )
            return list(rows.all()), int(total)

    async def _maybe_trim(self) -> None:
        self._inserts += 1
        if self._inserts % TRIM_EVERY:
            return
        async with self.db.session() as session:
            cutoff = (
                await session.exec(
                    select(WebhookDelivery.received_at)
                    .order_by(col(WebhookDelivery.received_at).desc())
                    .offset(KEEP)
                    .limit(1)
                )
            ).first()
            if cutoff is not None:
                await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.received_at) <= cutoff))  # type: ignore[call-overload]
                await session.commit()


def delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "provider": row.provider,
        "event": row.event,
        "kind": row.kind,
        "delivery_id": row.delivery_id,
        "outcome": row.outcome,
        "reason": row.reason,
        "status_code": row.status_code,
        "repository": row.repository,
        "ref": row.ref,
        "commit_sha": row.commit_sha,
        "deployments": list(row.deployments or []),
        "app_ids": list(row.app_ids or []),
        "received_at": isoformat(row.received_at),
    }
