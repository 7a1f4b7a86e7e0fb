"""URL converters of core API routes. ``create_app`` installs them before it adds the routes: the routes are
registered at start-up while their modules load on first use (:mod:`rivetr_core.api.lazy`), so a converter
cannot come with its blueprint's module as a ``record_once`` would bring it."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import AnyConverter, BaseConverter, PathConverter


class RouteKeyConverter(PathConverter):
    """A route key in a URL (``example.com/v1``), never ``settings/…``: DELETE of a key must not also answer
    for the settings resource (its ``Allow`` would list DELETE, and a DELETE there would be a 422, not a 405)."""

    regex = r"(?!settings/)[^/].*?"


class PageKeyConverter(AnyConverter):
    """Documents the page keys as the path parameter's ``enum`` but matches any segment: a bad key is a 422
    naming ``status`` (from :func:`rivetr_core.apppages.check_status`), not a 404 as for a missing page."""

    def __init__(self, map: Any, *items: str) -> None:
        super().__init__(map, "502", "503", "504", "maintenance")
        self.regex = "[^/]+"


class AccountIdConverter(BaseConverter):
    """Any segment but ``available`` (its own route): otherwise ``/api/git-providers/available`` also matched
    ``DELETE /api/git-providers/<account_id>`` and advertised DELETE in its ``Allow``."""

    regex = r"(?!available$)[^/]+"


#: name in a rule (``<routekey:key>``) → converter.
CONVERTERS: dict[str, type[BaseConverter]] = {
    "routekey": RouteKeyConverter,
    "pagekey": PageKeyConverter,
    "account_id": AccountIdConverter,
}


def install_converters(app: Any) -> None:
    app.url_map.converters.update(CONVERTERS)
