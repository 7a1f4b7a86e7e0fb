"""``/api/notification-channels``: where lifecycle events are delivered (apprise URLs, encrypted at rest).

A channel subscribes to event types (``events``; empty = all). URLs usually embed credentials: they are
stored encrypted and every response shows only their scheme (``slack://***``). Thin handlers over
:class:`~rivetr_core.notify.service.NotificationService` (``ctx.services.notifications``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.errors import ApiError
from rivetr_core.notify.events import EVENT_TYPES, check_events
from rivetr_core.notify.responses import ChannelOut, DeliveryOut, TestSentOut, channel_json, delivery_json
from rivetr_core.notify.service import NotificationService
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model

bp = Blueprint("notifications_api", __name__, url_prefix="/api/notification-channels")
ChannelPage = page_model(ChannelOut, "ChannelPage")
DeliveryPage = page_model(DeliveryOut, "NotificationDeliveryPage")


def _check_name(v: str) -> str:
    v = v.strip()
    if not v or len(v) > 100:
        raise ValueError("must be 1-100 characters")
    return v


def _check_url(v: str) -> str:
    v = v.strip()
    if "://" not in v or len(v) > 4000:
        raise ValueError("must be a notifier URL such as slack://… or json://host/path")
    return v


# What the checks above accept, for the API document (printable ASCII: a subset of what they take).
_NAME_SCHEMA: dict[str, Any] = {"pattern": r"^[!-~](?:[ -~]{0,98}[!-~])?$"}
_URL_SCHEMA: dict[str, Any] = {"pattern": r"^[A-Za-z][A-Za-z0-9+.-]*://[!-~]+$", "maxLength": 4000}
_EVENTS_SCHEMA: dict[str, Any] = {"items": {"type": "string", "enum": list(EVENT_TYPES)}}


class ChannelIn(ApiModel):
    name: str = Field(description="Unique display name.", json_schema_extra=_NAME_SCHEMA)
    url: str = Field(
        description="apprise URL (slack://, discord://, mailto://, tgram://, ntfy://, json://…).",
        json_schema_extra=_URL_SCHEMA,
    )
    events: list[str] = Field(
        default_factory=list,
        description=f"Event types to deliver; empty = all. Known: {', '.join(EVENT_TYPES)}.",
        json_schema_extra=_EVENTS_SCHEMA,
    )
    notifier: str = Field("apprise", description="Notifier plugin that delivers to this URL.")
    enabled: bool = True
    routed_only: bool = Field(
        False, description="Deliver only what projects route here (a project's channel), not every event."
    )

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))
    _url = field_validator("url")(classmethod(lambda cls, v: _check_url(v)))
    _events = field_validator("events")(classmethod(lambda cls, v: check_events(v)))


class ChannelUpdate(ApiModel):
    name: str | None = Field(None, json_schema_extra=_NAME_SCHEMA)
    url: str | None = Field(
        None, description="New URL; omit to keep the stored one.", json_schema_extra=_URL_SCHEMA
    )
    events: list[str] | None = Field(None, json_schema_extra=_EVENTS_SCHEMA)
    notifier: str | None = None
    enabled: bool | None = None
    routed_only: bool | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: v if v is None else _check_name(v)))
    _url = field_validator("url")(classmethod(lambda cls, v: v if v is None else _check_url(v)))
    _events = field_validator("events")(classmethod(lambda cls, v: v if v is None else check_events(v)))


def service() -> NotificationService:
    return rivetr().services.notifications


@bp.get("")
@tag(["notifications"])
@validate_querystring(PageQuery)
@document_response(ChannelPage)
async def list_channels(query_args: PageQuery) -> dict[str, Any]:
    """Channels in creation order with their delivery health (``failures`` in a row, ``last_error``), a page
    at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    rows, next_cursor = await service().page(query_args)
    return envelope([channel_json(row, rivetr().secrets) for row in rows], next_cursor)


@bp.post("")
@tag(["notifications"])
@validate_request(ChannelIn)
@document_response(ChannelOut, 201)
async def create_channel(data: ChannelIn) -> tuple[dict[str, Any], int]:
    """Create a channel. 422 names the field (an unknown event type, a URL apprise does not understand)."""
    row = await service().create(
        name=data.name,
        url=data.url,
        events=data.events,
        notifier=data.notifier,
        enabled=data.enabled,
        routed_only=data.routed_only,
    )
    return channel_json(row, rivetr().secrets), 201


@bp.get("/<channel_id>")
@tag(["notifications"])
@document_response(ChannelOut)
async def get_channel(channel_id: str) -> dict[str, Any]:
    return channel_json(await service().get(channel_id), rivetr().secrets)


@bp.put("/<channel_id>")
@tag(["notifications"])
@validate_request(ChannelUpdate)
@document_response(ChannelOut)
async def update_channel(channel_id: str, data: ChannelUpdate) -> dict[str, Any]:
    """Change any of the fields; omitted fields keep their value."""
    row = await service().update(channel_id, data.model_dump(exclude_unset=True, exclude_none=True))
    return channel_json(row, rivetr().secrets)


@bp.delete("/<channel_id>")
@tag(["notifications"])
async def delete_channel(channel_id: str) -> Response:
    await service().delete(channel_id)
    return Response(status=204)


@bp.post("/<channel_id>/test")
@responds(502)
@tag(["notifications"])
@document_response(TestSentOut)
async def test_channel(channel_id: str) -> dict[str, Any]:
    """Send a test event now (one attempt). 200 ``{"ok": true}``, or 502 with the notifier's reason."""
    error = await service().test(channel_id)
    if error is not None:
        raise ApiError(502, f"test notification failed: {error}", code="notification_failed")
    return TestSentOut(ok=True).model_dump()


@bp.get("/<channel_id>/deliveries")
@tag(["notifications"])
@validate_querystring(PageQuery)
@document_response(DeliveryPage)
async def list_deliveries(channel_id: str, query_args: PageQuery) -> dict[str, Any]:
    """The channel's deliveries, newest first, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``). 404 for an unknown channel."""
    rows, next_cursor = await service().deliveries(channel_id, query_args)
    return envelope([delivery_json(row) for row in rows], next_cursor)
