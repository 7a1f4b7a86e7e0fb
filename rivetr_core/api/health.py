"""``GET /health``: liveness and readiness of the database, the container runtime and the proxy.

Anyone may ask, so an anonymous caller gets only ``status`` and one word per component (``ok``,
``unavailable``, ``disabled``): versions, paths, pids, ports and error texts help an attacker map the server
and are kept for callers with a credential (admin token, API token, dashboard session), who also get
``version`` and ``details``. The check itself is :class:`~rivetr_core.services.health.HealthService`
(``ctx.services.health``), shared and cached so a flood of probes costs one check per window.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from quart import Blueprint, Response, current_app, jsonify
from quart_schema import document_response

from rivetr_core import __version__
from rivetr_core.apimodel import ApiModel
from rivetr_core.auth import bearer_token, resolve_principal
from rivetr_core.context import rivetr
from rivetr_core.openapi import security

bp = Blueprint("health", __name__)

ComponentState = Literal["ok", "unavailable", "disabled"]


class HealthOut(ApiModel):
    """Each component's state; with a credential also ``version`` and ``details``."""

    status: Literal["ok", "degraded"] = Field(description="degraded: a component is not usable (503).")
    version: str | None = Field(None, description="Rivetr's version (with a credential only).")
    database: ComponentState
    runtime: ComponentState = Field(description="The container engine.")
    proxy: ComponentState = Field(description="disabled: [proxy] enabled = false.")
    details: dict[str, Any] | None = Field(
        None,
        description="With a credential only: runtime and proxy details (versions, errors) and every "
        "plugin's state (a failed plugin leaves status ok and shows here).",
    )


@bp.get("/health")
@security([{}, {"bearer": []}])  # anyone; a credential adds the details
@document_response(HealthOut, 200)
@document_response(HealthOut, 503)
async def health() -> Response:
    """Readiness of every component (503 when any is not usable); details with a token."""
    ctx = rivetr()
    result = await ctx.services.health.check()
    shown = {key: value for key, value in result.items() if key != "details"}
    verifiers = current_app.extensions.get("rivetr_auth_verifiers", [])
    if await resolve_principal(bearer_token(), ctx.admin_token, verifiers) is not None:
        shown.update(version=__version__, details=result["details"])
    response = jsonify(HealthOut.model_validate(shown).model_dump(mode="json", exclude_unset=True))
    response.status_code = 200 if result["status"] == "ok" else 503
    return response
