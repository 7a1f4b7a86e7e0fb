"""``GET /api/plugins``: every plugin with its version, state, what it provides and the hooks it implements."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, list_page, page_model

bp = Blueprint("plugins_api", __name__, url_prefix="/api/plugins")


class PluginOut(ApiModel):
    name: str = Field(description="Entry-point name: what [plugins] disable and [plugins.<name>] use.")
    version: str = Field(description="Version of the distribution that provides it.")
    distribution: str = Field(description="The installed package (pip name) it comes from.")
    status: Literal["ok", "failed", "disabled"] = Field(
        description="failed: it could not be imported or registered (see error); the server runs without it."
    )
    error: str | None = Field(None, description="Why it failed (status failed only).")
    provides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Capability (runtime, builder, git_provider, health_check, notifier, proxy_backend, "
        "blueprint, template, config) → the names that select it.",
    )
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Names it provides that cannot run on this host now → why (an optional builder whose CLI "
        "is not on PATH); selecting one is a 422 naming the reason. The plugin itself is ok.",
    )
    hooks: list[str] = Field(description="The rivetr_* hooks it implements.")


@bp.get("")
@tag(["plugins"])
@validate_querystring(PageQuery)
@document_response(page_model(PluginOut, "PluginPage"))
async def list_plugins(query_args: PageQuery) -> dict[str, Any]:
    """Plugins by name: core built-ins and entry points of the ``rivetr`` group, failed and disabled ones
    included, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    infos = rivetr().plugins.plugin_infos()
    page, next_cursor = list_page(infos, lambda i: (i.name,), (str,), query_args)
    return envelope([PluginOut(**info.as_dict()).model_dump() for info in page], next_cursor)
