"""An app's maintenance mode and its own error pages (issue 22): the rules, the default maintenance page and
what the proxy receives with each of the app's routes (``Route.maintenance``, ``Route.error_pages``).

Like Heroku's MAINTENANCE_PAGE_URL / ERROR_PAGE_URL and Dokku's maintenance plugin, but the pages are stored
HTML (no second site to host them): the proxy answers from memory while the app is down or switched off.
Turning maintenance on keeps the app running and deployable; the proxy stops forwarding at once.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .contract.errors import ValidationFailed

if TYPE_CHECKING:
    from .context import RivetrContext
    from .models.app_pages import AppPages

#: The page keys: the proxy's own answers an app may replace, and the maintenance page.
PAGE_KEYS = ("502", "503", "504", "maintenance")
MAX_PAGE_BYTES = 64 * 1024
MAX_MESSAGE = 500


def check_status(status: str) -> str:
    if status not in PAGE_KEYS:
        raise ValidationFailed.on("status", "one of 502, 503, 504 or maintenance")
    return status


def check_page(page: Any) -> str:
    if not isinstance(page, str) or not page:
        raise ValidationFailed.on("html", "must not be empty")
    if len(page.encode()) > MAX_PAGE_BYTES:
        raise ValidationFailed.on("html", f"at most {MAX_PAGE_BYTES // 1024} KiB")
    return page


def check_message(message: Any) -> str | None:
    if message is None:
        return None
    message = str(message).strip()
    if len(message) > MAX_MESSAGE:
        raise ValidationFailed.on("message", f"at most {MAX_MESSAGE} characters")
    return message or None


def default_maintenance_page(app_name: str, message: str | None) -> str:
    """A plain styled page; the message is the operator's text, escaped."""
    name = html.escape(app_name)
    text = html.escape(message or "We are doing some work on it and will be back shortly.")
    return (
        "<!doctype html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{name} is under maintenance</title><style>body{{font-family:system-ui,sans-serif;"
        "max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}h1{font-size:1.6rem}"
        "p{color:#555;line-height:1.5}</style></head><body>"
        f"<h1>{name} is under maintenance</h1><p>{text}</p></body></html>\n"
    )


def route_fields(row: AppPages | None, app_name: str) -> dict[str, Any]:
    """What the proxy gets with each route of the app: nothing when neither is set."""
    if row is None:
        return {}
    out: dict[str, Any] = {}
    pages = {k: v for k, v in (row.error_pages or {}).items() if k != "maintenance"}
    if pages:
        out["error_pages"] = pages
    if row.maintenance:
        out["maintenance"] = (row.error_pages or {}).get("maintenance") or default_maintenance_page(
            app_name, row.maintenance_message
        )
    return out


def pages_json(row: AppPages | None) -> dict[str, Any]:
    return {
        "maintenance": bool(row and row.maintenance),
        "message": row.maintenance_message if row is not None else None,
        "error_pages": dict(row.error_pages or {}) if row is not None else {},
    }


async def _change(ctx: RivetrContext, app_id: str, change: Any) -> dict[str, Any]:
    from .db.engine import utcnow
    from .models.app_pages import AppPages

    await ctx.services.apps.get(app_id)  # NotFound
    async with ctx.db.session() as session:
        row = await session.get(AppPages, app_id) or AppPages(app_id=app_id, error_pages={})
        change(row)
        row.updated_at = utcnow()
        session.add(row)
        await session.commit()
        await session.refresh(row)
    await ctx.services.routes.publish_app(app_id)
    return pages_json(row)


async def get(ctx: RivetrContext, app_id: str) -> dict[str, Any]:
    from .models.app_pages import AppPages

    await ctx.services.apps.get(app_id)  # NotFound
    async with ctx.db.session() as session:
        return pages_json(await session.get(AppPages, app_id))


async def set_maintenance(
    ctx: RivetrContext, app_id: str, enabled: bool, message: str | None = None, *, keep_message: bool = False
) -> dict[str, Any]:
    """Switch maintenance on or off; every route of the app is pushed again at once."""
    checked = check_message(message)

    def change(row: AppPages) -> None:
        row.maintenance = enabled
        if not keep_message:
            row.maintenance_message = checked

    return await _change(ctx, app_id, change)


async def set_page(ctx: RivetrContext, app_id: str, status: str, page: str | None) -> dict[str, Any]:
    """Set (``page``) or clear (None) the app's page for ``status`` (502/503/504/maintenance)."""
    check_status(status)
    checked = check_page(page) if page is not None else None

    def change(row: AppPages) -> None:
        pages = dict(row.error_pages or {})
        if checked is None:
            pages.pop(status, None)
        else:
            pages[status] = checked
        row.error_pages = pages

    return await _change(ctx, app_id, change)
