"""The webhook delivery log: every received webhook (rejected ones too) with its outcome.

Dedupe is two unique columns: :meth:`DeliveryLog.claim` inserts the row with ``dedupe_key`` (provider +
delivery id) and ``digest_key`` (provider + SHA-256 of the body) set and reports a duplicate when the database
refuses it, so two concurrent deliveries of one id, or a captured body replayed under a new id, cannot both
deploy. Unverified requests are logged without either key (they must not be able to burn a real delivery).

The log is bounded in two separate budgets: deliveries keep the newest :data:`KEEP` (their keys are the
replay window), noise (:data:`NOISE`: rejected attempts and duplicates) the newest :data:`KEEP_REJECTED`.
Anyone on the internet can add rejected rows, and anyone who captured one signed body duplicates, so neither
may push the deliveries (and with them the dedupe keys) out; each row is small (the service clips every
stored field).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import and_, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import Database, isoformat
from rivetr_core.models.git import WebhookDelivery

#: Verified deliveries kept (newest first): a replayed body older than this window is no longer recognised.
KEEP = 5000
#: Rejected (unverified) attempts and duplicates kept; their own budget, so a flood of either cannot evict
#: the deliveries.
KEEP_REJECTED = 1000
#: Outcomes a sender can produce at will (no secret, or one captured body replayed).
NOISE = ("rejected", "duplicate")
#: Inserts (per budget) between trims: the table never holds more than KEEP + KEEP_REJECTED + 2 * TRIM_EVERY
#: rows (plus requests in flight).
TRIM_EVERY = 100


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._inserts = {True: 0, False: 0}  # noise?: inserts since start

    async def add(self, row: WebhookDelivery) -> WebhookDelivery:
        async with self.db.session() as session:
            session.add(row)
            await session.commit()
        await self._maybe_trim(row.outcome in NOISE)
        return row

    async def claim(self, row: WebhookDelivery) -> bool:
        """Insert ``row`` (its ``dedupe_key``/``digest_key`` set); False when either was already processed."""
        try:
            async with self.db.session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            return False
        await self._maybe_trim(False)
        return True

    async def holder(self, row: WebhookDelivery) -> WebhookDelivery | None:
        """The earlier delivery holding ``row``'s delivery id or body digest (what made it a duplicate)."""
        keys = [
            col(WebhookDelivery.dedupe_key) == row.dedupe_key if row.dedupe_key else None,
            col(WebhookDelivery.digest_key) == row.digest_key if row.digest_key else None,
        ]
        conditions = [k for k in keys if k is not None]
        if not conditions:
            return None
        async with self.db.session() as session:
            found = await session.exec(
                select(WebhookDelivery).where(or_(*conditions)).order_by(col(WebhookDelivery.received_at))
            )
            rows = list(found.all())
        # Prefer the row holding the delivery id: "already processed" then names the id the sender used.
        return next((r for r in rows if row.dedupe_key and r.dedupe_key == row.dedupe_key), None) or (
            rows[0] if rows else None
        )

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
        self,
        *,
        provider: str | None = None,
        outcome: str | None = None,
        limit: int = 50,
        after: tuple[datetime, str] | None = None,
    ) -> list[WebhookDelivery]:
        """Newest first (``received_at`` descending, then ``id``); ``after``: the key of the last row of the
        previous page (keyset pagination, see rivetr_core.pagination)."""
        conditions: list[Any] = []
        if provider:
            conditions.append(WebhookDelivery.provider == provider)
        if outcome:
            conditions.append(WebhookDelivery.outcome == outcome)
        if after is not None:
            received, ident = after
            at = col(WebhookDelivery.received_at)
            conditions.append(or_(at < received, and_(at == received, col(WebhookDelivery.id) > ident)))
        async with self.db.session() as session:
            rows = await session.exec(
                select(WebhookDelivery)
                .where(*conditions)
                .order_by(col(WebhookDelivery.received_at).desc(), col(WebhookDelivery.id))
                .limit(limit)
            )
            return list(rows.all())

    async def _maybe_trim(self, noise: bool) -> None:
        self._inserts[noise] += 1
        if self._inserts[noise] % TRIM_EVERY:
            return
        outcome = col(WebhookDelivery.outcome)
        budget = outcome.in_(NOISE) if noise else outcome.not_in(NOISE)
        keep = KEEP_REJECTED if noise else KEEP
        async with self.db.session() as session:
            cutoff = (
                await session.exec(
                    select(WebhookDelivery.received_at)
                    .where(budget)
                    .order_by(col(WebhookDelivery.received_at).desc())
                    .offset(keep)
                    .limit(1)
                )
            ).first()
            if cutoff is not None:
                stale = delete(WebhookDelivery).where(budget, col(WebhookDelivery.received_at) <= cutoff)
                await session.exec(stale)  # type: ignore[call-overload]
                await session.commit()


class WebhookEventOut(ApiModel):
    """One received webhook and what Rivetr did with it (a rejected one keeps only header fields)."""

    id: str
    provider: str
    event: str | None = Field(description="The provider's event name (push, pull_request, ...).")
    kind: str | None = Field(
        description="push, tag, pull_request or ping (null until the signature verified)."
    )
    delivery_id: str | None = Field(description="The provider's delivery id (dedupes redeliveries).")
    body_sha256: str | None
    remote_addr: str | None
    outcome: str = Field(
        description="deployed, ignored, skipped, duplicate, rejected, error, pong, removed (received: in "
        "progress)."
    )
    reason: str | None
    status_code: int = Field(description="The HTTP status the sender got.")
    repository: str | None
    ref: str | None
    commit_sha: str | None
    deployments: list[str] = Field(description="Deployments it queued.")
    app_ids: list[str] = Field(description="Apps it concerned.")
    received_at: str | None


def delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    return WebhookEventOut(
        id=row.id,
        provider=row.provider,
        event=row.event,
        kind=row.kind,
        delivery_id=row.delivery_id,
        body_sha256=row.body_sha256,
        remote_addr=row.remote_addr,
        outcome=row.outcome,
        reason=row.reason,
        status_code=row.status_code,
        repository=row.repository,
        ref=row.ref,
        commit_sha=row.commit_sha,
        deployments=list(row.deployments or []),
        app_ids=list(row.app_ids or []),
        received_at=isoformat(row.received_at),
    ).model_dump(mode="json")
