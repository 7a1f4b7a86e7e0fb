"""``GET /api/audit``: the audit log, newest first, with filters, a page at a time (the list envelope).

The audit hook that sees every request of the app is installed at start-up (:mod:`rivetr_core.api.app_hooks`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, current_app
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.audit.recorder import AuditEntryOut, AuditLog, entry_json
from rivetr_core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageQuery, envelope, page_model

bp = Blueprint("audit_api", __name__, url_prefix="/api/audit")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


class AuditQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(None, description="Exact principal: admin, user:<name>, token:<owner>/<name>…")
    action: str | None = Field(
        None, description="Action name or prefix (e.g. auth.login, notifications_api)."
    )
    target: str | None = Field(None, description="An id that appears in the URL (app, deployment, channel…).")
    status: int | None = Field(None, ge=100, le=599, description="Exact response status.")
    outcome: Literal["success", "failure"] | None = Field(
        None, description="success: a status below 400; failure: 400 or more (the entries' `outcome`)."
    )
    team_id: str | None = Field(
        None,
        max_length=32,
        description="Only this team's entries. A team's owners and admins see their team's entries only, "
        "with or without it; the server's owners and admins see every entry.",
    )
    since: datetime | None = Field(None, description="ISO 8601; entries at or after this time.")
    until: datetime | None = Field(None, description="ISO 8601; entries before this time.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")
    cursor: str | None = Field(
        None, max_length=512, description="The `next` of the previous page (opaque); omit for the first page."
    )

    @field_validator("since", "until", mode="before")
    @classmethod
    def _iso(cls, v: object) -> object:
        # pydantic also reads a bare number as a Unix time; the documented format is an ISO 8601 date-time.
        if isinstance(v, str) and _NUMBER.match(v.strip()):
            raise ValueError("must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z")
        return v


@bp.get("")
@tag(["audit"])
@validate_querystring(AuditQuery)
@document_response(page_model(AuditEntryOut, "AuditPage"))
async def list_audit(query_args: AuditQuery) -> dict[str, Any]:
    """Entries matching the filters, newest first, a page at a time (``{"items", "next"}``; pass ``next``
    back as ``?cursor=`` with the same filters). Bad filters → 422 naming the parameter. Acting in a team, only
    that team's entries (each names the team its request acted in, ``team_id``)."""
    audit: AuditLog = current_app.extensions["rivetr_audit"]
    rows, next_cursor = await audit.query(
        actor=query_args.actor,
        action=query_args.action,
        target=query_args.target,
        status=query_args.status,
        outcome=query_args.outcome,
        team_id=query_args.team_id,
        since=query_args.since,
        until=query_args.until,
        page=PageQuery(limit=query_args.limit, cursor=query_args.cursor),
    )
    return envelope([entry_json(r) for r in rows], next_cursor)
