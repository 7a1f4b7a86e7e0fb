"""Typed contracts between the Rivetr core and its plugins.

Two kinds of things live here:

* **Registrations** — small frozen dataclasses that registration hooks return (``rivetr_container_runtimes``
  returns ``[ContainerRuntimeRegistration(name="docker", factory=...)]``). A registration is cheap to build; the
  expensive object is made by ``factory(ctx)`` only when config selects it.
* **Protocols** — the async behaviour core expects from the objects those factories make
  (:class:`ContainerRuntime`, :class:`Builder`, :class:`GitProvider`, :class:`HealthCheck`,
  :class:`Notifier`, :class:`ProxyBackend`), plus the value types they exchange and the error types they raise.

Nothing here imports a plugin or a heavy library: plugins import this module, never the reverse.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .config import RivetrConfig
    from .secrets import SecretBox

S = TypeVar("S", bound="BaseModel")


# --------------------------------------------------------------------------------------------------- context
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


# ---------------------------------------------------------------------------------------------------- errors
class RivetrError(Exception):
    """Base of every error a plugin may raise on purpose. ``code`` is the machine-readable API error code."""

    code = "rivetr_error"
    status = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RuntimeUnavailable(RivetrError):
    """The container engine does not answer (socket missing, daemon stopped mid-way)."""

    code = "runtime_unavailable"
    status = 503


class BuildFailed(RivetrError):
    """An image build failed. ``log_tail`` holds the last lines of the build log."""

    code = "build_failed"
    status = 422

    def __init__(self, message: str, *, log_tail: list[str] | None = None, exit_code: int | None = None):
        super().__init__(message, details={"log_tail": log_tail or [], "exit_code": exit_code})
        self.log_tail = log_tail or []
        self.exit_code = exit_code


class ImageNotFound(RivetrError):
    """An image (a base image named in a Dockerfile, or one to run) is not present locally."""

    code = "image_not_found"
    status = 404


class ContainerNotFound(RivetrError):
    code = "container_not_found"
    status = 404


class PortInUse(RivetrError):
    """The requested host port is already bound."""

    code = "port_in_use"
    status = 409


class ProxyError(RivetrError):
    code = "proxy_error"
    status = 502


# ----------------------------------------------------------------------------------------- container runtime
@dataclass
class BuildSpec:
    """One image build. ``tag`` is always fully qualified: ``localhost/rivetr/<app>:<deployment>``."""

    context_dir: Path
    tag: str
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None  # CPUs, e.g. 0.5
    memory_limit: int | None = None  # bytes
    no_cache: bool = False
    #: Engine network the build's RUN steps use (None: the engine's default); fork previews build on an
    #: isolated one.
    network: str | None = None


@dataclass
class RunSpec:
    """One container to start. ``container_port`` is published on 127.0.0.1 at ``host_port`` (0 = any free).

    ``publish=False`` asks the runtime to leave the port unpublished when this host can reach the container
    at its own network address (rootful engines on Linux bridge networks); a runtime that cannot (rootless)
    publishes anyway. Either way :attr:`ContainerInfo.upstream` is where to connect. Unpublished ports skip
    the engine's port-forwarding set-up and tear-down (~60 ms per container on dockerd).
    """

    image: str
    name: str
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    container_port: int | None = None
    host_port: int = 0
    host_ip: str = "127.0.0.1"
    cpu_limit: float | None = None
    memory_limit: int | None = None
    pids_limit: int | None = None
    #: Log rotation (bytes per file x files) of the engine's file log driver; None: the engine's own logging.
    log_max_size: int | None = None
    log_max_files: int | None = None
    #: Raised OOM score (0-1000) so the kernel kills this container before Rivetr or the engine.
    oom_score_adj: int | None = None
    restart_policy: Literal["no", "on-failure", "always", "unless-stopped"] = "no"
    init: bool = True
    network: str | None = None
    command: list[str] | None = None
    publish: bool = True


@dataclass
class ContainerInfo:
    id: str
    name: str
    image: str
    status: str  # engine status word: created, running, exited, paused, dead, …
    running: bool
    exit_code: int | None = None
    health: str | None = None  # healthy / unhealthy / starting / None when no HEALTHCHECK
    host_port: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    #: ``ip:port`` of the container port on the container's own network (set when it is not published).
    address: str | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    limits: dict[str, Any] = field(default_factory=dict)  # cpu (CPUs), memory (bytes), pids

    @property
    def upstream(self) -> str | None:
        """Where this host connects to the container port: the published loopback port, else ``address``."""
        if self.host_port:
            return f"127.0.0.1:{self.host_port}"
        return self.address


@dataclass
class LogLine:
    line: str
    stream: Literal["stdout", "stderr"] = "stdout"
    ts: datetime | None = None


@dataclass
class ContainerStats:
    container_id: str
    cpu_percent: float
    memory_used: int
    memory_limit: int
    net_rx: int
    net_tx: int
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ExecResult:
    exit_code: int
    output: str


@dataclass
class RuntimeInfo:
    name: str  # "docker" / "podman"
    version: str
    api_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PruneResult:
    images_deleted: int = 0
    space_reclaimed: int = 0  # bytes


@runtime_checkable
class ExecSession(Protocol):
    """An interactive exec (a TTY in the container), for the browser terminal."""

    async def write(self, data: bytes) -> None: ...
    async def read(self) -> bytes:
        """Next chunk of output; ``b""`` once the process has exited and all output was read."""
        ...

    async def resize(self, rows: int, cols: int) -> None: ...
    async def close(self) -> None: ...


@runtime_checkable
class ContainerRuntime(Protocol):
    """A container engine. Every method is async and never blocks the event loop."""

    name: str

    async def ping(self) -> bool: ...
    async def info(self) -> RuntimeInfo: ...
    def build(self, spec: BuildSpec) -> AsyncIterator[str]:
        """Yield build-log lines as they happen; raise :class:`BuildFailed` (with the log tail) on failure and
        :class:`ImageNotFound` within seconds when a ``localhost/`` base image is missing."""
        ...

    async def image_exists(self, image: str) -> bool: ...
    async def run(self, spec: RunSpec) -> ContainerInfo: ...
    async def stop(self, container_id: str, timeout: float = 10) -> None: ...
    async def remove(self, container_id: str, force: bool = True) -> None: ...
    async def inspect(self, container_id: str) -> ContainerInfo: ...
    async def list(
        self, labels: Mapping[str, str] | None = None, all: bool = True
    ) -> list[ContainerInfo]: ...
    def logs(
        self, container_id: str, tail: int = 100, follow: bool = False, since: datetime | None = None
    ) -> AsyncIterator[LogLine]: ...
    async def stats(self, container_id: str) -> ContainerStats: ...
    async def stats_many(self, container_ids: builtins.list[str]) -> dict[str, ContainerStats]: ...
    async def exec(
        self, container_id: str, cmd: builtins.list[str], env: dict[str, str] | None = None
    ) -> ExecResult: ...
    async def exec_interactive(
        self, container_id: str, cmd: builtins.list[str] | None = None, rows: int = 24, cols: int = 80
    ) -> ExecSession: ...
    async def remove_image(self, image: str, force: bool = False) -> None: ...
    async def list_images(self, labels: Mapping[str, str] | None = None) -> builtins.list[str]: ...
    async def prune(self, labels: Mapping[str, str], *, build_cache: bool = False) -> PruneResult:
        """Delete the dangling images carrying every one of ``labels`` (a build's leftovers: superseded
        tags, stages, failed steps); never an unlabelled one. ``build_cache``: also empty the engine's build
        cache, which is shared by every program on the engine (a no-op where there is none)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ContainerRuntimeRegistration:
    """``name`` is what ``[runtime] runtime_type`` selects. With ``runtime_type = "auto"`` core tries the
    registrations by ascending ``auto_priority`` and takes the first whose runtime answers ``ping()``."""

    name: str
    factory: Callable[[PluginContext], ContainerRuntime]
    description: str = ""
    auto_priority: int = 100


# --------------------------------------------------------------------------------------------------- builder
@dataclass
class BuildRequest:
    """What the pipeline asks a builder for: turn ``source_dir`` into image ``tag``."""

    source_dir: Path
    tag: str
    dockerfile: str = "Dockerfile"
    build_context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    cpu_limit: float | None = None
    memory_limit: int | None = None
    network: str | None = None  # engine network of the build (see BuildSpec.network)


@runtime_checkable
class Builder(Protocol):
    name: str

    def detect(self, source_dir: Path, request: BuildRequest) -> bool:
        """Cheap, synchronous: can this builder build this source tree?"""
        ...

    def build(self, request: BuildRequest, runtime: ContainerRuntime) -> AsyncIterator[str]:
        """Yield log lines; raise :class:`BuildFailed` on failure."""
        ...


@dataclass(frozen=True)
class BuilderRegistration:
    name: str
    factory: Callable[[PluginContext], Builder]
    description: str = ""
    priority: int = 100  # lower is tried first when no builder is named


# ---------------------------------------------------------------------------------------------- git provider
@dataclass
class WebhookEvent:
    """A provider webhook, normalised by :meth:`GitProvider.parse_webhook`.

    ``kind`` is push / tag / pull_request / ping / other. For pushes ``ref`` is the branch (or tag) name
    without ``refs/heads/`` (``refs/tags/``) and ``commit_sha`` the new head; ``deleted`` marks a branch or
    tag deletion (nothing to deploy). For pull/merge requests ``ref`` is the *base* (target) branch,
    ``commit_sha`` the head commit, ``pr_head_ref`` the source branch, and ``pr_is_fork`` is True when the
    head lives in another repository than the base (a fork's PR never receives secrets).
    """

    provider: str
    kind: Literal["push", "tag", "pull_request", "ping", "other"]
    delivery_id: str | None
    repo_urls: list[str] = field(default_factory=list)  # every clone URL the payload names
    ref: str | None = None  # branch or tag name (no refs/heads/ prefix)
    commit_sha: str | None = None
    commit_message: str | None = None
    pr_number: int | None = None
    pr_action: Literal["opened", "updated", "closed", "merged", "other"] | None = None
    pr_head_repo_url: str | None = None
    pr_is_fork: bool = False
    raw_event: str | None = None
    # Optional: a provider that leaves them unset still works.
    repo_full_name: str | None = None  # "owner/name" (GitLab: "group/sub/name"); the API path of the repo
    repo_id: str | None = None  # provider's numeric/uuid id of the (base) repository, when given
    deleted: bool = False  # push that deletes the branch/tag
    pr_head_ref: str | None = None  # source branch of a pull/merge request
    pr_title: str | None = None
    sender: str | None = None  # login of whoever triggered the event


@dataclass
class RepoInfo:
    full_name: str
    clone_url: str
    default_branch: str
    private: bool = False
    ssh_url: str | None = None
    id: str | None = None  # provider's repository id (GitLab project id: needed for its API paths)
    web_url: str | None = None
    description: str | None = None
    updated_at: str | None = None  # ISO 8601 as the provider gave it


@dataclass
class BranchInfo:
    name: str
    commit_sha: str | None = None
    protected: bool = False


@dataclass
class RepoPage:
    """One page of a repository listing. ``has_next`` says whether page + 1 has more."""

    repos: list[RepoInfo]
    page: int
    per_page: int
    has_next: bool


@dataclass
class GitAccountInfo:
    """The user an OAuth token belongs to, as the provider reports it."""

    remote_id: str
    login: str
    name: str | None = None
    email: str | None = None
    avatar_url: str | None = None


@dataclass
class OAuthEndpoints:
    """Where a provider's OAuth 2 flow and REST API live, resolved from ``[oauth.<name>]`` base URLs
    (GitHub Enterprise, self-managed GitLab)."""

    authorize_url: str
    token_url: str
    api_url: str  # REST API root, no trailing slash
    scopes: list[str] = field(default_factory=list)
    #: How the token authenticates an HTTPS clone: ``https://<clone_username>:<token>@host/...``
    clone_username: str = "oauth2"


class GitApiError(RivetrError):
    """The git host's API refused or failed a call (``status`` is the host's HTTP status when known)."""

    code = "git_provider_error"
    status = 502

    def __init__(self, message: str, *, host_status: int | None = None) -> None:
        super().__init__(message, details={"host_status": host_status})
        self.host_status = host_status


@runtime_checkable
class GitProvider(Protocol):
    """A git host: verifies and parses its webhooks, and (when connected by OAuth) browses repositories.

    Both methods are pure and synchronous. ``verify_webhook`` compares in constant time and returns False
    (never raises) on a missing or malformed signature; ``parse_webhook`` raises ``ValueError`` on a body
    it cannot understand. Headers are looked up case-insensitively by the caller's mapping.
    """

    name: str

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


@runtime_checkable
class GitHostApi(Protocol):
    """Optional OAuth + REST side of a :class:`GitProvider` (connected accounts, repository browser, PR
    comments). Core checks ``isinstance(provider, GitHostApi)`` before offering OAuth for it.

    ``client`` is an ``httpx.AsyncClient`` (in practice authlib's ``AsyncOAuth2Client``, which adds the bearer
    token and refreshes it when expired); provider methods only build requests and parse responses, and raise
    :class:`GitApiError` when the host answers with an error.
    """

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints: ...
    async def current_user(self, client: Any, api_url: str) -> GitAccountInfo: ...
    async def list_repos(
        self, client: Any, api_url: str, *, page: int = 1, per_page: int = 30, search: str | None = None
    ) -> RepoPage: ...
    async def list_branches(
        self, client: Any, api_url: str, repo: str, *, page: int = 1, per_page: int = 100
    ) -> list[BranchInfo]: ...
    async def upsert_pr_comment(
        self, client: Any, api_url: str, repo: str, number: int, body: str, comment_id: str | None
    ) -> str:
        """Create a comment on PR/MR ``number`` of ``repo`` (full name or project id), or edit
        ``comment_id`` when given and still present. Returns the comment id (to edit it next time)."""
        ...


@dataclass(frozen=True)
class GitProviderRegistration:
    name: str
    factory: Callable[[PluginContext], GitProvider]
    description: str = ""


# ---------------------------------------------------------------------------------------------- health check
@dataclass
class HealthTarget:
    """One probe of a new container. ``host:port`` is where this host reaches the app port; ``timeout`` bounds
    one attempt (core also cancels a check that overruns it).

    ``options`` are the app's ``health_check`` options for this check (``{"kind": "command", "command": [...]}``
    gives ``{"command": [...]}``; a plugin check gets whatever JSON the app set). ``runtime`` and
    ``container_id`` let a check look inside the container (``await target.runtime.exec(target.container_id,
    argv)``); both are set by the pipeline.
    """

    host: str
    port: int
    path: str = "/"
    expected_status: int | None = None  # None: any 2xx/3xx
    timeout: float = 5.0
    host_header: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    container_id: str | None = None
    runtime: ContainerRuntime | None = None


@dataclass
class HealthResult:
    ok: bool
    detail: str = ""
    latency_ms: float | None = None
    status_code: int | None = None


@runtime_checkable
class HealthCheck(Protocol):
    """Selected by an app's ``health_check.kind`` (its registration name); the pipeline calls ``check`` until
    it returns ``ok`` or the app's retries run out. Return a failed result rather than raising."""

    name: str

    async def check(self, target: HealthTarget) -> HealthResult: ...


@dataclass(frozen=True)
class HealthCheckRegistration:
    name: str
    factory: Callable[[PluginContext], HealthCheck]
    description: str = ""


# -------------------------------------------------------------------------------------------------- notifier
@dataclass
class RivetrEvent:
    """A lifecycle event. ``type`` examples: deployment_started, deployment_succeeded, deployment_failed,
    rollback, container_crashed, container_restarted, certificate_issued, certificate_failed, disk_warning."""

    type: str
    message: str = ""
    app_id: str | None = None
    app_name: str | None = None
    deployment_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    level: Literal["info", "success", "warning", "failure"] = "info"


@runtime_checkable
class Notifier(Protocol):
    name: str

    async def send(self, url: str, event: RivetrEvent) -> None:
        """Deliver one event to one channel URL; raise on failure (core retries and records)."""
        ...


@dataclass(frozen=True)
class NotifierRegistration:
    name: str
    factory: Callable[[PluginContext], Notifier]
    description: str = ""


# --------------------------------------------------------------------------------------------- proxy backend
@dataclass
class Route:
    """A host name (exact, or ``*.example.com``) served by one or more upstreams ``host:port``."""

    domain: str
    upstreams: list[str]
    https_redirect: bool = False
    hsts: bool = False
    app_id: str | None = None


@dataclass
class UpstreamStatus:
    address: str
    healthy: bool
    active_requests: int = 0
    detail: str = ""


@dataclass
class RouteStatus:
    domain: str
    upstreams: list[UpstreamStatus]
    https_redirect: bool = False
    hsts: bool = False
    has_certificate: bool = False


@runtime_checkable
class ProxyBackend(Protocol):
    """The data plane as seen from core. Route changes are atomic; removing an upstream from a route starts
    draining it, and :meth:`wait_drained` tells the pipeline when it may stop the old container."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def status(self) -> dict[str, Any]:
        """At least ``{"ok": bool}``."""
        ...

    async def set_route(self, route: Route) -> None: ...
    async def replace_routes(self, routes: list[Route]) -> None:
        """Atomically make ``routes`` the whole table (those not listed are removed). Core calls it at start-up
        with its database's routes: the control plane is the source of truth."""
        ...

    async def remove_route(self, domain: str) -> None: ...
    async def routes(self) -> list[RouteStatus]: ...
    async def wait_drained(self, upstream: str, timeout: float) -> bool:
        """True once no request or WebSocket uses ``upstream`` any more (False on timeout)."""
        ...

    async def set_certificate(self, domain: str, cert_pem: str, key_pem: str) -> None: ...
    async def remove_certificate(self, domain: str) -> None: ...
    async def set_acme_challenge(self, token: str, key_authorization: str) -> None: ...
    async def remove_acme_challenge(self, token: str) -> None: ...


@dataclass(frozen=True)
class ProxyBackendRegistration:
    name: str
    factory: Callable[[PluginContext], ProxyBackend]
    description: str = ""


# ------------------------------------------------------------------------------------------------ blueprints
@dataclass(frozen=True)
class BlueprintRegistration:
    """Routes a plugin adds to the control plane. Every ``/api/*`` route requires the admin token."""

    name: str
    blueprint: Any  # quart.Blueprint (typed loosely so this module stays import-light)
    url_prefix: str | None = None


# ---------------------------------------------------------------------------------------------- plugin config
@dataclass(frozen=True)
class ConfigModelRegistration:
    """The settings model of a plugin's own ``[plugins.<name>]`` section.

    ``name`` is the plugin's entry-point name (what ``rivetr plugins list`` shows); ``model`` a pydantic model,
    best with ``extra="forbid"`` so a typo is an error naming ``plugins.<name>.<key>``. Its field descriptions
    and defaults appear in ``rivetr.example.toml`` and docs/configuration.md; every key can be set from the
    environment as ``RIVETR_PLUGINS__<NAME>__<KEY>`` (dashes in the name written as underscores). The
    plugin's factories receive the validated instance as ``ctx.settings``.
    """

    name: str
    model: type[BaseModel]
