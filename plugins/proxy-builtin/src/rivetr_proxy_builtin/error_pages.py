"""An app's own error pages (502/503/504) and its maintenance page (issue 22).

A route dict carries them only when set: ``"error_pages": {"502": "<html>", ...}`` and ``"maintenance":
"<html>"`` (maintenance on; the page is the app's, or the default one the control plane renders). Maintenance
makes the route "special" (``route_rules.Rules.maintenance``), so it costs a plain route nothing; an error page
is looked up only on the error path (the proxy answering 502/503/504 itself), never on a forwarded request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .http11 import REASONS, error_response

if TYPE_CHECKING:
    from .exchange import Exchange
    from .routing import RouteEntry
    from .worker import Worker

#: The statuses an app may replace the proxy's page of.
STATUSES = (502, 503, 504)
MAX_PAGE_BYTES = 64 * 1024
#: Seconds a client is told to wait before trying again while an app is under maintenance.
RETRY_AFTER = 120


def _page(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"{name} must be a non-empty HTML string")
    if len(raw.encode()) > MAX_PAGE_BYTES:
        raise ValueError(f"{name} is larger than {MAX_PAGE_BYTES} bytes")
    return raw


def clean_pages(r: dict[str, Any]) -> dict[str, Any]:
    """The page keys of a route dict, checked (``ValueError`` names the bad one); absent when unset, so a
    route without pages keeps its dict as before."""
    out: dict[str, Any] = {}
    pages = r.get("error_pages")
    if pages:
        if not isinstance(pages, dict):
            raise ValueError("error_pages must be a map of status to HTML")
        for key, html in pages.items():
            if str(key) not in {str(s) for s in STATUSES}:
                raise ValueError(f"error_pages keys are 502, 503 or 504, got {key!r}")
            out.setdefault("error_pages", {})[str(key)] = _page(html, f"error_pages[{key}]")
    if r.get("maintenance"):
        out["maintenance"] = _page(r["maintenance"], "maintenance")
    return out


def route_pages(r: dict[str, Any]) -> dict[int, bytes] | None:
    """``{status: body}`` of a (clean) route dict, or None (the common case)."""
    pages = r.get("error_pages")
    return {int(k): v.encode() for k, v in pages.items()} if pages else None


def page_response(status: int, body: bytes, close: bool, retry_after: int = 0) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
        b"Cache-Control: no-store\r\n%s%s\r\n"
        % (
            status,
            REASONS[status],
            len(body),
            b"Retry-After: %d\r\n" % retry_after if retry_after else b"",
            b"Connection: close\r\n" if close else b"",
        )
    ) + body


def maintenance_response(body: bytes, close: bool) -> bytes:
    return page_response(503, body, close, RETRY_AFTER)


def entry_error(entry: RouteEntry, status: int, close: bool) -> bytes:
    """The proxy's ``status`` answer for a request routed to ``entry``: the app's page if it set one."""
    pages = entry.pages
    body = pages.get(status) if pages is not None else None
    return error_response(status, close) if body is None else page_response(status, body, close)


def exchange_error(w: Worker, ex: Exchange, status: int, close: bool) -> bytes:
    """As :func:`entry_error` for an exchange whose upstream failed. The exchange keeps only its route's
    counters (``ex.rstats``), so the route is found by them among the few routes that have pages: a
    forwarded request stores nothing more than before."""
    with_pages = w.routes.with_pages
    if with_pages and ex.rstats is not None:
        stats = w.route_stats
        for entry in with_pages:
            if stats.get(entry.domain) is ex.rstats:
                return entry_error(entry, status, close)
    return error_response(status, close)
