"""The per-app service container: config, plugin manager, database, secrets, runtime, proxy, background tasks.

Kept in ``app.extensions["rivetr_ctx"]`` (no module globals). Request handlers reach it with :func:`rivetr`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from quart import current_app

from .config import RivetrConfig
from .contract import ContainerRuntime, PluginContext, ProxyBackend, RivetrEvent, RuntimeUnavailable
from .db import Database
from .knownhosts import KnownHostsStore
from .plugins import PluginError, RivetrPluginManager
from .secrets import SecretBox
from .services import Services
from .services.apps import AppService
from .services.certificates import CertificateService
from .services.health import HealthService
from .services.projects import ProjectService
from .services.ssh_keys import SshKeyService
from .services.system import SystemService
from .services.volumes import VolumeService

log = logging.getLogger("rivetr.core")


@dataclass
class RivetrContext:
    config: RivetrConfig
    plugins: RivetrPluginManager
    db: Database
    secrets: SecretBox
    admin_token: str
    proxy: ProxyBackend | None = None
    #: Why the last runtime selection failed (the dashboard shows it); None once an engine answers.
    runtime_error: str | None = None
    _runtime: ContainerRuntime | None = None
    _runtime_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    #: The long-lived services, typed (``ctx.services.deployments``); ``ctx.services["deployments"]`` is an
    #: alias. Areas that start with the server set theirs; ``apps`` is there from the start.
    services: Services = field(default_factory=Services)

    def __post_init__(self) -> None:
        self.services.apps = AppService(self)
        self.services.volumes = VolumeService(self)
        self.services.lazy("backups", self._backup_service)
        self.services.lazy("managed", self._managed_service)
        self.services.lazy("stacks", self._stack_service)
        self.services.lazy("registries", self._registry_service)
        self.services.lazy("teams", self._team_service)
        self.services.lazy("nodes", self._node_service)
        self.services.projects = ProjectService(self)
        self.services.ssh_keys = SshKeyService(self)
        self.services.known_hosts = KnownHostsStore(self.db)
        self.services.health = HealthService(self)
        self.services.tls = CertificateService(self)
        self.services.system = SystemService(self)

    def _backup_service(self) -> Any:
        """Backups are feature code (service, tables, worker glue) that an idle control plane never runs: it
        loads with the first backup request, schedule or start-up recovery that needs it."""
        from .services.backups import BackupService

        return BackupService(self)

    def _managed_service(self) -> Any:
        """Managed services (databases, one-click services): feature code loaded with the first request, page
        or start-up reconcile that needs it (the server checks the services table with raw SQL first)."""
        from .services.managed import ServiceService

        return ServiceService(self)

    def _stack_service(self) -> Any:
        """Compose stacks: feature code (YAML, the compose schema, the stack engine) loaded with the first stack
        request, page or start-up recovery that finds one."""
        from .services.stacks import StackService

        return StackService(self)

    def _registry_service(self) -> Any:
        """Registry credentials: loaded with the first registries request or image app pull."""
        from .services.registries import RegistryService

        return RegistryService(self)

    def _team_service(self) -> Any:
        """Teams and members: loaded with the first teams request."""
        from .services.teams import TeamService

        return TeamService(self)

    def _node_service(self) -> Any:
        """The runtime's nodes (``/api/nodes``, the Server page's Nodes panel): loaded with the first use."""
        from .services.nodes import NodeService

        return NodeService(self)

    # ------------------------------------------------------------------------------------------- plugins
    def plugin_context(self) -> PluginContext:
        """The context handed to a registration's factory. The plugin manager scopes it per plugin on the
        way in (each factory is bound to its plugin), so a plugin sees only its own ``[plugins.<name>]``
        section, validated, as ``ctx.settings``."""
        return PluginContext(
            config=self.config,
            data_dir=self.config.server.data_dir,
            secrets=self.secrets,
            logger=logging.getLogger("rivetr.plugin"),
            emit=self.emit,
            registry_auth=self._registry_auth,
        )

    async def _registry_auth(self, server: str) -> dict[str, str] | None:
        """The credentials stored for ``server`` (:attr:`PluginContext.registry_auth`)."""
        auth: dict[str, str] | None = await self.services.registries.auth_for(server)
        return auth

    def emit(self, event: RivetrEvent) -> None:
        self.plugins.emit(event)

    # ------------------------------------------------------------------------------------------- runtime
    async def runtime(self) -> ContainerRuntime:
        """The active container runtime, selected by ``[runtime] runtime_type`` on first use.

        Raises :class:`RuntimeUnavailable` with what was tried when no engine answers.
        """
        if self._runtime is not None:
            return self._runtime
        async with self._runtime_lock:
            if self._runtime is None:
                try:
                    from .runtime_select import select_runtime

                    self._runtime = await select_runtime(
                        self.plugins.container_runtimes(),
                        self.plugin_context(),
                        self.config.runtime.runtime_type,
                    )
                    self.runtime_error = None
                except (RuntimeUnavailable, PluginError, ImportError) as exc:
                    self.runtime_error = str(exc)
                    raise RuntimeUnavailable(str(exc)) from exc
        return self._runtime

    def runtime_if_ready(self) -> ContainerRuntime | None:
        return self._runtime

    # ------------------------------------------------------------------------------------------- tasks
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run a background task that shutdown cancels; its crash is logged, never silent. It runs without the
        request's team restriction (the pipeline, backups and service operations read server-level rows)."""
        from .authz.visibility import background_context

        task = asyncio.get_running_loop().create_task(coro, name=name, context=background_context())
        self._tasks.add(task)

        def _done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s crashed", name, exc_info=t.exception())

        task.add_done_callback(_done)
        return task

    async def stop_tasks(self, timeout: float = 5.0) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self) -> None:
        await self.stop_tasks()
        if self._runtime is not None:
            try:
                await self._runtime.close()
            except Exception:
                log.warning("closing the runtime failed", exc_info=True)
        await self.db.close()


def rivetr() -> RivetrContext:
    """The context of the app serving the current request."""
    ctx: RivetrContext = current_app.extensions["rivetr_ctx"]
    return ctx
