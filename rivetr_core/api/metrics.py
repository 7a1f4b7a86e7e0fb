"""``GET /metrics``: Prometheus text exposition of the app's own registry.

Disabled by ``[metrics] enabled = false`` (404); ``[metrics] token`` requires ``Authorization: Bearer``.
Outside ``/api/`` on purpose: scrapers get their own token, not the admin token. The blueprint also installs
the request timer (``record_once``), so it is live from the first request.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app
from quart_schema import tag

from rivetr_core.auth import bearer_token, token_matches
from rivetr_core.errors import ApiError
from rivetr_core.metrics.registry import RivetrMetrics, install_request_timer

bp = Blueprint("metrics_api", __name__)


@bp.record_once
def _install(state: Any) -> None:
    metrics = RivetrMetrics()
    state.app.extensions["rivetr_metrics"] = metrics
    install_request_timer(state.app, metrics)


@bp.get("/metrics")
@tag(["metrics"])
async def metrics() -> Response:
    """Prometheus metrics (text format 0.0.4). Bearer ``[metrics] token`` when configured."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    config = current_app.config["RIVETR"].metrics
    if not config.enabled:
        raise ApiError(404, "metrics are disabled ([metrics] enabled = false)")
    if config.token is not None:
        given = bearer_token()
        if given is None or not token_matches(given, config.token.get_secret_value()):
            raise ApiError(401, "missing or invalid metrics token", headers={"WWW-Authenticate": "Bearer"})
    registry: RivetrMetrics = current_app.extensions["rivetr_metrics"]
    return Response(generate_latest(registry.registry), content_type=CONTENT_TYPE_LATEST)
