"""``/api/apps/{id}/maintenance`` and ``/api/apps/{id}/error-pages/{status}``: an app's maintenance mode and its
own pages for the proxy's 502/503/504 answers (:mod:`rivetr_core.apppages`, docs/proxy-error-pages.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool
from quart import Blueprint
from quart_schema import tag, validate_request, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr

bp = Blueprint("app_pages_api", __name__, url_prefix="/api/apps")


# <pagekey:...> is rivetr_core.api.converters.PageKeyConverter (installed by create_app).


class MaintenanceIn(ApiModel):
    enabled: StrictBool = Field(description="true: the proxy answers 503 with the maintenance page.")
    message: str | None = Field(
        default=None,
        max_length=500,
        description="Shown on the default maintenance page (at most 500 characters).",
    )


class ErrorPageIn(ApiModel):
    html: str = Field(
        min_length=1, description="The page (HTML, at most 64 KiB as UTF-8), served as text/html."
    )


class AppPagesOut(ApiModel):
    maintenance: bool = Field(description="Maintenance mode is on.")
    message: str | None = Field(default=None, description="The default maintenance page's message.")
    error_pages: dict[str, str] = Field(
        description='The pages set, by key: "502", "503", "504" (the proxy\'s own answers) or "maintenance".'
    )


@bp.get("/<app_id>/error-pages")
@tag(["apps"])
@validate_response(AppPagesOut)
async def get_app_pages(app_id: str) -> dict[str, Any]:
    """The app's maintenance switch and the pages it has set."""
    from rivetr_core import apppages

    return await apppages.get(rivetr(), app_id)


@bp.post("/<app_id>/maintenance")
@tag(["apps"])
@validate_request(MaintenanceIn)
@validate_response(AppPagesOut)
async def set_app_maintenance(app_id: str, data: MaintenanceIn) -> dict[str, Any]:
    """Turn maintenance mode on or off. On: every domain of the app answers 503 with ``Retry-After`` and the
    maintenance page (the app's ``maintenance`` page, else a default one naming the app with ``message``),
    without reaching the app; the app keeps running and can be deployed. Off: traffic flows again at once."""
    from rivetr_core import apppages

    return await apppages.set_maintenance(rivetr(), app_id, data.enabled, data.message)


# ``string:`` spelled out: quart-schema's path regex reads "<app_id>/…/<pagekey:" as one converter name and
# would document the path as /api/apps/{status}.
@bp.put("/<string:app_id>/error-pages/<pagekey:status>")
@tag(["apps"])
@validate_request(ErrorPageIn)
@validate_response(AppPagesOut)
async def put_app_error_page(app_id: str, status: str, data: ErrorPageIn) -> dict[str, Any]:
    """Set the app's page for ``status``: ``502``, ``503`` or ``504`` (served when the proxy itself answers that
    status for the app: upstream refused or failed, no healthy instance, timeout) or ``maintenance``. 422 naming
    ``status`` or ``html`` for a bad key or a page over 64 KiB."""
    from rivetr_core import apppages

    return await apppages.set_page(rivetr(), app_id, status, data.html)


@bp.delete("/<string:app_id>/error-pages/<pagekey:status>")
@tag(["apps"])
@validate_response(AppPagesOut)
async def delete_app_error_page(app_id: str, status: str) -> dict[str, Any]:
    """Clear the app's page for ``status``: the proxy's own page (or the default maintenance page) again."""
    from rivetr_core import apppages

    return await apppages.set_page(rivetr(), app_id, status, None)
