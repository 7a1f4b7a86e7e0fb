"""The body limit of ``POST /webhooks/<provider>``: installed on the app at start-up (it acts before routing, so
it cannot wait for :mod:`rivetr_core.api.webhooks`, which loads with the first webhook request)."""

from __future__ import annotations

from typing import Any

from quart.asgi import ASGIHTTPConnection
from quart.wrappers import Request

WEBHOOK_PREFIX = "/webhooks/"


class WebhookBodyLimit(ASGIHTTPConnection):
    """Gives webhook requests their own body limit, ``[webhooks] max_body_bytes``, from the first byte.

    Quart starts buffering a request body as soon as the request arrives, before routing, with the app-wide
    ``MAX_CONTENT_LENGTH`` as its only limit; setting ``request.max_content_length`` in the view comes too late
    and only governs form parsing. Webhooks are unauthenticated, so their limit must hold while the body is
    read: a ``Content-Length`` above it fails at once (nothing is read), and a chunked body (or one without a
    length) fails as soon as the bytes received pass it. Quart's ``Body`` then stops buffering and drops the
    rest, and the view answers 413.
    """

    def _create_request_from_scope(self, send: Any) -> Request:
        req = super()._create_request_from_scope(send)
        if req.path.startswith(WEBHOOK_PREFIX):
            limit = self.app.config["RIVETR"].webhooks.max_body_bytes
            req.body = req.body_class(req.content_length, limit)
        return req
