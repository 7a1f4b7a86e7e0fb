"""``GET /api/plugins``: every registered plugin with its version and the hooks it implements."""

from __future__ import annotations

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import tag, validate_response

from rivetr_core.context import rivetr

bp = Blueprint("plugins_api", __name__, url_prefix="/api/plugins")


class PluginOut(BaseModel):
    name: str
    version: str
    distribution: str
    hooks: list[str]


@bp.get("")
@tag(["plugins"])
@validate_response(list[PluginOut])
async def list_plugins() -> list[PluginOut]:
    """Registered plugins: core built-ins first, then entry points of the ``rivetr`` group."""
    return [PluginOut(**info.as_dict()) for info in rivetr().plugins.plugin_infos()]
