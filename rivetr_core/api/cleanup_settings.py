"""Cleanup settings changed without the config file (issue 21: the dashboard does what it shows).

* ``GET /api/system/cleanup/settings`` — the settings the cleanup runs with, each field's ``source`` (``config``:
  the config file's ``[cleanup]``; ``dashboard``: stored from the dashboard, this API or the CLI), the file's
  values, and the next scheduled run.
* ``PUT /api/system/cleanup/settings`` — store overrides, field by field (``null`` drops one); the same ranges as
  ``[cleanup]``; an unknown field is a 422 naming it. The next disk check and run use them; a new interval moves
  the next run at once.
* ``DELETE /api/system/cleanup/settings`` (all) and ``/api/system/cleanup/settings/{field}`` (one) — back to the
  config file.

The overrides live in :mod:`rivetr_core.cleanup.settings`; changing them needs the ``server`` permission
(authz/routes.py), as running the cleanup does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, create_model
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.config import CleanupConfig
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.services.errors import ServiceNotRunning

from .system import CleanupSettings

bp = Blueprint("cleanup_settings_api", __name__)


class CleanupSources(ApiModel):
    """Where each setting's value comes from."""

    model_config = ConfigDict(extra="forbid")

    keep_images: Literal["config", "dashboard"]
    build_log_retention_days: Literal["config", "dashboard"]
    interval_minutes: Literal["config", "dashboard"]
    disk_warning_percent: Literal["config", "dashboard"]
    disk_critical_percent: Literal["config", "dashboard"]
    prune_build_cache: Literal["config", "dashboard"]
    audit_retention_days: Literal["config", "dashboard"]


class CleanupSettingsOut(ApiModel):
    model_config = ConfigDict(extra="forbid")

    settings: CleanupSettings = Field(description="What the cleanup and the disk monitor run with.")
    sources: CleanupSources = Field(
        description="Per field: `config` (the config file's [cleanup], or its default) or `dashboard` (stored "
        "from the dashboard, the API or the CLI; it wins)."
    )
    config: CleanupSettings = Field(description="The config file's values: what a reset returns to.")
    updated_at: str | None = Field(description="When a stored value last changed; null when none is stored.")
    next_run_at: str | None = Field(
        description="When the scheduled cleanup runs next (UTC); null while the scheduler is not running."
    )


def _optional(name: str) -> tuple[Any, Any]:
    """``CleanupConfig``'s field as an optional, strict body field with the same range (one source of truth)."""
    info = CleanupConfig.model_fields[name]
    bounds = {
        attr: getattr(rule, attr)
        for rule in info.metadata
        for attr in ("ge", "gt", "le", "lt")
        if getattr(rule, attr, None) is not None
    }
    kind: Any = StrictBool if info.annotation is bool else StrictInt
    return kind | None, Field(
        None, description=f"{info.description} null: back to the config file.", **bounds
    )


class _StrictBody(ApiModel):
    model_config = ConfigDict(extra="forbid")


_fields: dict[str, Any] = {name: _optional(name) for name in CleanupConfig.model_fields}
CleanupSettingsIn: Any = create_model(
    "CleanupSettingsIn",
    __base__=_StrictBody,
    __doc__="Fields left out keep their value; null drops the stored one (the config file's applies again).",
    **_fields,
)


def _service() -> Any:
    service = rivetr().services.get("cleanup")
    if service is None:
        raise ServiceNotRunning("the cleanup service is not running")
    return service


def _view() -> dict[str, Any]:
    return CleanupSettingsOut.model_validate(_service().settings_view()).model_dump(mode="json")


@bp.get("/api/system/cleanup/settings")
@responds(503)
@tag(["system"])
@document_response(CleanupSettingsOut)
async def get_cleanup_settings() -> dict[str, Any]:
    """The cleanup settings in effect, where each comes from (``sources``), the config file's values and the next
    scheduled run."""
    return _view()


@bp.put("/api/system/cleanup/settings")
@responds(503)
@tag(["system"])
@validate_request(CleanupSettingsIn)
@document_response(CleanupSettingsOut)
async def put_cleanup_settings(data: Any) -> dict[str, Any]:
    """Store cleanup settings over the config file's ``[cleanup]``, field by field (``null``: back to the file).
    Ranges as ``[cleanup]``'s; ``disk_warning_percent`` must not be above ``disk_critical_percent``; an unknown
    field is refused (422 naming it) and nothing changes. The next disk check and cleanup run use them; a new
    ``interval_minutes`` moves the next run at once, without a restart."""
    await _service().update_settings(data.model_dump(exclude_unset=True))
    return _view()


@bp.delete("/api/system/cleanup/settings")
@responds(503)
@tag(["system"])
@document_response(CleanupSettingsOut)
async def reset_cleanup_settings() -> dict[str, Any]:
    """Drop every stored cleanup setting: the config file's ``[cleanup]`` applies again."""
    await _service().reset_settings()
    return _view()


@bp.delete("/api/system/cleanup/settings/<field>")
@responds(503)
@tag(["system"])
@document_response(CleanupSettingsOut)
async def reset_cleanup_setting(field: str) -> dict[str, Any]:
    """Drop one stored setting (``keep_images``...): the config file's value applies again. 404 for a name that is
    no cleanup setting."""
    await _service().reset_settings(field)
    return _view()
