"""Every hook a Rivetr plugin can implement (the author's guide, with an example per capability: docs/plugins.md).

Rules: hooks are synchronous and cheap. Registration hooks (plural nouns) return a list of
registration objects from :mod:`rivetr_core.contract`; the async work lives in the objects their factories
build. Event hooks (``rivetr_on_<event>``) are notifications: they must return quickly and must not raise
(core logs and swallows exceptions from them so one plugin cannot break a deployment). To do async work from
an event hook, schedule a task with ``asyncio.get_running_loop().create_task(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .contract import (
        BlueprintRegistration,
        BuilderRegistration,
        ConfigModelRegistration,
        ContainerRuntimeRegistration,
        GitProviderRegistration,
        HealthCheckRegistration,
        NotifierRegistration,
        ProxyBackendRegistration,
        RivetrEvent,
        TemplateRegistration,
    )

PROJECT_NAME = "rivetr"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# ------------------------------------------------------------------------------------------- registrations
@hookspec
def rivetr_container_runtimes() -> list[ContainerRuntimeRegistration]:
    """Container engines this plugin provides.

    Returns: a list of :class:`~rivetr_core.contract.ContainerRuntimeRegistration`; ``name`` is what
    ``[runtime] runtime_type`` selects.

    Example::

        @hookimpl
        def rivetr_container_runtimes():
            return [ContainerRuntimeRegistration(name="docker", factory=DockerRuntime.from_context)]
    """


@hookspec
def rivetr_builders() -> list[BuilderRegistration]:
    """Image builders (turn a source tree into an image with a runtime).

    Returns: a list of :class:`~rivetr_core.contract.BuilderRegistration`. An app's ``builder`` names one (then
    only that one's ``detect()`` is asked) or is ``"auto"`` (every builder's ``detect()`` by ``priority``).

    Example::

        @hookimpl
        def rivetr_builders():
            return [BuilderRegistration(name="dockerfile", factory=lambda ctx: DockerfileBuilder())]
    """


@hookspec
def rivetr_git_providers() -> list[GitProviderRegistration]:
    """Git hosts: webhook verification/parsing, OAuth connect and repository browsing.

    Returns: a list of :class:`~rivetr_core.contract.GitProviderRegistration`; ``name`` matches the webhook path
    ``/webhooks/<name>`` and the ``[oauth.<name>]`` config section.

    Example::

        @hookimpl
        def rivetr_git_providers():
            return [GitProviderRegistration(name="github", factory=GitHubProvider.from_context)]
    """


@hookspec
def rivetr_health_checks() -> list[HealthCheckRegistration]:
    """Health checks the pipeline can run against a new container before switching traffic to it.

    Returns: a list of :class:`~rivetr_core.contract.HealthCheckRegistration`; ``name`` is what an app selects with
    ``health_check = {"kind": name, ...options}`` (core ships ``http``, ``tcp`` and ``command``). The check
    receives the app's options as :attr:`~rivetr_core.contract.HealthTarget.options`.

    Example::

        @hookimpl
        def rivetr_health_checks():
            return [HealthCheckRegistration(name="grpc", factory=lambda ctx: GrpcCheck())]
    """


@hookspec
def rivetr_notifiers() -> list[NotifierRegistration]:
    """Notification channels (deliver :class:`~rivetr_core.contract.RivetrEvent` to a URL).

    Returns: a list of :class:`~rivetr_core.contract.NotifierRegistration`.

    Example::

        @hookimpl
        def rivetr_notifiers():
            return [NotifierRegistration(name="apprise", factory=lambda ctx: AppriseNotifier())]
    """


@hookspec
def rivetr_proxy_backends() -> list[ProxyBackendRegistration]:
    """Reverse-proxy data planes; ``[proxy] backend`` selects one by name.

    Returns: a list of :class:`~rivetr_core.contract.ProxyBackendRegistration`.

    Example::

        @hookimpl
        def rivetr_proxy_backends():
            return [ProxyBackendRegistration(name="builtin", factory=BuiltinProxy.from_context)]
    """


@hookspec
def rivetr_blueprints() -> list[BlueprintRegistration]:
    """Quart blueprints a plugin adds to the control plane (API routes, webhooks, pages).

    Returns: a list of :class:`~rivetr_core.contract.BlueprintRegistration`. Routes under ``/api/`` are
    protected by the admin token like core's own.

    Example::

        @hookimpl
        def rivetr_blueprints():
            return [BlueprintRegistration(name="github-webhooks", blueprint=bp)]
    """


@hookspec
def rivetr_config_models() -> list[ConfigModelRegistration]:
    """The settings model of this plugin's ``[plugins.<entry-point name>]`` config section.

    Returns: a list of :class:`~rivetr_core.contract.ConfigModelRegistration` (one, named after the plugin's own
    entry point). The section is validated with the rest of the config at start (unknown keys are errors),
    documented in the generated config reference, and handed to this plugin's factories as ``ctx.settings``.

    Example::

        class Settings(BaseModel):
            model_config = ConfigDict(extra="forbid")
            url: str = Field("http://localhost:9000", description="Where the service listens.")

        @hookimpl
        def rivetr_config_models():
            return [ConfigModelRegistration(name="my-plugin", model=Settings)]
    """


@hookspec
def rivetr_templates() -> list[TemplateRegistration]:
    """Service templates this plugin adds to the catalogue (one-click databases and apps; docs/templates.md).

    Returns: a list of :class:`~rivetr_core.contract.TemplateRegistration`, each naming a TOML file (``path``)
    or holding its text (``text``); ``name`` is what ``POST /api/services`` takes as ``type``. Core parses them
    on first use of the catalogue; a broken file or a name already taken is reported (``GET /api/templates``
    ``errors``), the rest of the catalogue still loads.

    Example::

        @hookimpl
        def rivetr_templates():
            here = Path(__file__).parent
            return [TemplateRegistration(name="plausible", path=here / "plausible.toml")]
    """


# ------------------------------------------------------------------------------------------------- events
@hookspec
def rivetr_on_startup(app: Any) -> None:
    """The control plane has started (DB migrated, runtime and proxy selected). ``app`` is the Quart app.

    Example::

        @hookimpl
        def rivetr_on_startup(app):
            app.logger.info("my plugin is ready")
    """


@hookspec
def rivetr_on_shutdown(app: Any) -> None:
    """The control plane is stopping (called before the DB closes). ``app`` is the Quart app.

    Example::

        @hookimpl
        def rivetr_on_shutdown(app):
            my_cache.clear()
    """


@hookspec
def rivetr_on_app_created(app_id: str, name: str) -> None:
    """An app was created through the API or the dashboard.

    Example::

        @hookimpl
        def rivetr_on_app_created(app_id, name):
            print("new app", name)
    """


@hookspec
def rivetr_on_app_deleted(app_id: str, name: str) -> None:
    """An app and all its containers, routes and images were removed.

    Example::

        @hookimpl
        def rivetr_on_app_deleted(app_id, name):
            print("gone", name)
    """


@hookspec
def rivetr_on_deployment_status(deployment_id: str, app_id: str, status: str, error: str | None) -> None:
    """A deployment changed status (queued, cloning, building, …, running, failed, cancelled, …).

    Example::

        @hookimpl
        def rivetr_on_deployment_status(deployment_id, app_id, status, error):
            if status == "failed":
                print(deployment_id, error)
    """


@hookspec
def rivetr_on_event(event: RivetrEvent) -> None:
    """Any lifecycle event (deployment succeeded/failed, rollback, container crashed, certificate issued or
    failed, disk warning…). Notifiers subscribe here.

    Example::

        @hookimpl
        def rivetr_on_event(event):
            if event.type == "certificate_failed":
                print(event.message)
    """
