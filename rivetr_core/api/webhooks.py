"""Git webhooks: ``POST /webhooks/<provider>`` (signed, no bearer token), the delivery log
``GET /api/webhook-events`` and per-app git settings ``GET/PUT /api/apps/{id}/git-settings``; the app's
auto-deploy face: ``GET /api/apps/{id}/webhook`` (public webhook URLs), ``GET`` (reveal) and ``POST`` (regenerate)
``/api/apps/{id}/git-settings/webhook-secret``.

Webhook answers: 202 ``{"status": "deployed", "deployments": [ids], "event_id"}``; 200 with ``status``
(``pong``, ``ignored``, ``skipped``, ``duplicate``, ``removed``) and a ``reason``; 401 when no secret is configured
or the signature does not verify (nothing is deployed); 400 for a verified body that cannot be parsed; 413 for
a body larger than ``[webhooks] max_body_bytes``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, current_app, request
from quart_schema import document_response, tag, validate_querystring, validate_request
from werkzeug.exceptions import RequestEntityTooLarge

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.enforce import reveal_allowed
from rivetr_core.context import rivetr
from rivetr_core.errors import ApiError
from rivetr_core.openapi import responds
from rivetr_core.pagination import envelope, page_model
from rivetr_core.ratelimit import current_client
from rivetr_core.webhooks.autodeploy import WebhookInfoOut, webhook_info
from rivetr_core.webhooks.deliveries import WebhookEventOut, delivery_json
from rivetr_core.webhooks.service import WebhookReceiptOut, WebhookService
from rivetr_core.webhooks.settings import GitSettingsOut, settings_json

bp = Blueprint("webhooks_api", __name__)

# The body limit of POST /webhooks/<provider> is rivetr_core.api.webhook_body (installed at start-up).


def webhooks() -> WebhookService:
    return rivetr().services.webhooks


@bp.post("/webhooks/<provider>")
@responds(400, 401, 413)
@tag(["webhooks"])
@document_response(WebhookReceiptOut, 200)
@document_response(WebhookReceiptOut, 202)
async def receive_webhook(provider: str) -> tuple[dict[str, Any], int]:
    """Receive a git host's webhook (GitHub, GitLab, Gitea, Bitbucket or any provider plugin).

    Authenticated by the provider's signature (``X-Hub-Signature-256``, ``X-Gitlab-Token``,
    ``X-Gitea-Signature``, ``X-Hub-Signature``) against ``[webhooks]`` or a per-app secret, never by a token.
    """
    limit = rivetr().config.webhooks.max_body_bytes
    try:
        body = await request.get_data(cache=False)
    except RequestEntityTooLarge:
        # HTTP/1.1: close the connection after the answer, or the server would go on reading (and
        # discarding) the rest of a body the sender may still be pushing. HTTP/2 ends just the stream.
        close = {"Connection": "close"} if request.http_version.startswith("1") else None
        raise ApiError(
            413,
            f"webhook body is larger than {limit} bytes ([webhooks] max_body_bytes)",
            details={"max_body_bytes": limit},
            headers=close,
        ) from None
    raw = body if isinstance(body, bytes) else body.encode()
    result = await webhooks().receive(provider, request.headers, raw, remote_addr=current_client(current_app))
    return result.body, result.status


class EventsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, description="Only this provider's deliveries.")
    outcome: str | None = Field(
        None, description="deployed, ignored, skipped, duplicate, rejected, error, pong, removed."
    )
    limit: int = Field(50, ge=1, le=500, description="Items per page (1-500).")
    cursor: str | None = Field(
        None, max_length=512, description="The `next` of the previous page (opaque); omit for the first page."
    )


@bp.get("/api/webhook-events")
@tag(["webhooks"])
@validate_querystring(EventsQuery)
@document_response(page_model(WebhookEventOut, "WebhookEventPage"))
async def list_webhook_events(query_args: EventsQuery) -> dict[str, Any]:
    """Received webhooks, newest first, with their outcome (rejected attempts included): ``{"items",
    "next"}``, a page at a time (pass ``next`` back as ``?cursor=``)."""
    rows, next_cursor = await webhooks().events(
        provider=query_args.provider,
        outcome=query_args.outcome,
        limit=query_args.limit,
        cursor=query_args.cursor,
    )
    return envelope([delivery_json(r) for r in rows], next_cursor)


def _flag(schema: dict[str, Any]) -> None:
    # Optional (absent: unchanged) but never null: the service refuses null, so the document says boolean only.
    schema.pop("anyOf", None)
    schema.pop("default", None)
    schema["type"] = "boolean"


class GitSettingsIn(ApiModel):
    webhook_secret: str | None = Field(
        None,
        description="Per-app webhook secret (HMAC key / GitLab token); empty string removes it; omit to keep.",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "maxLength": 0},
                {"type": "string", "minLength": 8, "maxLength": 500},
                {"type": "null"},
            ]
        },
    )
    follow_tags: bool | None = Field(None, description="Tag pushes deploy this app.", json_schema_extra=_flag)
    tag_pattern: str | None = Field(
        None,
        description="Glob of tags to follow (v*); empty = every tag.",
        json_schema_extra={"maxLength": 255},
    )
    auto_deploy: bool | None = Field(
        None, description="Branch (and followed tag) pushes deploy this app.", json_schema_extra=_flag
    )
    previews_enabled: bool | None = Field(
        None, description="Deploy PR/MR previews of this app.", json_schema_extra=_flag
    )
    preview_secrets: bool | None = Field(
        None,
        description="Previews of same-repository PRs get secret env vars (a fork's PR never does).",
        json_schema_extra=_flag,
    )
    account_id: str | None = Field(
        None, description="Connected account whose token clones this app and comments on PRs; empty unlinks."
    )
    repo_full_name: str | None = Field(None, description="owner/name (GitLab: project path) on the provider.")

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None and v != "" and (len(v) < 8 or len(v) > 500):
            raise ValueError("must be 8-500 characters (or empty to remove it)")
        return v

    @field_validator("tag_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None and len(v) > 255:
            raise ValueError("must be at most 255 characters")
        return v


@bp.get("/api/apps/<app_id>/git-settings")
@tag(["webhooks"])
@document_response(GitSettingsOut)
async def get_git_settings(app_id: str) -> dict[str, Any]:
    """The app's git settings (the webhook secret is never returned, only ``has_webhook_secret``)."""
    return settings_json(await webhooks().git_settings(app_id))


@bp.put("/api/apps/<app_id>/git-settings")
@tag(["webhooks"])
@validate_request(GitSettingsIn)
@document_response(GitSettingsOut)
async def put_git_settings(app_id: str, data: GitSettingsIn) -> dict[str, Any]:
    """Change some git settings; fields left out keep their value. 409 ``managed_by_file`` when one is set by
    the git_settings of the repository's rivetr.toml (nothing of the request is applied)."""
    fields = data.model_dump(exclude_unset=True)
    row = await webhooks().update_git_settings(app_id, fields)
    return settings_json(row)


# ------------------------------------------------------------------------------- an app's auto-deploy face
class WebhookSecretOut(ApiModel):
    value: str | None = Field(description="The app's own webhook secret; null: it has none.")


@bp.get("/api/apps/<app_id>/webhook")
@tag(["webhooks"])
@document_response(WebhookInfoOut)
async def get_app_webhook(app_id: str) -> dict[str, Any]:
    """Where the git host should send this app's webhooks: one URL per provider under ``[server] external_url``
    (never an internal address: null URLs and a ``hint`` when no public address is configured)."""
    return await webhook_info(rivetr(), app_id)


@bp.get("/api/apps/<app_id>/git-settings/webhook-secret")
@responds(403)
@tag(["webhooks"])
@document_response(WebhookSecretOut)
async def reveal_webhook_secret(app_id: str) -> dict[str, Any]:
    """The app's webhook secret in the clear, for the ``secrets.reveal`` permission (403 otherwise)."""
    reveal_allowed(True)
    return {"value": await webhooks().webhook_secret(app_id)}


@bp.post("/api/apps/<app_id>/git-settings/webhook-secret")
@tag(["webhooks"])
@document_response(WebhookSecretOut)
async def regenerate_webhook_secret(app_id: str) -> dict[str, Any]:
    """Replace the app's webhook secret with a new random one, returned in this answer only: the old secret
    stops verifying at once, so paste the new one into the git host's webhook."""
    return {"value": await webhooks().regenerate_webhook_secret(app_id)}
