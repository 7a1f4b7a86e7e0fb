"""The plugin manager: core built-ins first, then every entry point of the ``rivetr`` group.

One manager per app (kept in ``app.extensions["rivetr"]``), never a module global, so tests can build many.
Core reaches plugins only through the typed accessors here; the implementation of a capability is chosen by
*name* from config, never by hook call order.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy

from . import __version__, hookspecs
from .types import (
    BlueprintRegistration,
    BuilderRegistration,
    ContainerRuntimeRegistration,
    GitProviderRegistration,
    HealthCheckRegistration,
    NotifierRegistration,
    ProxyBackendRegistration,
    RivetrEvent,
)

log = logging.getLogger("rivetr.plugins")

ENTRY_POINT_GROUP = "rivetr"
#: Core's own plugins; registered exactly like third-party ones (they are modules of @hookimpl functions).
BUILTIN_MODULES = (
    "rivetr_core.builtin.dockerfile_builder",
    "rivetr_core.builtin.http_health",
)

R = TypeVar("R")


class PluginError(Exception):
    """A plugin could not be loaded, or two plugins claim the same capability name."""


@dataclass
class PluginInfo:
    """One registered plugin as listed by ``GET /api/plugins`` and ``rivetr plugins list``."""

    name: str
    version: str
    distribution: str
    hooks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "hooks": self.hooks,
        }


def disabled_from_env() -> set[str]:
    raw = os.environ.get("RIVETR_DISABLED_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


#: Registration hooks whose results are keyed by name (and must be unique), with how errors name them.
_CAPABILITIES = {
    "rivetr_container_runtimes": "container runtime",
    "rivetr_builders": "builder",
    "rivetr_git_providers": "git provider",
    "rivetr_health_checks": "health check",
    "rivetr_notifiers": "notifier",
    "rivetr_proxy_backends": "proxy backend",
}


class RivetrPluginManager:
    def __init__(
        self,
        *,
        load_entrypoints: bool = True,
        plugins: Iterable[object] | None = None,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.disabled = set(disabled) if disabled is not None else disabled_from_env()
        self._info: dict[str, PluginInfo] = {}
        for module_name in BUILTIN_MODULES:
            name = "core-" + module_name.rsplit(".", 1)[1].replace("_", "-")
            if name in self.disabled:
                continue
            self._register(importlib.import_module(module_name), name, "rivetr-core", __version__)
        if load_entrypoints:
            self._load_entrypoints()
        for index, plugin in enumerate(plugins or ()):
            name = str(
                getattr(plugin, "__rivetr_name__", None) or getattr(plugin, "__name__", f"plugin-{index}")
            )
            if name not in self.disabled:
                self._register(plugin, name, "(passed to create_app)", "0")
        self.check()

    # ---------------------------------------------------------------------------------------------- loading
    def _load_entrypoints(self) -> None:
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.disabled:
                log.info("plugin %s disabled by RIVETR_DISABLED_PLUGINS", ep.name)
                continue
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist else "?"
            version = dist.version if dist else "0"
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must say who it is
                raise PluginError(f"plugin {ep.name!r} from {dist_name} failed to load: {exc}") from exc
            self._register(module, ep.name, dist_name, version)

    def _register(self, plugin: object, name: str, distribution: str, version: str) -> None:
        if name in self._info:
            raise PluginError(
                f"plugin name {name!r} is provided by both {self._info[name].distribution} and {distribution}"
            )
        self.pm.register(plugin, name=name)
        hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        self._info[name] = PluginInfo(name, version, distribution, hooks)

    def check(self) -> None:
        """Fail on hooks no spec knows (a typo in a plugin) and on capabilities registered twice.

        The registration hooks are called here, once: the set of plugins is fixed when the manager is built
        (listeners registered later only implement event hooks), so accessors hand back these results."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        self._registrations = {hook: self._collect(hook, kind) for hook, kind in _CAPABILITIES.items()}

    # ------------------------------------------------------------------------------------------- accessors
    def plugin_infos(self) -> list[PluginInfo]:
        return sorted(self._info.values(), key=lambda p: p.name)

    def _collect(self, hook_name: str, kind: str) -> dict[str, Any]:
        hook = getattr(self.pm.hook, hook_name)
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for impl in hook.get_hookimpls():  # registration order
            for registration in self._call_registration(impl, hook_name):
                reg_name = str(getattr(registration, "name", ""))
                if reg_name in found:
                    raise PluginError(
                        f"{kind} {reg_name!r} is registered by both {self._dist(owners[reg_name])} "
                        f"and {self._dist(impl.plugin_name)}"
                    )
                found[reg_name] = registration
                owners[reg_name] = impl.plugin_name
        return found

    def _call_registration(self, impl: Any, hook_name: str) -> list[Any]:
        try:
            return list(impl.function() or ())
        except Exception as exc:  # say which plugin is broken instead of a bare traceback
            raise PluginError(
                f"plugin {self._dist(impl.plugin_name)} failed in {hook_name}: {exc!r}"
            ) from exc

    def _dist(self, plugin_name: str) -> str:
        info = self._info.get(plugin_name)
        return f"{info.distribution} ({plugin_name})" if info else plugin_name

    def container_runtimes(self) -> dict[str, ContainerRuntimeRegistration]:
        return self._registrations["rivetr_container_runtimes"]

    def builders(self) -> dict[str, BuilderRegistration]:
        return self._registrations["rivetr_builders"]

    def git_providers(self) -> dict[str, GitProviderRegistration]:
        return self._registrations["rivetr_git_providers"]

    def health_checks(self) -> dict[str, HealthCheckRegistration]:
        return self._registrations["rivetr_health_checks"]

    def notifiers(self) -> dict[str, NotifierRegistration]:
        return self._registrations["rivetr_notifiers"]

    def proxy_backends(self) -> dict[str, ProxyBackendRegistration]:
        return self._registrations["rivetr_proxy_backends"]

    def blueprints(self) -> list[BlueprintRegistration]:
        impls = self.pm.hook.rivetr_blueprints.get_hookimpls()
        return [reg for impl in impls for reg in self._call_registration(impl, "rivetr_blueprints")]

    def select(self, registry: dict[str, R], name: str, kind: str) -> R:
        try:
            return registry[name]
        except KeyError:
            known = ", ".join(sorted(registry)) or "none installed"
            raise PluginError(f"unknown {kind} {name!r} (available: {known})") from None

    # --------------------------------------------------------------------------------------------- events
    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook; a failing plugin is logged, never propagated (it must not break a deploy)."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)

    def emit(self, event: RivetrEvent) -> None:
        self.notify("rivetr_on_event", event=event)
