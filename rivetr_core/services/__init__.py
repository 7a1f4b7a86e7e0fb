"""Core's services, and the typed container on the context that holds them (``ctx.services``).

A service owns the business rules of one kind of resource: it validates what needs the database or the
installed plugins, writes, keeps the proxy's routes in step and tells plugins (events, ``rivetr_on_*`` hooks).
It raises domain errors (:mod:`rivetr_core.contract.errors`: ``NotFound``, ``Conflict``, ``ValidationFailed``...)
and imports nothing from Quart, so the API, the dashboard, webhooks and PR previews share it, and a test can
call it without a request. ``rivetr_core.errors`` maps those errors to HTTP in one place.

* :mod:`.apps` — :class:`~.apps.AppService` (``ctx.services.apps``): create, update, delete and deploy apps.
* :mod:`.volumes` — :class:`~.volumes.VolumeService` (``ctx.services.volumes``): an app's volumes and binds.
* :mod:`.backups` — :class:`~.backups.BackupService` (``ctx.services.backups``): backup destinations, runs,
  restores and schedules.
* :mod:`.managed` — :class:`~.managed.ServiceService` (``ctx.services.managed``): managed services (databases,
  one-click services): create, upgrade, start/stop, delete, credentials, logs, start-up reconcile.
* :mod:`.stacks` — :class:`~.stacks.StackService` (``ctx.services.stacks``): compose stacks: create, deploy,
  roll back, delete, their services' status and logs, project networks' members, start-up recovery.
* :mod:`.registries` — :class:`~.registries.RegistryService` (``ctx.services.registries``): container registry
  credentials (checked by a login, password encrypted), the pulls of image apps use them.
* :mod:`.teams` — :class:`~.teams.TeamService` (``ctx.services.teams``): teams, which own projects, and their
  members' roles (the last owner kept, a team owning projects not deletable).
* :mod:`.projects` — :class:`~.projects.ProjectService` (``ctx.services.projects``): projects that group apps.
* :mod:`.ssh_keys` — :class:`~.ssh_keys.SshKeyService` (``ctx.services.ssh_keys``): deploy keys for SSH clones.
* :mod:`.health` — :class:`~.health.HealthService` (``ctx.services.health``): the components' health, cached.
* ``ctx.services.known_hosts`` — :class:`rivetr_core.knownhosts.KnownHostsStore`: pinned SSH host keys.
* :mod:`.certificates` — :class:`~.certificates.CertificateService` (``ctx.services.tls``): TLS certificates
  through the API (uploads, renewals); the ACME manager behind it is ``ctx.services.certificates``.
* :mod:`.system` — :class:`~.system.SystemService` (``ctx.services.system``): resource history, cleanup now.
* :mod:`.nodes` — :class:`~.nodes.NodeService` (``ctx.services.nodes``): the runtime's nodes, drain, labels.

:class:`Services` names every long-lived service of the control plane as a typed attribute. Services that start
with the server (the pipeline, certificates, notifications...) are set by their area's ``start`` (see
``CORE_SERVICES`` in ``rivetr_core.app``); reading one that has not started raises ``AttributeError``, and
``ctx.services.get(name)`` answers None for it. ``ctx.services["name"]`` (get and set) remains an alias of the
attribute for older call sites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the services import models, the pipeline and SDK glue: only for the type checker here
    from rivetr_core.accounts.service import AccountService
    from rivetr_core.cleanup.service import CleanupService
    from rivetr_core.engine.service import DeploymentService
    from rivetr_core.gitproviders.accounts import GitAccountService
    from rivetr_core.history.sampler import MetricsSampler
    from rivetr_core.knownhosts import KnownHostsStore
    from rivetr_core.metrics.registry import RivetrMetrics
    from rivetr_core.notify.service import NotificationService
    from rivetr_core.routing import RouteService
    from rivetr_core.scheduler.service import Scheduler
    from rivetr_core.tls.manager import CertificateManager
    from rivetr_core.webhooks.previews import PreviewService
    from rivetr_core.webhooks.service import WebhookService

    from .apps import AppService
    from .backups import BackupService
    from .certificates import CertificateService
    from .health import HealthService
    from .managed import ServiceService
    from .nodes import NodeService
    from .projects import ProjectService
    from .registries import RegistryService
    from .ssh_keys import SshKeyService
    from .stacks import StackService
    from .system import SystemService
    from .teams import TeamService
    from .volumes import VolumeService


class Services:
    """The control plane's services by name. Attributes are unset until their area starts them."""

    apps: AppService
    volumes: VolumeService
    backups: BackupService
    managed: ServiceService
    stacks: StackService
    registries: RegistryService
    teams: TeamService
    projects: ProjectService
    ssh_keys: SshKeyService
    known_hosts: KnownHostsStore
    health: HealthService
    tls: CertificateService
    system: SystemService
    routes: RouteService
    deployments: DeploymentService
    certificates: CertificateManager
    webhooks: WebhookService
    git_accounts: GitAccountService
    previews: PreviewService
    notifications: NotificationService
    metrics: RivetrMetrics
    sampler: MetricsSampler
    cleanup: CleanupService
    accounts: AccountService
    scheduler: Scheduler
    nodes: NodeService

    #: Every name the container holds; the string-key alias accepts only these (a typo is a KeyError, not a
    #: new service nobody reads).
    NAMES: ClassVar[tuple[str, ...]] = (
        "apps",
        "volumes",
        "backups",
        "managed",
        "stacks",
        "registries",
        "teams",
        "projects",
        "ssh_keys",
        "known_hosts",
        "health",
        "tls",
        "system",
        "routes",
        "deployments",
        "certificates",
        "webhooks",
        "git_accounts",
        "previews",
        "notifications",
        "metrics",
        "sampler",
        "cleanup",
        "accounts",
        "scheduler",
        "nodes",
    )

    def __init__(self) -> None:
        #: Services built on first use (name → factory): feature code an idle control plane never runs, so
        #: its modules, tables and models stay unloaded until the feature is used.
        self._lazy: dict[str, Callable[[], Any]] = {}

    def lazy(self, name: str, factory: Callable[[], Any]) -> None:
        """Register ``name`` to be built by ``factory`` the first time anything reads it."""
        if name not in self.NAMES:
            raise KeyError(f"{name!r} is not a service of the control plane (known: {', '.join(self.NAMES)})")
        self._lazy[name] = factory

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute that is not set: build a lazy service now, once.
        factory = self.__dict__.get("_lazy", {}).pop(name, None)
        if factory is None:
            raise AttributeError(name)
        service = factory()
        setattr(self, name, service)
        return service

    def _has(self, name: str) -> bool:
        return name in self.NAMES and (name in self.__dict__ or name in self._lazy)

    def get(self, name: str, default: Any = None) -> Any:
        """The service called ``name``, or ``default`` while it is not started (or no such name exists)."""
        return getattr(self, name) if self._has(name) else default

    def __getitem__(self, name: str) -> Any:
        if not self._has(name):
            raise KeyError(name)
        return getattr(self, name)

    def __setitem__(self, name: str, service: Any) -> None:
        if name not in self.NAMES:
            raise KeyError(f"{name!r} is not a service of the control plane (known: {', '.join(self.NAMES)})")
        setattr(self, name, service)

    def pop(self, name: str, *default: Any) -> Any:
        """Take a service out (a test stops "the pipeline" this way); KeyError without ``default``."""
        if self._has(name):
            service = getattr(self, name)
            del self.__dict__[name]
            return service
        if default:
            return default[0]
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._has(name)


__all__ = ["Services"]
