"""``GET /api/proxy/access-log``: the proxy's recent requests from its access log, newest last.

The proxy backend reads its own files (a backend offering ``access_log(domain, tail, after)``; the built-in one
reads ``access-<worker>.log``): the core neither knows where they live nor imports the plugin. Server-wide
(``server`` permission): the lines of every app, client addresses included.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import Conflict
from rivetr_core.openapi import responds
from rivetr_core.validation import DOMAIN_SCHEMA, check_domain

bp = Blueprint("proxy_access_log_api", __name__, url_prefix="/api/proxy/access-log")


class AccessLogQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(
        None,
        description="Only requests whose Host belongs to this route domain (*.example.com matches its "
        "subdomains). Needs access_log_format = json.",
        json_schema_extra=DOMAIN_SCHEMA,
    )
    tail: int = Field(100, ge=0, le=1000, description="At most this many lines, the newest (0-1000).")
    after: str | None = Field(
        None,
        max_length=2000,
        description="The `next` of an earlier answer: only lines written since (how `rivetr proxy logs "
        "--follow` polls).",
        json_schema_extra={"pattern": r"^[0-9:,]*$"},
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        return check_domain(v) if v else None


class AccessLogEntry(ApiModel):
    """One request. JSON-format logs give the fields; common/combined logs give ``line`` only."""

    model_config = ConfigDict(extra="allow")

    time: str | None = Field(None, description="UTC, ISO 8601 with milliseconds.")
    client: str | None = Field(None, description="Client address (behind [proxy] trusted_proxies: theirs).")
    method: str | None = None
    host: str | None = None
    path: str | None = Field(None, description="Without the query string unless access_log_query is on.")
    status: int | None = None
    bytes: int | None = Field(None, description="Response bytes sent to the client, head included.")
    duration_ms: float | None = Field(None, description="From the request head to the end of the response.")
    upstream: str | None = Field(None, description="host:port that answered; null when the proxy did.")
    upstream_ms: float | None = Field(
        None, description="From the request sent upstream to its response's end."
    )
    request_id: str | None = Field(None, description="X-Request-Id, as the app received it.")
    user_agent: str | None = None
    referer: str | None = None
    line: str | None = Field(None, description="The raw line (common/combined formats).")


class AccessLogPage(ApiModel):
    items: list[AccessLogEntry]
    next: str | None = Field(description="Pass as ?after= to get the lines written since.")
    enabled: bool = Field(description="[proxy] access_log: off, nothing new is written.")
    format: str = Field(description="[proxy] access_log_format: json, common or combined.")


@bp.get("")
@responds(409)  # the proxy backend keeps no access log
@tag(["proxy"])
@validate_querystring(AccessLogQuery)
@document_response(AccessLogPage)
async def get_access_log(query_args: AccessLogQuery) -> dict[str, Any]:
    """The last ``tail`` requests (oldest first), of one route domain with ``?domain=``; ``?after=`` the
    ``next`` of an earlier answer for the lines written since. 409 ``access_log_unavailable`` when the proxy
    backend keeps no access log; 422 for ``domain`` with a non-JSON log format, or a malformed ``after``."""
    proxy = rivetr().proxy
    read = getattr(proxy, "access_log", None)
    if read is None:
        raise Conflict("the proxy backend keeps no access log", code="access_log_unavailable")
    # A request it can't answer is the backend's ValidationFailed naming ``domain`` or ``after``.
    answer: dict[str, Any] = await read(
        domain=query_args.domain, tail=query_args.tail, after=query_args.after
    )
    return answer
