"""``GET /api/plugins``: every plugin with its version, state, what it provides and the hooks it implements."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import tag, validate_response

from rivetr_core.context import rivetr

bp = Blueprint("plugins_api", __name__, url_prefix="/api/plugins")


class PluginOut(BaseModel):
    name: str = Field(description="Entry-point name: what [plugins] disable and [plugins.<name>] use.")
    version: str
    distribution: str
    status: Literal["ok", "failed", "disabled"] = Field(
        description="failed: it could not be imported or registered (see error); the server runs without it."
    )
    error: str | None = Field(None, description="Why it failed (status failed only).")
    provides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Capability (runtime, builder, git_provider, health_check, notifier, proxy_backend, "
        "blueprint, config) → the names that select it.",
    )
    hooks: list[str]


@bp.get("")
@tag(["plugins"])
@validate_response(list[PluginOut])
async def list_plugins() -> list[PluginOut]:
    """Plugins: core built-ins, then entry points of the ``rivetr`` group, failed and disabled ones included."""
    return [PluginOut(**info.as_dict()) for info in rivetr().plugins.plugin_infos()]
