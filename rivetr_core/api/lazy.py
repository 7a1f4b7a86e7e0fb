"""Core API blueprints whose modules load on their first request (idle memory).

Importing the ~45 API modules at start-up costs the idle control plane several MB (their pydantic models and the
services they import) for routes most servers never call. So :func:`rivetr_core.app.create_app` registers each
blueprint's rules from :mod:`rivetr_core.api.manifest`, a checked-in data file generated from the real modules,
with a stub view per endpoint; the module is imported, and its real views replace the stubs in
``app.view_functions`` (Quart keeps endpoint → function, the rules never change), when a request first matches
one of its rules.

Why the rules are exactly those of an eager registration: the manifest holds the very arguments the blueprint's
``BlueprintSetupState`` passes to ``app.add_url_rule`` (prefix joined, endpoint named, defaults merged), and
:class:`LazyViews` passes them again, in the same order, so the URL map, ``url_for`` and everything that walks the
rules (authz's route map, the meta-tests) see what they saw before. What reads the *view functions* is covered:

* :meth:`LazyViews.install` puts a ``before_request``/``before_websocket`` hook first in the app's lists, so the
  hooks after it (auth, authz, ``_complete_models_on_first_use``) and the dispatch see the real view;
* the OpenAPI provider calls :func:`load_all_views` before it reads the views' schema attributes, so
  ``/openapi.json`` is the same document as with eager imports;
* a stub called directly (no request hook ran) loads its module and calls the real view.

A blueprint that needs its registration to run stays eager: the generator marks it ``eager`` with the reason (its
``record``/``record_once`` functions; blueprint-level request hooks, error handlers, nested blueprints, static
files ...), and ``create_app`` registers it as before. None does today, and tests/test_idle_memory.py keeps it so:
what the API installs app-wide (URL converters its rules name, the webhook body limit, the metrics timer, the
audit hook) is :func:`rivetr_core.api.app_hooks.install_api_hooks`, called where the blueprints are registered. Plugins'
blueprints are not concerned: they are registered as they are.

A test (tests/test_api_meta.py) regenerates the manifest and fails with "run python -m rivetr_core.api.manifest
--write" when a module's routes changed; a blueprint missing from the manifest is registered eagerly meanwhile.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("rivetr.api")

#: ``app.extensions`` key of the app's :class:`LazyViews`.
LAZY_VIEWS = "rivetr_lazy_views"

#: One rule as the manifest keeps it: (rule, endpoint, methods or None, the other add_url_rule options).
ManifestRule = tuple[str, str, tuple[str, ...] | None, dict[str, Any]]

FIX = "run python -m rivetr_core.api.manifest --write"


def import_blueprint(path: str) -> Any:
    """``"module:attribute"`` → the object (the blueprint)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class _Recorder:
    """Stands in for the app while a blueprint's deferred functions run: keeps each ``add_url_rule`` call.
    Anything else a deferred function asks of it (``url_map``, ``extensions``) raises AttributeError, which tells
    the generator the blueprint must stay eager."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = []

    def add_url_rule(self, rule: str, endpoint: str, view_func: Callable[..., Any], **options: Any) -> None:
        self.calls.append((rule, endpoint, view_func, options))


def blueprint_rules(bp: Any) -> list[tuple[str, str, Callable[..., Any], dict[str, Any]]]:
    """What registering ``bp`` (no options) passes to ``app.add_url_rule``, in order, without an app.
    ``record_once`` functions do not run (``first_registration`` is False)."""
    recorder = _Recorder()
    state = bp.make_setup_state(recorder, {}, False)
    for deferred in bp.deferred_functions:
        deferred(state)
    return recorder.calls


class LazyViews:
    """The stub endpoints of one app and the blueprint each one's module holds."""

    def __init__(self, app: Any) -> None:
        self._app = app
        #: endpoint → "module:attribute" of its blueprint, until that module is loaded.
        self._pending: dict[str, str] = {}

    def install(self) -> None:
        """Load a matched endpoint's module before any other hook reads its view: first in both lists."""
        from quart import request, websocket

        async def _load_request() -> None:
            if self._pending:
                self.load(request.endpoint)

        async def _load_websocket() -> None:
            if self._pending:
                self.load(websocket.endpoint)

        self._app.before_request_funcs.setdefault(None, []).insert(0, _load_request)
        self._app.before_websocket_funcs.setdefault(None, []).insert(0, _load_websocket)

    def register(self, path: str, rules: list[ManifestRule]) -> None:
        """Add the blueprint's rules with stub views, as ``app.register_blueprint`` would with the real ones."""
        stubs: dict[str, Callable[..., Any]] = {}
        for rule, endpoint, methods, options in rules:
            stub = stubs.get(endpoint) or stubs.setdefault(endpoint, self._stub(endpoint))
            # defaults={} as BlueprintSetupState passes (the generator leaves it out of the file): Rule keeps it.
            self._app.add_url_rule(rule, endpoint, stub, methods=methods, **{"defaults": {}, **options})
            self._pending[endpoint] = path

    def load(self, endpoint: str | None) -> None:
        path = self._pending.get(endpoint) if endpoint is not None else None
        if path is not None:
            self._load(path)

    def load_all(self) -> None:
        for path in dict.fromkeys(self._pending.values()):
            self._load(path)

    def _load(self, path: str) -> None:
        bp = import_blueprint(path)
        real = {endpoint: view for _rule, endpoint, view, _options in blueprint_rules(bp)}
        stubs = [endpoint for endpoint, owner in self._pending.items() if owner == path]
        for endpoint in stubs:
            del self._pending[endpoint]
            view = real.pop(endpoint, None)
            if view is None:  # the module lost the route: the stub would answer forever with a 500
                log.error("API route %s is in the manifest but not in %s: %s", endpoint, path, FIX)
                self._app.view_functions[endpoint] = _gone(endpoint)
            else:
                self._app.view_functions[endpoint] = view
        if real:
            log.error(
                "API routes of %s missing from the manifest (not served): %s; %s", path, sorted(real), FIX
            )
        # quart-schema's OpenAPI reads blueprint-level tags and security from app.blueprints.
        self._app.blueprints.setdefault(bp.name, bp)

    def _stub(self, endpoint: str) -> Callable[..., Any]:
        async def stub(*args: Any, **kwargs: Any) -> Any:
            self.load(endpoint)
            view = self._app.view_functions[endpoint]
            return await self._app.ensure_async(view)(*args, **kwargs)

        stub.__name__ = stub.__qualname__ = f"lazy:{endpoint}"
        return stub


def _gone(endpoint: str) -> Callable[..., Any]:
    async def gone(*_args: Any, **_kwargs: Any) -> Any:
        from rivetr_core.errors import ApiError

        raise ApiError(404, f"no such route ({endpoint} is not served: {FIX})")

    return gone


def load_all_views(app: Any) -> None:
    """Import every lazily registered API module of ``app`` (for what reads all the views: the OpenAPI document)."""
    lazy = app.extensions.get(LAZY_VIEWS)
    if lazy is not None:
        lazy.load_all()
