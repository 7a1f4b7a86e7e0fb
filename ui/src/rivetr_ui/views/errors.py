"""Error pages for the dashboard (the API keeps its JSON errors: these apply to ``ui`` routes only)."""

from __future__ import annotations

import logging
from typing import Any

from markupsafe import escape
from quart import has_websocket_context, request
from werkzeug.exceptions import HTTPException

from rivetr_core.contract.errors import sentence
from rivetr_core.errors import ApiError

from ..blueprint import bp, is_htmx, render

log = logging.getLogger(__name__)


async def _show(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Any:
    message = sentence(message)  # the API's one style (issue 21), for pages and htmx fragments alike
    if (
        has_websocket_context()
    ):  # refused at the handshake (a terminal for a role without one): no page to show
        return message, status, headers or {}
    if is_htmx():
        return f'<p class="alert error" role="alert">{escape(message)}</p>', status, headers or {}
    body, _ = await render("error.html", status=status, code=status, title=title, message=message)
    return body, status, headers or {}


async def _http(exc: HTTPException) -> Any:
    return await _show(exc.code or 500, exc.name, exc.description or exc.name)


async def _api(exc: ApiError) -> Any:
    # e.g. the login rate limit (429, with Retry-After) raised by core before our views run.
    return await _show(exc.status, exc.code.replace("_", " ").capitalize(), exc.message, exc.headers)


async def _unexpected(exc: Exception) -> Any:
    """A bug in a page: the styled page, never the exception's text, which may hold internals (the log has the
    traceback, under the request id the response's X-Request-Id header names)."""
    if isinstance(exc, HTTPException):  # e.g. a 401 or 409 without a handler of its own
        return await _http(exc)
    log.error("dashboard page %s failed", request.path, exc_info=exc)
    return await _show(
        500,
        "Something went wrong",
        "This page failed on the server; its log has the details. Try again, or go back to the dashboard.",
    )


for _code in (400, 403, 404, 405):
    bp.register_error_handler(_code, _http)
bp.register_error_handler(ApiError, _api)
bp.register_error_handler(Exception, _unexpected)
