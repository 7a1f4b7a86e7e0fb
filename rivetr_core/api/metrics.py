"""``GET /metrics``: Prometheus text exposition of the app's own registry.

Disabled by ``[metrics] enabled = false`` (404). Private by default, since request rates, paths and
deployment counts tell an outsider what runs here and when: ``Authorization: Bearer`` with the scrape token
(``[metrics] token``), the admin token or an API token; ``[metrics] public = true`` (and no scrape token)
serves it to anyone. Outside ``/api/`` on purpose: scrapers can get their own token. The request timer
is installed at start-up (:mod:`rivetr_core.api.app_hooks`), so it is live from the first request.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app
from quart_schema import tag

from rivetr_core.auth import bearer_token, resolve_principal, token_matches
from rivetr_core.context import rivetr
from rivetr_core.errors import ApiError
from rivetr_core.metrics.registry import RivetrMetrics
from rivetr_core.openapi import responds, security

bp = Blueprint("metrics_api", __name__)


@bp.get("/metrics")
@tag(["metrics"])
@security(lambda config: [] if config.metrics.public and config.metrics.token is None else [{"bearer": []}])
@responds(404)
async def metrics() -> Response:
    """Prometheus metrics (text format 0.0.4). Bearer scrape/admin/API token unless ``[metrics] public``."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    config = current_app.config["RIVETR"].metrics
    if not config.enabled:
        raise ApiError(404, "metrics are disabled ([metrics] enabled = false)")
    if not (config.public and config.token is None) and not await _authorised(config.token):
        raise ApiError(401, "missing or invalid metrics token", headers={"WWW-Authenticate": "Bearer"})
    registry: RivetrMetrics = current_app.extensions["rivetr_metrics"]
    return Response(generate_latest(registry.registry), content_type=CONTENT_TYPE_LATEST)


async def _authorised(scrape_token: Any) -> bool:
    given = bearer_token()
    if given is not None and scrape_token is not None:
        if token_matches(given, scrape_token.get_secret_value()):
            return True
    verifiers = current_app.extensions.get("rivetr_auth_verifiers", [])
    return await resolve_principal(given, rivetr().admin_token, verifiers) is not None
