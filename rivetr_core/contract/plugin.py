"""What every plugin shares: the context its factories receive, and the registrations that are not a
capability (control-plane routes, its own config section)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .events import RivetrEvent

if TYPE_CHECKING:
    from pydantic import BaseModel

    from rivetr_core.config import RivetrConfig
    from rivetr_core.secrets import SecretBox

S = TypeVar("S", bound="BaseModel")
F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`requires` sets on a view function; core's permission check reads it.
PERMISSION_ATTRIBUTE = "rivetr_permission"


@dataclass
class PluginContext:
    """What a plugin factory receives: the validated config, the data dir, the secrets box and a logger.

    ``emit`` publishes a :class:`RivetrEvent` (it reaches ``rivetr_on_event`` implementations, e.g. notifiers);
    it is safe to call from any coroutine and never raises.
    """

    config: RivetrConfig
    data_dir: Path
    secrets: SecretBox | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("rivetr.plugin"))
    emit: Callable[[RivetrEvent], None] = lambda event: None
    #: ``await registry_auth(server)``: the engine auth config (``username``, ``password``, ``serveraddress``)
    #: stored for a registry server with ``/api/registries``, or None. For a runtime that pushes what it built
    #: (swarm); the password is decrypted for that call only and must never be logged. None: no store.
    registry_auth: Callable[[str], Any] | None = None
    #: Deprecated (free-form tables by plugin name, for contexts built by hand): use ``settings``.
    plugin_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: This plugin's own ``[plugins.<entry-point name>]`` section: an instance of the model its
    #: ``rivetr_config_models`` hook registered (validated at start), or the raw table if it registered none.
    #: Core sets it for each plugin's factories; it never holds another plugin's section.
    settings: Any = None

    def settings_as(self, model: type[S], name: str) -> S:
        """``settings`` as an instance of ``model``; for a context built by hand (tests) the section ``name``
        is read from ``plugin_settings`` or the config (with the deprecated core keys mapped in)."""
        if isinstance(self.settings, model):
            return self.settings
        if self.settings is not None:
            return model.model_validate(self.settings)
        raw = dict(self.config.plugin_section(name))
        raw.update(self.plugin_settings.get(name) or {})
        return model.model_validate(raw)


@dataclass(frozen=True)
class BlueprintRegistration:
    """Routes a plugin adds to the control plane. Every ``/api/*`` route requires a credential, and every
    ``/api/*`` route and WebSocket of the blueprint should declare the permission it needs with :func:`requires`;
    one that does not needs ``server`` (server owners and admins only)."""

    #: Names the blueprint in ``rivetr plugins list`` (what the plugin provides) and in Quart.
    name: str
    #: A ``quart.Blueprint`` (typed loosely so the contract imports no web framework).
    blueprint: Any
    #: Mounts every route of the blueprint under this prefix; None keeps the blueprint's own.
    url_prefix: str | None = None


@dataclass(frozen=True)
class ConfigModelRegistration:
    """The settings model of a plugin's own ``[plugins.<name>]`` section.

    ``name`` is the plugin's entry-point name (what ``rivetr plugins list`` shows); ``model`` a pydantic model,
    best with ``extra="forbid"`` so a typo is an error naming ``plugins.<name>.<key>``. Its field descriptions
    and defaults appear in ``rivetr.example.toml`` and docs/configuration.md; every key can be set from the
    environment as ``RIVETR_PLUGINS__<NAME>__<KEY>`` (dashes in the name written as underscores). The
    plugin's factories receive the validated instance as ``ctx.settings``.
    """

    #: The plugin's entry-point name: the section is ``[plugins.<name>]``.
    name: str
    #: The pydantic model of that section; factories receive an instance as ``ctx.settings``.
    model: type[BaseModel]


def requires(permission: str) -> Callable[[F], F]:
    """Declare the permission a plugin route or WebSocket needs; core checks it before the handler runs.

    ``permission`` is one of ``read``, ``deploy``, ``write``, ``secrets.reveal``, ``terminal``, ``audit``,
    ``members``, ``team.delete``, ``server``, ``account``, or ``public`` (no credential needed; only for paths
    core lets through unauthenticated). See docs/permissions.md. An unknown name raises ValueError at import.
    A plugin route without it needs ``server``: it could do anything, so only the server's owners and admins may
    call it until its author says otherwise::

        @bp.get("/api/hello/<app_id>")
        @requires("read")
        async def hello(app_id: str) -> dict[str, str]: ...
    """
    # Imported here: the contract stays free of core modules at import (tests/test_contract.py).
    from rivetr_core.authz.permissions import PERMISSIONS, PUBLIC

    if permission not in PERMISSIONS and permission != PUBLIC:
        raise ValueError(f"unknown permission {permission!r} (known: {', '.join([*PERMISSIONS, PUBLIC])})")

    def mark(view: F) -> F:
        setattr(view, PERMISSION_ATTRIBUTE, permission)
        return view

    return mark
