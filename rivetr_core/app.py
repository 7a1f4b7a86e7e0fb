"""The Quart application factory.

``create_app(config, *, plugins=None, load_entrypoints=True)`` builds one self-contained app: its own plugin
manager, database, secrets box and services. Nothing is started until Quart's ``before_serving`` (or a test
client's ``startup``), so building an app is cheap and side-effect free apart from creating the data dir.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any

from quart import Quart, request

from . import __version__
from ._schema_import import QuartSchema
from .api.app_hooks import install_api_hooks
from .api.lazy import LAZY_VIEWS, LazyViews
from .api.manifest import MANIFEST
from .auth import install_auth, load_admin_token
from .authz.enforce import PLUGIN_BLUEPRINTS
from .config import RivetrConfig, load_config
from .context import RivetrContext
from .db import Database
from .errors import install_error_handlers
from .logsetup import request_id_var
from .openapi import RivetrOpenAPI
from .plugins import PluginError, RivetrPluginManager, disabled_from_env
from .ratelimit import install_rate_limit, parse_networks
from .routing import RouteService
from .secrets import SecretBox, ensure_private_dir

log = logging.getLogger("rivetr.app")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]

#: Core blueprints, as "module:attribute". Later areas append theirs here, then run
#: ``python -m rivetr_core.api.manifest --write``: their modules are imported on first use (rivetr_core.api.lazy).
CORE_BLUEPRINTS = (
    "rivetr_core.api.health:bp",
    "rivetr_core.api.plugins:bp",
    "rivetr_core.api.routes:bp",
    "rivetr_core.api.webhooks:bp",
    "rivetr_core.api.git_providers:bp",
    "rivetr_core.api.previews:bp",
    "rivetr_core.api.apps:bp",
    "rivetr_core.api.app_lifecycle:bp",
    "rivetr_core.api.app_scale:bp",
    "rivetr_core.api.app_pages:bp",
    "rivetr_core.api.build_plan:bp",
    "rivetr_core.api.git_check:bp",
    "rivetr_core.api.projects:bp",
    "rivetr_core.api.projects_iac:bp",
    "rivetr_core.api.env_vars:bp",
    "rivetr_core.api.volumes:bp",
    "rivetr_core.api.tasks:bp",
    "rivetr_core.api.links:bp",
    "rivetr_core.api.templates:bp",
    "rivetr_core.api.services:bp",
    "rivetr_core.api.stacks:bp",
    "rivetr_core.api.tags:bp",
    "rivetr_core.api.schedules:bp",
    "rivetr_core.api.backups:bp",
    "rivetr_core.api.service_backups:bp",
    "rivetr_core.api.service_backup_import:bp",
    "rivetr_core.api.stack_backups:bp",
    "rivetr_core.api.ssh_keys:bp",
    "rivetr_core.api.registries:bp",
    "rivetr_core.api.ssh_known_hosts:bp",
    "rivetr_core.api.deployments:bp",
    "rivetr_core.api.certificates:bp",
    "rivetr_core.api.proxy:bp",
    "rivetr_core.api.notifications:bp",
    "rivetr_core.api.notification_routes:bp",
    "rivetr_core.api.metrics:bp",
    "rivetr_core.api.audit:bp",
    "rivetr_core.api.proxy_access_log:bp",
    "rivetr_core.api.system:bp",
    "rivetr_core.api.cleanup_settings:bp",
    "rivetr_core.api.control_planes:bp",
    "rivetr_core.api.nodes:bp",
    "rivetr_core.api.auth:bp",
    "rivetr_core.api.two_factor:bp",
    "rivetr_core.api.passkeys:bp",
    "rivetr_core.api.tokens:bp",
    "rivetr_core.api.acting_team:bp",
    "rivetr_core.api.teams:bp",
    "rivetr_core.api.users:bp",
    "rivetr_core.api.invitations:bp",
)

#: Async ``start(app, ctx)`` functions run at start-up, in order, after the DB, proxy and routes are up.
#: Each starts its area's background work with ``ctx.spawn`` (cancelled at shutdown) and may put a service
#: object in ``ctx.services``. Later areas append theirs here.
CORE_SERVICES: tuple[str, ...] = (
    "rivetr_core.tls.manager:start",
    "rivetr_core.engine.startup:start",
    "rivetr_core.webhooks:start",
    "rivetr_core.notify:start",
    "rivetr_core.metrics:start",
    "rivetr_core.history:start",
    "rivetr_core.cleanup:start",
    "rivetr_core.backup.jobs:start",
    "rivetr_core.scheduler.service:start",
    "rivetr_core.stacks.startup:start",
    "rivetr_core.accounts.web:start",
)


def _import(path: str) -> Any:
    import importlib

    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def create_app(
    config: RivetrConfig | None = None,
    *,
    plugins: Iterable[object] | None = None,
    load_entrypoints: bool = True,
) -> Quart:
    config = config or load_config()
    data_dir = config.server.data_dir
    ensure_private_dir(data_dir)

    app = Quart("rivetr_core")
    app.config["RIVETR"] = config
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024  # API bodies; uploads go elsewhere
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # First of the request hooks, so every later one (auth, authz, model completion) sees the real views.
    lazy = app.extensions[LAZY_VIEWS] = LazyViews(app)
    lazy.install()

    manager = RivetrPluginManager(
        load_entrypoints=load_entrypoints,
        plugins=plugins,
        disabled=disabled_from_env() | set(config.plugins.disable),
    )
    for info in manager.failed():  # once per start; the plugin stays listed as failed (API, CLI, /health)
        log.error("plugin %s (%s) %s", info.name, info.distribution, info.error)
    for warning in manager.configure(config):  # raises ConfigError naming plugins.<name>.<key>
        log.warning("%s", warning)
    manager.check_selected(config)
    app.extensions["rivetr"] = manager

    admin_token, generated = load_admin_token(
        config.auth.admin_token.get_secret_value() if config.auth.admin_token else None, data_dir
    )
    app.extensions["rivetr_admin_token_generated"] = generated
    box = SecretBox.from_config(
        config.auth.encryption_key.get_secret_value() if config.auth.encryption_key else None, data_dir
    )
    ctx = RivetrContext(
        config=config,
        plugins=manager,
        db=Database.for_config(config),
        secrets=box,
        admin_token=admin_token,
    )
    app.extensions["rivetr_ctx"] = ctx

    QuartSchema(
        app,
        info={"title": "Rivetr API", "version": __version__},
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
        openapi_provider_class=RivetrOpenAPI,
    )
    install_error_handlers(app)
    _install_request_id(app)
    _complete_models_on_first_use(app)
    # Whom to believe about X-Forwarded-*: rate limiting, audit and secure cookies all ask.
    trusted = list(config.server.trusted_proxies)
    if config.proxy.enabled:
        # Our own proxy reaches the API from loopback ([server] dashboard_domain, manual routes) and sets
        # X-Forwarded-For/-Proto itself, so HTTPS through it gives Secure cookies and the real client address.
        trusted += LOOPBACK_NETWORKS
    app.extensions["rivetr_trusted_proxies"] = parse_networks(trusted)
    if config.rate_limit.enabled:
        install_rate_limit(
            app,
            per_minute=config.rate_limit.requests_per_minute,
            burst=config.rate_limit.burst,
            login_per_minute=config.rate_limit.login_per_minute,
        )
    install_auth(app, admin_token)

    # What the blueprints' record_once did: URL converters, the webhook body limit, the metrics timer and the
    # audit hook are installed here, while the blueprints' modules load later (rivetr_core.api.lazy).
    install_api_hooks(app)
    for path in CORE_BLUEPRINTS:
        rules = MANIFEST.get(path, {}).get("rules")
        if rules is None:  # it must register for real (or the manifest does not know it yet)
            app.register_blueprint(_import(path))
        else:
            lazy.register(path, rules)
    plugin_blueprints: set[str] = app.extensions.setdefault(PLUGIN_BLUEPRINTS, set())
    for registration in manager.blueprints():
        app.register_blueprint(registration.blueprint, url_prefix=registration.url_prefix)
        # Their routes without ``requires`` get the plugin default permission; core's need a declaration.
        plugin_blueprints.add(registration.blueprint.name)

    @app.before_serving
    async def _startup() -> None:
        await _start(app, ctx)

    @app.after_serving
    async def _shutdown() -> None:
        manager.notify("rivetr_on_shutdown", app=app)
        if ctx.proxy is not None:
            try:
                # Detach only: the data plane keeps serving while the control plane is away.
                await ctx.proxy.stop()
            except Exception:
                log.warning("proxy backend did not stop cleanly", exc_info=True)
        await ctx.close()

    return app


async def _start(app: Quart, ctx: RivetrContext) -> None:
    config = ctx.config
    await ctx.db.startup()
    if config.proxy.enabled:
        registration = ctx.plugins.select(ctx.plugins.proxy_backends(), config.proxy.backend, "proxy backend")
        ctx.proxy = registration.factory(ctx.plugin_context())
        await ctx.proxy.start()
    routes = RouteService(ctx.db, ctx.proxy, dashboard=_dashboard_route(app, config), secrets=ctx.secrets)
    ctx.services["routes"] = routes
    restored = await routes.restore()
    if restored:
        log.info("restored %d proxy routes", restored)
    for path in CORE_SERVICES:
        await _import(path)(app, ctx)
    ctx.plugins.notify("rivetr_on_startup", app=app)


def _dashboard_route(app: Quart, config: RivetrConfig) -> Any:
    """``[server] dashboard_domain`` → the API's address (``rivetr serve`` knows the bound socket's)."""
    from .routing import api_upstream, dashboard_route

    domain = config.server.dashboard_domain
    if not domain:
        return None
    if not config.proxy.enabled:
        log.warning("[server] dashboard_domain %s is ignored: the proxy is off ([proxy] enabled)", domain)
        return None
    if not config.proxy.acme_enabled:
        log.info(
            "[server] dashboard_domain %s: ACME is off, so it stays on plain HTTP until a certificate is "
            "uploaded (POST /api/certificates)",
            domain,
        )
    address = app.extensions.get("rivetr_api_address")
    if address is None and config.server.api_port:
        address = api_upstream(config.server.effective_api_host, config.server.api_port)
    if address is None:
        log.warning("[server] dashboard_domain is set but the API's address is unknown: no dashboard route")
    return dashboard_route(domain, address)


def _complete_models_on_first_use(app: Quart) -> None:
    """Build an endpoint's request, query and header models (deferred: ``rivetr_core.apimodel``) before its first
    request is validated. quart-schema validates through a new ``TypeAdapter`` on every request, and for a model
    not yet built that regenerates its whole schema each time (~0.2 ms a request, more than serving a cached page);
    built once, every later request reuses the model's validator. Idle memory is unchanged: nothing is built
    before a request needs it."""
    from pydantic import BaseModel
    from quart_schema.validation import (
        QUART_SCHEMA_HEADERS_ATTRIBUTE,
        QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
        QUART_SCHEMA_REQUEST_ATTRIBUTE,
    )

    done: set[str] = set()

    @app.before_request
    async def _complete() -> None:
        endpoint = request.endpoint
        if endpoint is None or endpoint in done:
            return
        done.add(endpoint)
        view = app.view_functions.get(endpoint)
        for attribute in (
            QUART_SCHEMA_REQUEST_ATTRIBUTE,
            QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
            QUART_SCHEMA_HEADERS_ATTRIBUTE,
        ):
            spec = getattr(view, attribute, None)
            model = spec[0] if isinstance(spec, tuple) else spec  # the request's is (model, source)
            if isinstance(model, type) and issubclass(model, BaseModel) and not model.__pydantic_complete__:
                model.model_rebuild()


def _install_request_id(app: Quart) -> None:
    @app.before_request
    async def _assign() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        request_id_var.set(incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8))

    @app.after_request
    async def _echo(response: Any) -> Any:
        response.headers["X-Request-Id"] = request_id_var.get()
        return response


__all__ = ["PluginError", "create_app"]
