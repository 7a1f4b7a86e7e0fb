"""What the core API installs on the app at start-up, without loading the blueprints' modules (they load on
first use: :mod:`rivetr_core.api.lazy`): the URL converters its rules name, the webhook body limit (it acts
before routing), the request timer behind ``/metrics`` and the audit hook, which must see every request from
the first one. Each used to be a ``record_once`` of its blueprint; ``create_app`` calls this where the
blueprints are registered, so the hooks keep their place among the app's others."""

from __future__ import annotations

from typing import Any

from .converters import install_converters


def install_api_hooks(app: Any) -> None:
    from rivetr_core.audit.recorder import AuditLog, install_audit
    from rivetr_core.metrics.registry import RivetrMetrics, install_request_timer

    from .webhook_body import WebhookBodyLimit

    install_converters(app)  # before the rules that name them
    app.asgi_http_class = WebhookBodyLimit
    metrics = app.extensions["rivetr_metrics"] = RivetrMetrics()
    install_request_timer(app, metrics)
    audit = app.extensions["rivetr_audit"] = AuditLog(app.extensions["rivetr_ctx"].db)
    install_audit(app, audit)
