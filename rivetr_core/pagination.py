"""One list envelope and one pagination scheme for every list endpoint.

Every list answers ``{"items": [...], "next": <cursor or null>}``. ``?limit=`` (default 50, at most 200) bounds a
page; ``?cursor=`` is the ``next`` of the previous page, passed back untouched. A cursor is opaque to clients:
inside it is the sort key of the last item served (keyset pagination), so the next page starts right after that
item whatever was inserted or deleted meanwhile: no item is served twice and none that existed is skipped. A
cursor that does not decode is a 422 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, or_

from rivetr_core.errors import validation_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(BaseModel):
    """``?limit=&cursor=``; list endpoints combine it with their own filters."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")
    cursor: str | None = Field(
        None, max_length=512, description="The `next` of the previous page (opaque); omit for the first page."
    )


def page_model(item: Any, name: str) -> type[BaseModel]:
    """The envelope's schema for OpenAPI: ``{"items": [item], "next": str | null}`` (``item``: a model, or
    ``dict[str, Any]`` where the item has no model yet)."""
    fields: dict[str, Any] = {
        "items": (list[item], ...),  # type: ignore[valid-type]
        "next": (
            str | None,
            Field(description="Cursor of the next page (pass as ?cursor=); null on the last page."),
        ),
    }
    from pydantic import create_model

    return create_model(name, **fields)  # type: ignore[no-any-return, call-overload]


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor holding a sort key (datetimes kept exact: microseconds, as stored)."""
    raw = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_time_id_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` key of a cursor from :func:`encode_cursor`; 422 for anything else."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created, ident = raw
        if not isinstance(created, str) or not isinstance(ident, str):
            raise ValueError
        return datetime.fromisoformat(created), ident
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise validation_error(
            "cursor", "not a cursor this list returned (pass `next` back unchanged)"
        ) from None


def after(created_col: Any, id_col: Any, cursor: str) -> ColumnElement[bool]:
    """WHERE clause: rows sorting after the cursor's ``(created_at, id)`` (order by both, ascending)."""
    created, ident = decode_time_id_cursor(cursor)
    return or_(created_col > created, and_(created_col == created, id_col > ident))


async def keyset_page(session: Any, stmt: Any, model: Any, page: PageQuery) -> tuple[list[Any], str | None]:
    """One page of ``stmt`` (a select of ``model`` rows, filters applied) in creation order, keyed on the
    model's ``(created_at, id)``, and the cursor of the next page (None on the last)."""
    if page.cursor:
        stmt = stmt.where(after(model.created_at, model.id, page.cursor))
    stmt = stmt.order_by(model.created_at, model.id).limit(page.limit + 1)  # one more: is there a next page?
    rows = list((await session.exec(stmt)).all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor((rows[-1].created_at, rows[-1].id))


def envelope(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next": next_cursor}
