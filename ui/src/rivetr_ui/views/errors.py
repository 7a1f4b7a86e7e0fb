"""Error pages for the dashboard (the API keeps its JSON errors: these apply to ``ui`` routes only)."""

from __future__ import annotations

from typing import Any

from markupsafe import escape
from quart import has_websocket_context
from werkzeug.exceptions import HTTPException

from rivetr_core.errors import ApiError

from ..blueprint import bp, is_htmx, render


async def _show(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> Any:
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


for _code in (400, 403, 404, 405):
    bp.register_error_handler(_code, _http)
bp.register_error_handler(ApiError, _api)
