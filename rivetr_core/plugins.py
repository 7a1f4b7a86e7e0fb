"""The plugin manager: core built-ins first, then every entry point of the ``rivetr`` group.

One manager per app (kept in ``app.extensions["rivetr"]``), never a module global, so tests can build many.
Core reaches plugins only through the typed accessors here; the implementation of a capability is chosen by
*name* from config, never by hook call order.

Failure policy: an entry-point plugin that fails to import, to register (a hook pluggy rejects) or in a
registration hook is set aside as ``failed`` with its message (``rivetr plugins list``, ``GET /api/plugins``,
``/health`` details) and the rest start; :meth:`RivetrPluginManager.check_selected` stops start-up only when the
selected runtime or proxy backend is missing while a plugin failed. Plugins passed in by code (``create_app(
plugins=[...])``) are the caller's own and still raise. ``[plugins] disable`` turns plugins off by name.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata as md
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from . import __version__, hookspecs
from .config import MOVED_KEYS, ConfigError, PluginsConfig, RivetrConfig, format_errors, plugin_key
from .contract import (
    BlueprintRegistration,
    BuilderRegistration,
    ContainerRuntimeRegistration,
    GitProviderRegistration,
    HealthCheckRegistration,
    NotifierRegistration,
    PluginContext,
    ProxyBackendRegistration,
    RivetrEvent,
    unavailable_reason,
)

log = logging.getLogger("rivetr.plugins")

ENTRY_POINT_GROUP = "rivetr"
#: Core's own plugins; registered exactly like third-party ones (they are modules of @hookimpl functions).
BUILTIN_MODULES = (
    "rivetr_core.builtin.dockerfile_builder",
    "rivetr_core.builtin.http_health",
    "rivetr_core.builtin.tcp_health",
    "rivetr_core.builtin.command_health",
)

R = TypeVar("R")


class PluginError(Exception):
    """A plugin could not be loaded, or two plugins claim the same capability name."""


class _PluginFailed(Exception):
    """An entry-point plugin failed in a registration hook: set it aside and collect again without it."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.message = message


@dataclass
class PluginInfo:
    """One plugin as listed by ``GET /api/plugins`` and ``rivetr plugins list``.

    ``status``: ``ok``, ``failed`` (``error`` says why) or ``disabled`` (``[plugins] disable``). ``provides``
    maps a capability (``runtime``, ``builder``, ``git_provider``, ``health_check``, ``notifier``,
    ``proxy_backend``, ``blueprint``, ``template``, ``config``) to the names users type to select it.
    ``unavailable``: those names that cannot run on this host now (see :func:`unavailable_reason`) → why; the
    plugin itself loaded fine, so its status stays ``ok``."""

    name: str
    version: str
    distribution: str
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "provides": self.provides,
            "unavailable": self.unavailable,
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
#: How ``provides`` names each capability (``rivetr plugins list``, ``GET /api/plugins``).
_PROVIDES = {
    "rivetr_container_runtimes": "runtime",
    "rivetr_builders": "builder",
    "rivetr_git_providers": "git_provider",
    "rivetr_health_checks": "health_check",
    "rivetr_notifiers": "notifier",
    "rivetr_proxy_backends": "proxy_backend",
    "rivetr_blueprints": "blueprint",
    "rivetr_templates": "template",
}


def _one_line(exc: BaseException) -> str:
    """pluggy's validation errors span several lines; the other load errors are one line, so this is too."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def _name_of(plugin: object, index: int) -> str:
    """The name of a plugin passed to ``create_app``: its ``__rivetr_name__``; for a module that an installed
    distribution also declares as an entry point, that entry point's name (so it gets its own
    ``[plugins.<name>]`` section, as when it is loaded from the entry point); else the module's name."""
    explicit = getattr(plugin, "__rivetr_name__", None)
    if explicit:
        return str(explicit)
    module = getattr(plugin, "__name__", None)
    if not module:
        return f"plugin-{index}"
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.value == module:
            return ep.name
    return str(module)


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
        raw_disabled = set(disabled) if disabled is not None else disabled_from_env()
        self.disabled = {plugin_key(n) for n in raw_disabled}
        self._info: dict[str, PluginInfo] = {}
        #: Entry-point plugins: these fail softly (set aside as failed), the others raise.
        self._soft: set[str] = set()
        #: Validated ``[plugins.<name>]`` sections by plugin name (see :meth:`configure`).
        self._settings: dict[str, Any] = {}
        for module_name in BUILTIN_MODULES:
            name = "core-" + module_name.rsplit(".", 1)[1].replace("_", "-")
            if plugin_key(name) in self.disabled:
                self._info[name] = PluginInfo(name, __version__, "rivetr-core", status="disabled")
                continue
            self._register_strict(importlib.import_module(module_name), name, "rivetr-core", __version__)
        if load_entrypoints:
            self._load_entrypoints()
        for index, plugin in enumerate(plugins or ()):
            name = _name_of(plugin, index)
            if plugin_key(name) not in self.disabled:
                self._register_strict(plugin, name, "(passed to create_app)", "0")
        self.check()

    # ---------------------------------------------------------------------------------------------- loading
    def _load_entrypoints(self) -> None:
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist else "?"
            version = dist.version if dist else "0"
            if plugin_key(ep.name) in self.disabled:
                log.info("plugin %s disabled ([plugins] disable or RIVETR_DISABLED_PLUGINS)", ep.name)
                self._claim(ep.name, dist_name)
                self._info[ep.name] = PluginInfo(ep.name, version, dist_name, status="disabled")
                continue
            self._soft.add(ep.name)
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must say who it is, and not stop the rest
                self._claim(ep.name, dist_name)
                self._info[ep.name] = PluginInfo(ep.name, version, dist_name, status="failed")
                self._fail(
                    ep.name,
                    f"failed to import {getattr(ep, 'value', ep.name)}: {type(exc).__name__}: {_one_line(exc)}",
                )
                continue
            try:
                self._register(module, ep.name, dist_name, version)
            except pluggy.PluginValidationError as exc:
                self._info[ep.name] = PluginInfo(ep.name, version, dist_name, status="failed")
                self._fail(ep.name, f"failed to register: {_one_line(exc)}")

    def _claim(self, name: str, distribution: str) -> None:
        if name in self._info:
            raise PluginError(
                f"plugin name {name!r} is provided by both {self._info[name].distribution} and {distribution}"
            )

    def _register(self, plugin: object, name: str, distribution: str, version: str) -> None:
        """Register ``plugin``; a hook pluggy rejects (unknown name, argument not in the spec) raises
        :class:`pluggy.PluginValidationError` with the plugin unregistered again."""
        self._claim(name, distribution)
        self.pm.register(plugin, name=name)
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = sorted(h.name for h in callers if not h.has_spec())
        if unknown:
            self.pm.unregister(name=name)
            raise pluggy.PluginValidationError(
                plugin, f"implements {', '.join(unknown)}, which no Rivetr hook spec defines (a typo?)"
            )
        self._info[name] = PluginInfo(name, version, distribution, sorted(h.name for h in callers))

    def _register_strict(self, plugin: object, name: str, distribution: str, version: str) -> None:
        try:
            self._register(plugin, name, distribution, version)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} failed to register: {_one_line(exc)}") from None

    def _fail(self, name: str, message: str) -> None:
        info = self._info[name]
        info.status, info.error = "failed", message
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)

    def check(self) -> None:
        """Fail on hooks no spec knows (a typo in a plugin) and on capabilities registered twice.

        The registration hooks are called here, once: the set of plugins is fixed when the manager is built
        (listeners registered later only implement event hooks), so accessors hand back these results."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(_one_line(exc)) from exc
        while True:
            try:
                self._owners: dict[tuple[str, str], str] = {}
                self._registrations = {
                    hook: self._collect(hook, kind) for hook, kind in _CAPABILITIES.items()
                }
                self._blueprints = []
                for impl in self.pm.hook.rivetr_blueprints.get_hookimpls():
                    for reg in self._call_registration(impl, "rivetr_blueprints"):
                        self._blueprints.append(reg)
                        self._owners[("rivetr_blueprints", str(getattr(reg, "name", "")))] = impl.plugin_name
                self._config_models = self._collect_config_models()
                self._templates = self._collect_templates()
                break
            except _PluginFailed as failure:  # collect again without it
                self._fail(failure.plugin, failure.message)

    # ------------------------------------------------------------------------------------------- accessors
    def plugin_infos(self) -> list[PluginInfo]:
        provides: dict[str, dict[str, list[str]]] = {}
        for (hook, reg_name), owner in sorted(self._owners.items()):
            provides.setdefault(owner, {}).setdefault(_PROVIDES[hook], []).append(reg_name)
        unavailable: dict[str, dict[str, str]] = {}
        for (hook, reg_name), owner in self._owners.items():
            reason = unavailable_reason(self._registrations.get(hook, {}).get(reg_name))
            if reason:
                unavailable.setdefault(owner, {})[reg_name] = reason
        for owner in self._config_models:
            provides.setdefault(owner, {})["config"] = [f"plugins.{owner}"]
        for name, info in self._info.items():
            info.provides = provides.get(name, {})
            info.unavailable = unavailable.get(name, {})
        return sorted(self._info.values(), key=lambda p: p.name)

    def failed(self) -> list[PluginInfo]:
        return [info for info in self.plugin_infos() if info.status == "failed"]

    def states(self) -> dict[str, dict[str, Any]]:
        """``{name: {"status": ..., "error": ...}}`` for ``/health`` details (error only when failed)."""
        return {
            i.name: {"status": i.status, **({"error": i.error} if i.error else {})}
            for i in self.plugin_infos()
        }

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
                found[reg_name] = self._bind(registration, impl.plugin_name)
                owners[reg_name] = impl.plugin_name
                self._owners[(hook_name, reg_name)] = impl.plugin_name
        return found

    def _call_registration(self, impl: Any, hook_name: str) -> list[Any]:
        try:
            return list(impl.function() or ())
        except Exception as exc:  # say which plugin is broken instead of a bare traceback
            if impl.plugin_name in self._soft:
                raise _PluginFailed(impl.plugin_name, f"failed in {hook_name}: {exc!r}") from exc
            raise PluginError(
                f"plugin {self._dist(impl.plugin_name)} failed in {hook_name}: {exc!r}"
            ) from exc

    def _collect_config_models(self) -> dict[str, type[BaseModel]]:
        models: dict[str, type[BaseModel]] = {}
        for impl in self.pm.hook.rivetr_config_models.get_hookimpls():
            owner = impl.plugin_name
            for registration in self._call_registration(impl, "rivetr_config_models"):
                name, model = getattr(registration, "name", None), getattr(registration, "model", None)
                problem = None
                if plugin_key(str(name)) != plugin_key(owner):
                    problem = (
                        f"registers a config model for [plugins.{name}], not for its own [plugins.{owner}]"
                    )
                elif not (isinstance(model, type) and issubclass(model, BaseModel)):
                    problem = f"registers a config model that is not a pydantic model: {model!r}"
                if problem and owner in self._soft:
                    raise _PluginFailed(owner, f"failed in rivetr_config_models: {problem}")
                if problem:
                    raise PluginError(f"plugin {owner!r} {problem}")
                models[owner] = model  # type: ignore[assignment]
        return models

    def _collect_templates(self) -> list[tuple[str, Any]]:
        """``(plugin name, registration)`` in registration order. Cheap (a name and a path each): the TOML is
        read by the catalogue on first use, which also reports duplicate and broken templates."""
        found = []
        for impl in self.pm.hook.rivetr_templates.get_hookimpls():
            for registration in self._call_registration(impl, "rivetr_templates"):
                found.append((impl.plugin_name, registration))
                self._owners[("rivetr_templates", str(getattr(registration, "name", "")))] = impl.plugin_name
        return found

    # ---------------------------------------------------------------------------------------------- config
    def config_models(self) -> dict[str, type[BaseModel]]:
        """Settings models by plugin name, for ``[plugins.<name>]`` (generated docs and example config)."""
        return dict(self._config_models)

    def configure(self, config: RivetrConfig) -> list[str]:
        """Validate every plugin's ``[plugins.<name>]`` section against its model (deprecated core keys that
        moved there mapped in), keep the instances for its factories, and return warnings (sections no plugin
        claims). Raises :class:`ConfigError` naming ``plugins.<name>.<key>`` for every problem."""
        problems: list[str] = []
        warnings: list[str] = []
        for raw_name, value in (config.plugins.model_extra or {}).items():
            if not isinstance(value, dict):
                problems.append(f"plugins.{raw_name}: must be a table ([plugins.{raw_name}]), got {value!r}")
        known = {plugin_key(name): name for name in self._info}
        for key in config.plugins.sections():
            if key not in known:
                warnings.append(f"[plugins.{key}] is ignored: no installed plugin is called {key!r}")
        for key in sorted(config.plugins.disable):
            if plugin_key(key) not in known:
                warnings.append(f"[plugins] disable names {key!r}, which is not an installed plugin")
        self._settings = {}
        for name, info in self._info.items():
            if info.status != "ok":
                continue
            raw = config.plugin_section(name)
            model = self._config_models.get(name)
            if model is None:
                if raw:
                    self._settings[name] = raw
                continue
            try:
                self._settings[name] = model.model_validate(raw)
            except ValidationError as exc:
                own = config.plugins.get(name, {})
                # A bad value given under its deprecated core key is named by that key too.
                old = {
                    new: f"{section}.{key}"
                    for (section, key), (plugin, new) in MOVED_KEYS.items()
                    if plugin == plugin_key(name) and new not in own
                }
                for problem in format_errors(exc):
                    key = problem.split(":", 1)[0]
                    where = f" (given as deprecated {old[key]})" if key in old else ""
                    problems.append(f"plugins.{name}.{key}{where}:{problem.split(':', 1)[1]}")
        if problems:
            raise ConfigError(problems)
        return warnings

    def check_selected(self, config: RivetrConfig) -> None:
        """Stop start-up when the selected runtime or proxy backend is missing while a plugin failed (it may
        be the one that provides it); a failed plugin providing anything else leaves the server up."""
        failed = self.failed()
        if not failed:
            return
        missing = []
        runtime, runtimes = config.runtime.runtime_type, self.container_runtimes()
        if (runtime == "auto" and not runtimes) or (runtime != "auto" and runtime not in runtimes):
            missing.append(f"[runtime] runtime_type = {runtime!r}")
        if config.proxy.enabled and config.proxy.backend not in self.proxy_backends():
            missing.append(f"[proxy] backend = {config.proxy.backend!r}")
        if missing:
            raise PluginError(
                f"{' and '.join(missing)}: no installed plugin provides it, and these plugins failed (fix, "
                "reinstall or remove them, or select another):\n  "
                + "\n  ".join(f"{i.name} ({i.distribution}): {i.error}" for i in failed)
            )

    def settings_for(self, name: str, config: RivetrConfig | None = None) -> Any:
        """Plugin ``name``'s own section: the validated model instance (raw table without a model)."""
        if name in self._settings:
            return self._settings[name]
        if config is None:
            return None
        raw = config.plugin_section(name)
        model = self._config_models.get(name)
        return model.model_validate(raw) if model is not None else (raw or None)

    def scope(self, ctx: PluginContext, owner: str) -> PluginContext:
        """``ctx`` as plugin ``owner`` sees it: ``settings`` is its own section and ``config.plugins`` holds
        nothing of the others'."""
        if not isinstance(ctx, PluginContext) or not isinstance(ctx.config, RivetrConfig):
            return ctx
        raw = ctx.config.plugins.get(owner, {})
        plugins = PluginsConfig(disable=list(ctx.config.plugins.disable), **({owner: raw} if raw else {}))
        return dataclasses.replace(
            ctx,
            config=ctx.config.model_copy(update={"plugins": plugins}),
            settings=self.settings_for(owner, ctx.config),
            plugin_settings={owner: raw},
        )

    def _bind(self, registration: Any, owner: str) -> Any:
        """The registration with a factory that hands ``owner`` its own scoped context."""
        factory = getattr(registration, "factory", None)
        if factory is None or not dataclasses.is_dataclass(registration) or isinstance(registration, type):
            return registration

        @functools.wraps(factory)  # keeps its name and module for whoever inspects it
        def scoped(ctx: PluginContext) -> Any:
            return factory(self.scope(ctx, owner))

        return dataclasses.replace(registration, factory=scoped)

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
        return list(self._blueprints)

    def template_registrations(self) -> list[tuple[str, Any]]:
        """The plugins' template registrations, each with the name of the plugin that made it (duplicates kept:
        :class:`~rivetr_core.managed.catalog.Catalog` reports them)."""
        return list(self._templates)

    def select(self, registry: dict[str, R], name: str, kind: str) -> R:
        try:
            return registry[name]
        except KeyError:
            known = ", ".join(sorted(registry)) or "none installed"
            raise PluginError(f"unknown {kind} {name!r} (available: {known})") from None

    # --------------------------------------------------------------------------------------------- events
    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook; a failing plugin is logged, never propagated (it must not break a deploy). Hooks
        run without the request's team restriction: a task they start is background work."""
        from .authz.visibility import background_context

        hook = getattr(self.pm.hook, hook_name)
        context = background_context()
        for impl in hook.get_hookimpls():
            try:
                context.run(impl.function, **{k: kwargs[k] for k in impl.argnames})
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)

    def emit(self, event: RivetrEvent) -> None:
        self.notify("rivetr_on_event", event=event)
