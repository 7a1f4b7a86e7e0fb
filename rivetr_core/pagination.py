"""One list envelope and one pagination scheme for every list endpoint.

Every list answers ``{"items": [...], "next": <cursor or null>}``. ``?limit=`` (default 50, at most 200) bounds a
page; ``?cursor=`` is the ``next`` of the previous page, passed back untouched. A cursor is opaque to clients:
inside it is the sort key of the last item served (keyset pagination), so the next page starts right after that
item whatever was inserted or deleted meanwhile: no item is served twice and none that existed is skipped. A
cursor that does not decode, or holds the key of another list, is a 422 naming ``cursor``.

Tables page in SQL (:func:`keyset_page`: creation order, or newest first); small lists already in memory (routes,
certificates, plugins, an app's env vars) page with :func:`list_page` under the same rules.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, or_

from rivetr_core.apimodel import ApiModel
from rivetr_core.errors import validation_error

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(ApiModel):
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

    # ApiModel's defer_build: an envelope embeds its item's whole schema, so building ~30 of them at import would
    # keep their validators in the idle server although only a list request or /openapi.json needs one.
    return create_model(name, __base__=ApiModel, **fields)  # type: ignore[no-any-return, call-overload]


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor holding a sort key (datetimes kept exact: microseconds, as stored)."""
    raw = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, shape: Sequence[type]) -> tuple[Any, ...]:
    """The sort key inside a cursor from :func:`encode_cursor`, each part checked against ``shape`` (``datetime``,
    ``str`` or ``int``); 422 naming ``cursor`` for anything else (a cursor of another list included)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(shape):
            raise ValueError
        key: list[Any] = []
        for value, kind in zip(raw, shape, strict=True):
            if kind is datetime:
                if not isinstance(value, str):
                    raise ValueError
                key.append(datetime.fromisoformat(value))
            elif not isinstance(value, kind) or isinstance(value, bool):  # JSON true is no int here
                raise ValueError
            elif isinstance(value, int) and not -(2**63) <= value < 2**63:  # beyond SQL integers: a 500
                raise ValueError
            else:
                key.append(value)
        return tuple(key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise validation_error(
            "cursor", "not a cursor this list returned (pass `next` back unchanged)"
        ) from None


def decode_time_id_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(created_at, id)`` key of a cursor from :func:`encode_cursor`; 422 for anything else."""
    created, ident = decode_cursor(cursor, (datetime, str))
    return created, ident


def after(
    created_col: Any, id_col: Any, cursor: str, *, descending: bool = False, id_type: type = str
) -> ColumnElement[bool]:
    """WHERE clause: rows sorting after the cursor's ``(created_at, id)`` in the page order (both columns
    ascending, or both descending: newest first)."""
    created, ident = decode_cursor(cursor, (datetime, id_type))
    if descending:
        return or_(created_col < created, and_(created_col == created, id_col < ident))
    return or_(created_col > created, and_(created_col == created, id_col > ident))


async def keyset_page(
    session: Any,
    stmt: Any,
    model: Any,
    page: PageQuery,
    *,
    newest_first: bool = False,
    time_attr: str = "created_at",
    id_type: type = str,
) -> tuple[list[Any], str | None]:
    """One page of ``stmt`` (a select of ``model`` rows, filters applied) keyed on the model's
    ``(<time_attr>, id)``: creation order, or ``newest_first`` (both descending, so rows created in the same
    microsecond still have one order), and the cursor of the next page (None on the last)."""
    time_col, id_col = getattr(model, time_attr), model.id
    if page.cursor:
        stmt = stmt.where(after(time_col, id_col, page.cursor, descending=newest_first, id_type=id_type))
    order = (time_col.desc(), id_col.desc()) if newest_first else (time_col, id_col)
    stmt = stmt.order_by(*order).limit(page.limit + 1)  # one more: is there a next page?
    rows = list((await session.exec(stmt)).all())
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor((getattr(rows[-1], time_attr), rows[-1].id))


def list_page(
    items: Iterable[T],
    key: Callable[[T], tuple[Any, ...]],
    shape: Sequence[type],
    page: PageQuery,
    *,
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """A page of a list held in memory (routes, certificates, plugins, an app's env vars: small, already
    loaded) under the same keyset rules: sorted by ``key`` (unique per item; parts typed as ``shape``), the page
    starts right after the cursor's key whatever was added or removed meanwhile."""
    ordered = sorted(items, key=key, reverse=descending)
    if page.cursor:
        mark = decode_cursor(page.cursor, shape)
        ordered = [i for i in ordered if (key(i) < mark if descending else key(i) > mark)]
    if len(ordered) <= page.limit:
        return ordered, None
    served = ordered[: page.limit]
    return served, encode_cursor(key(served[-1]))


def envelope(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next": next_cursor}
