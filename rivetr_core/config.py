"""Configuration: a TOML file (``rivetr serve --config PATH`` or ``RIVETR_CONFIG``) plus environment overrides.

Every key can be overridden by ``RIVETR_<SECTION>__<KEY>`` (``RIVETR_SERVER__API_PORT=9000``); environment
wins over the file, the file over defaults. Unknown keys are errors, so a typo never silently does nothing.
``rivetr.example.toml`` documents every key; a test checks it against this model.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .units import parse_cpus, parse_size


def _networks(entries: list[str]) -> list[str]:
    """Addresses or CIDRs, checked at load so a typo is a config error rather than a crash later."""
    import ipaddress

    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return entries


_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)

LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: Keys that moved from a core section into a plugin's ``[plugins.<name>]`` section: (section, key) →
#: (plugin, key). The old keys keep working for one release (mapped onto the new ones, with a warning).
MOVED_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("runtime", "docker_socket"): ("runtime-docker", "socket"),
    ("runtime", "podman_socket"): ("runtime-podman", "socket"),
    ("webhooks", "github_secret"): ("git-github", "github_webhook_secret"),
    ("webhooks", "gitea_secret"): ("git-github", "gitea_webhook_secret"),
    ("webhooks", "gitlab_token"): ("git-gitlab", "webhook_token"),
    ("webhooks", "bitbucket_secret"): ("git-bitbucket", "webhook_secret"),
    **{
        ("proxy", key): ("proxy-builtin", key)
        for key in (
            "workers",
            "max_header_size",
            "max_body_size",
            "header_timeout",
            "upstream_connect_timeout",
            "upstream_read_timeout",
            "idle_timeout",
            "health_interval",
            "health_timeout",
            "health_threshold",
            "health_path",
        )
    },
}


def _moved(plugin: str, key: str) -> str:
    return f"Deprecated: moved to [plugins.{plugin}] {key} (still read for one release)."


def plugin_key(name: str) -> str:
    """The canonical form of a plugin's section name: ``RIVETR_PLUGINS__RUNTIME_DOCKER__SOCKET`` arrives as
    ``runtime_docker`` (environment variable names cannot hold dashes), the file says ``runtime-docker``."""
    return re.sub(r"[-_.]+", "-", name.strip().lower())


class PluginsConfig(BaseModel):
    """``[plugins]``: ``disable`` plus one table per plugin, named by its entry point (``[plugins.runtime-docker]``).

    The tables are validated against each plugin's own settings model once the plugins are loaded
    (:meth:`rivetr_core.plugins.RivetrPluginManager.configure`); here they are kept as given.
    """

    model_config = ConfigDict(extra="allow")

    disable: list[str] = Field(
        default_factory=list,
        description="Plugins (entry-point names, as `rivetr plugins list` shows them) to turn off without "
        "uninstalling them.",
    )

    def sections(self) -> dict[str, dict[str, Any]]:
        """Every ``[plugins.<name>]`` table by canonical name; the environment's ``runtime_docker`` spelling
        is merged over the file's ``runtime-docker`` (the environment wins, as everywhere)."""
        merged: dict[str, dict[str, Any]] = {}
        extra = self.model_extra or {}
        # The canonical (dashed) spelling first, so the other spelling (from the environment) wins.
        for raw in sorted(extra, key=lambda k: k != plugin_key(k)):
            value = extra[raw]
            merged.setdefault(plugin_key(raw), {}).update(value if isinstance(value, dict) else {"": value})
        return merged

    def __repr_args__(self) -> Any:
        # The tables may hold secrets (webhook secrets, tokens) as plain strings until a plugin's model
        # validates them: a repr (and so a log line) shows only which tables are set.
        yield "disable", self.disable
        for name in self.model_extra or {}:
            yield name, "..."

    def get(self, name: str, default: Any = None) -> Any:
        """The raw table of one plugin (``config.plugins.get("ui", {})``), as given in the file and env."""
        return self.sections().get(plugin_key(name), default)


class ServerConfig(_Section):
    host: str | None = Field(
        None,
        description="Deprecated (use api_host and [proxy] host): the default address of both, 0.0.0.0 if unset.",
    )
    api_host: str | None = Field(
        None,
        description="Address the API and dashboard listen on (default: host, else 0.0.0.0). 127.0.0.1 keeps "
        "them private while the proxy serves apps.",
    )
    dashboard_domain: str | None = Field(
        None,
        description="Serve the dashboard and API through the proxy on this domain, over HTTPS (ACME or an "
        "uploaded certificate), so api_host can stay on loopback.",
    )
    api_port: int = Field(8080, ge=0, le=65535, description="Port of the API and dashboard (0 = any free).")
    proxy_port: int = Field(80, ge=0, le=65535, description="HTTP port of the reverse proxy.")
    proxy_https_port: int = Field(443, ge=0, le=65535, description="HTTPS port of the reverse proxy.")
    data_dir: Path = Field(Path("./data"), description="Database, keys, certificates and build work dirs.")
    external_url: str | None = Field(
        None, description="Public URL of the dashboard (OAuth callbacks, links)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peer addresses/CIDRs whose X-Forwarded-For is believed (rate limiting, audit).",
    )
    public_ip: str | None = Field(
        None,
        description='The server\'s public address, for sslip.io app domains ([proxy] auto_domains = "sslip"); '
        "default: the address of the default route's interface (never asked of the internet).",
    )
    shutdown_timeout: float = Field(8.0, gt=0, le=60, description="Seconds in-flight requests get at stop.")
    min_free_disk_mb: int = Field(512, ge=0, description="Start-up warns below this much free disk.")

    _trusted = field_validator("trusted_proxies")(_networks)

    @field_validator("dashboard_domain")
    @classmethod
    def _dashboard_domain(cls, v: str | None) -> str | None:
        if v is None:
            return None
        domain = v.strip().lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{v!r} is not a domain name (like rivetr.example.com)")
        return domain

    @field_validator("public_ip")
    @classmethod
    def _public_ip(cls, v: str | None) -> str | None:
        if v is None:
            return None
        import ipaddress

        return str(ipaddress.ip_address(v.strip()))  # ValueError names the bad value

    @property
    def effective_api_host(self) -> str:
        return self.api_host or self.host or "0.0.0.0"


class AuthConfig(_Section):
    admin_token: SecretStr | None = Field(
        None, description="API admin token; generated on first start if unset."
    )
    encryption_key: SecretStr | None = Field(
        None, description="Base64 32-byte key for secrets at rest; generated into data_dir if unset."
    )
    session_hours: int = Field(24, ge=1, description="Dashboard session lifetime.")
    min_password_length: int = Field(10, ge=8, description="Minimum dashboard password length.")


class RuntimeConfig(_Section):
    runtime_type: str = Field("auto", description="auto | docker | podman (or any runtime plugin's name).")
    docker_socket: str | None = Field(None, description=_moved("runtime-docker", "socket"))
    podman_socket: str | None = Field(None, description=_moved("runtime-podman", "socket"))
    max_concurrent_deployments: int = Field(2, ge=1, description="Deployments running at once, all apps.")
    default_cpu_limit: float | None = Field(
        None, description="CPUs for app containers when the app sets none."
    )
    default_memory_limit: int | None = Field(
        1024**3,
        description="Memory for app containers when the app sets none (e.g. 512m, 2g; 0 = unlimited). The "
        "kernel kills an app above it instead of letting it starve the host.",
    )
    build_cpu_limit: float | None = Field(None, description="CPUs for builds.")
    build_memory_limit: int | None = Field(None, description="Memory for builds (e.g. 2g).")
    pids_limit: int | None = Field(
        4096,
        ge=0,
        description="Max processes per app container when the app sets none (fork bombs; 0 = unlimited).",
    )
    log_max_size: int = Field(
        10 * 1024**2,
        ge=0,
        description="Log rotation of app containers: size of one log file (e.g. 10m; 0 = the engine's own "
        "log settings). podman keeps one file of log_max_size x log_max_files.",
    )
    log_max_files: int = Field(3, ge=1, le=100, description="Log files kept per app container (dockerd).")
    oom_score_adj: int = Field(
        500,
        ge=0,
        le=1000,
        description="OOM score added to app containers (0-1000), so the kernel kills an app before Rivetr "
        "or the engine when memory runs out (0 = the engine's default).",
    )
    restart_max_retries: int = Field(5, ge=0, description="Crash restarts before an app is marked crashed.")
    restart_backoff_seconds: float = Field(2.0, gt=0, description="First restart delay (doubles each time).")
    crash_check_interval: float = Field(
        5.0, gt=0, description="Seconds between checks that running app containers are still up."
    )
    project_firewall: bool = Field(
        True,
        description="Keep each project's private network apart from every other project's with host "
        "firewall rules (iptables chain RIVETR-PROJECTS; needs root). Off: projects can reach each other on "
        "engines that do not isolate networks themselves (podman). See docs/compose.md.",
    )
    publish_ports: bool = Field(
        False,
        description="Publish app ports on 127.0.0.1 and proxy to them, instead of to the containers' own "
        "bridge-network addresses (turn on if this host cannot reach those; rootless engines always publish).",
    )
    image_map: dict[str, str] = Field(
        default_factory=dict,
        description="Images of managed services pulled from elsewhere: official name -> mirror, e.g. "
        '{"postgres" = "registry.internal/mirror/postgres"} (every tag) or {"redis:7" = "registry.internal/redis:7.2"} '
        "(one tag). Keys and values may be short (postgres:16) or full (docker.io/library/postgres:16) names.",
    )

    @field_validator("pids_limit")
    @classmethod
    def _pids(cls, v: int | None) -> int | None:
        if v and v < 16:
            raise ValueError("must be 0 (unlimited) or at least 16")
        return v

    @field_validator("default_cpu_limit", "build_cpu_limit", mode="before")
    @classmethod
    def _cpus(cls, v: Any) -> float | None:
        return parse_cpus(v)

    @field_validator("default_memory_limit", "build_memory_limit", "log_max_size", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> int | None:
        if v == 0 or (isinstance(v, str) and v.strip() == "0"):
            return 0  # 0: no limit / the engine's own settings
        return parse_size(v)


class ProxyConfig(_Section):
    enabled: bool = Field(True, description="Start the proxy with the control plane (off: API only).")
    host: str | None = Field(
        None,
        description="Address the proxy listens on for public traffic (default: [server] host, else 0.0.0.0).",
    )
    backend: str = Field("builtin", description="Proxy backend plugin name.")
    drain_timeout: float = Field(30.0, ge=0, description="Max seconds an old upstream drains after a switch.")
    # Moved to [plugins.proxy-builtin] (only the built-in data plane uses them); kept for one release and
    # validated there (typed Any here so a value like "100m" reaches the plugin's own validator).
    workers: Any = Field(None, description=_moved("proxy-builtin", "workers"))
    max_header_size: Any = Field(None, description=_moved("proxy-builtin", "max_header_size"))
    max_body_size: Any = Field(None, description=_moved("proxy-builtin", "max_body_size"))
    header_timeout: Any = Field(None, description=_moved("proxy-builtin", "header_timeout"))
    upstream_connect_timeout: Any = Field(
        None, description=_moved("proxy-builtin", "upstream_connect_timeout")
    )
    upstream_read_timeout: Any = Field(None, description=_moved("proxy-builtin", "upstream_read_timeout"))
    idle_timeout: Any = Field(None, description=_moved("proxy-builtin", "idle_timeout"))
    health_interval: Any = Field(None, description=_moved("proxy-builtin", "health_interval"))
    health_timeout: Any = Field(None, description=_moved("proxy-builtin", "health_timeout"))
    health_threshold: Any = Field(None, description=_moved("proxy-builtin", "health_threshold"))
    health_path: Any = Field(None, description=_moved("proxy-builtin", "health_path"))
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Load balancers in front of the proxy (addresses/CIDRs) whose X-Forwarded-For, -Proto and "
        "-Host reach apps; from any other client they are replaced.",
    )
    access_log: bool = Field(
        False, description="Write an access log: a line per request, a file per proxy worker (off: as Caddy)."
    )
    access_log_format: Literal["json", "common", "combined"] = Field(
        "json", description="json (one object per line), common or combined (Apache/nginx formats)."
    )
    access_log_dir: Path | None = Field(
        None, description="Directory of access-<worker>.log files (default: the proxy's state dir)."
    )
    access_log_max_bytes: int = Field(
        100 * 1024 * 1024, ge=4096, description="Rotate a worker's access log past this size (accepts 100m)."
    )
    access_log_keep: int = Field(5, ge=0, le=100, description="Rotated access-log files kept per worker.")
    access_log_sample: float = Field(
        1.0, ge=0, le=1, description="Share of successful requests logged (0.1 = 10%); status >= 400 always."
    )
    access_log_query: bool = Field(
        False, description="Keep query strings in logged paths (off: they often carry tokens)."
    )
    compression: bool = Field(
        True,
        description="Compress responses (gzip, brotli, zstd) for clients that accept it; a route can turn it off.",
    )
    compression_level: int = Field(
        5, ge=1, le=9, description="Compression level, 1 (fastest) to 9 (smallest), for every encoding."
    )
    compression_min_size: int = Field(
        1024, ge=0, description="Bytes below which a response with a known length is sent uncompressed."
    )
    compression_types: list[str] = Field(
        default_factory=list,
        description="Content types to compress ('text/*' and 'application/*+json' forms allowed); empty: the "
        "built-in list (text, JSON, JavaScript, XML, SVG, WebAssembly, fonts).",
    )
    acme_enabled: bool = Field(False, description="Obtain certificates by ACME for every domain.")
    acme_email: str | None = Field(None, description="Contact e-mail of the ACME account.")
    acme_directory_url: str = Field(LETS_ENCRYPT_PRODUCTION, description="ACME directory URL.")
    acme_staging: bool = Field(False, description="Use Let's Encrypt staging instead of production.")
    acme_ca_bundle: Path | None = Field(None, description="Extra CA bundle to trust for the ACME directory.")
    acme_renew_days: int = Field(30, ge=1, description="Renew certificates with fewer days left.")
    acme_check_interval: float = Field(3600.0, gt=0, description="Seconds between renewal checks.")
    acme_retry_initial: float = Field(
        300.0,
        gt=0,
        description="Seconds before retrying a failed ACME order (doubles per failure; Let's Encrypt allows "
        "5 failed validations per host per hour).",
    )
    acme_retry_max: float = Field(21600.0, gt=0, description="Longest wait between ACME retries, seconds.")
    acme_sslip: bool = Field(
        False,
        description='Order ACME certificates for *.sslip.io names too (auto_domains = "sslip"); off: they '
        "are served over HTTP (a CA's limits for sslip.io are shared by all its users).",
    )
    preview_domain: str | None = Field(None, description="Base domain of PR previews: pr-<n>.<app>.<this>.")
    base_domain: str | None = Field(
        None,
        description="Base of generated app domains: <app>.<project>.<this> (<app>.<this> outside a project); "
        "needs a wildcard DNS record *.<this> pointing at the server (docs/proxy-auto-domains.md).",
    )
    auto_domains: Literal["base", "sslip", "off"] = Field(
        "base",
        description="Generated app domains: base (under base_domain, none without it), sslip (base_domain if "
        "set, else <app>-<project>.<public-ip-dashed>.sslip.io) or off.",
    )

    _trusted = field_validator("trusted_proxies")(_networks)

    @field_validator("base_domain")
    @classmethod
    def _base_domain(cls, v: str | None) -> str | None:
        if v is None:
            return None
        domain = v.strip().lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{v!r} is not a domain name (like apps.example.com)")
        return domain

    @field_validator("access_log_max_bytes", mode="before")
    @classmethod
    def _log_size(cls, v: Any) -> Any:
        return parse_size(v)

    @property
    def effective_acme_directory(self) -> str:
        if self.acme_staging and self.acme_directory_url == LETS_ENCRYPT_PRODUCTION:
            return LETS_ENCRYPT_STAGING
        return self.acme_directory_url


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", description="Log level.")
    format: Literal["text", "json"] = Field("text", description="text or json (one object per line).")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class WebhooksConfig(_Section):
    github_secret: SecretStr | None = Field(None, description=_moved("git-github", "github_webhook_secret"))
    gitlab_token: SecretStr | None = Field(None, description=_moved("git-gitlab", "webhook_token"))
    gitea_secret: SecretStr | None = Field(None, description=_moved("git-github", "gitea_webhook_secret"))
    bitbucket_secret: SecretStr | None = Field(None, description=_moved("git-bitbucket", "webhook_secret"))
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest webhook body accepted (413 above it, checked while reading).",
    )


class PreviewsConfig(_Section):
    forks: Literal["approve", "never", "always"] = Field(
        "approve",
        description="Previews of pull requests from forks: approve (built only after POST "
        "/api/previews/{id}/approve, again for every new head commit), never (listed as rejected, never "
        "built), always (built at once, still isolated).",
    )
    max_per_app: int = Field(
        5, ge=1, description="Live previews per app; a PR beyond it is listed as limit_reached, not built."
    )
    fork_network: str = Field(
        "rivetr-untrusted",
        description="Engine network of fork previews' builds and containers: a bridge of its own with no "
        "route to other apps or to the host (firewall rules added by Rivetr).",
    )
    fork_firewall: bool = Field(
        True,
        description="Add the iptables rules that keep fork previews from the host and other apps' networks "
        "(needs root and iptables; a fork preview fails to deploy when they cannot be added). Off: only the "
        "engine's own network separation applies.",
    )
    fork_build_cpu_limit: float | None = Field(1.0, description="CPUs for a fork preview's build.")
    fork_build_memory_limit: int | None = Field(1024**3, description="Memory for a fork preview's build.")
    fork_build_log_max_lines: int = Field(
        20_000, ge=100, description="Build-log lines of a fork preview; above it the build fails."
    )
    fork_build_log_max_bytes: int = Field(
        5 * 1024**2, ge=10_000, description="Build-log bytes of a fork preview; above it the build fails."
    )

    @field_validator("fork_build_cpu_limit", mode="before")
    @classmethod
    def _cpus(cls, v: Any) -> float | None:
        return parse_cpus(v)

    @field_validator("fork_build_memory_limit", "fork_build_log_max_bytes", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> int | None:
        return parse_size(v)


class OAuthProviderConfig(_Section):
    client_id: str = Field(..., description="OAuth application client id.")
    client_secret: SecretStr = Field(..., description="OAuth application client secret.")
    redirect_uri: str | None = Field(
        None, description="Callback URL; default <external_url>/oauth/<name>/callback."
    )
    base_url: str | None = Field(None, description="Web base URL (GitHub Enterprise, self-managed GitLab).")
    api_url: str | None = Field(None, description="API base URL, if not derived from base_url.")


class RateLimitConfig(_Section):
    enabled: bool = Field(True, description="Rate-limit API clients.")
    requests_per_minute: int = Field(600, ge=1, description="Sustained API requests per client per minute.")
    burst: int = Field(120, ge=1, description="Requests a client may make at once.")
    login_per_minute: int = Field(10, ge=1, description="Login attempts per client per minute.")


class CleanupConfig(_Section):
    keep_images: int = Field(3, ge=1, description="Images kept per app for rollback.")
    build_log_retention_days: int = Field(30, ge=1, description="Days build logs are kept.")
    interval_minutes: int = Field(60, ge=1, description="Minutes between cleanup runs.")
    disk_warning_percent: int = Field(85, ge=1, le=100, description="Disk use that raises a warning.")
    disk_critical_percent: int = Field(95, ge=1, le=100, description="Disk use that triggers pruning.")
    prune_build_cache: bool = Field(
        False,
        description="Also empty the engine's whole build cache at each cleanup and when the disk is critical. "
        "The cache carries no labels and is shared by every program using the engine (dockerd's BuildKit "
        "cache; podman has none): turn on only where Rivetr owns the engine. Rivetr's own build layers are "
        "images, pruned by their labels either way.",
    )
    audit_retention_days: int = Field(365, ge=1, description="Days audit log entries are kept.")


class GitConfig(_Section):
    allow_local: bool = Field(False, description="Allow local paths and file:// git URLs (tests, dev).")
    clone_timeout: float = Field(300.0, gt=0, description="Seconds a clone may take.")


class VolumesConfig(_Section):
    allowed_bind_roots: list[str] = Field(
        default_factory=list,
        description="Host directories under which apps may bind-mount paths (absolute). Empty: no bind "
        "mounts at all (a bind mount gives an app the server's files: an admin decision).",
    )


class BackupConfig(_Section):
    schedule: str = Field(
        "0 3 * * *",
        description="Cron expression of the daily backup of Rivetr's own state (database, certificates, "
        "config) into `directory`. Empty: no scheduled backup (`rivetr backup create` still works).",
    )
    timezone: str = Field(
        "UTC", description="Time zone the schedule is read in (IANA name, e.g. Europe/Paris)."
    )
    directory: Path | None = Field(
        None, description="Where scheduled backups go. Unset: `<data_dir>/backups`."
    )
    keep_last: int = Field(
        7, ge=1, description="Scheduled backups kept in `directory`; older ones are deleted."
    )


class TerminalConfig(_Section):
    idle_timeout: float = Field(
        900.0, gt=0, description="Seconds without input after which a dashboard terminal closes."
    )
    max_per_user: int = Field(
        3, ge=1, description="Dashboard terminals one user may have open at once; the next is refused."
    )


class MetricsConfig(_Section):
    enabled: bool = Field(True, description="Serve /metrics.")
    public: bool = Field(
        False,
        description="Serve /metrics without a token. Off: a bearer token is needed (the scrape token, "
        "the admin token or an API token).",
    )
    token: SecretStr | None = Field(
        None, description="Scrape token for /metrics (a separate bearer token for Prometheus)."
    )
    sample_interval: float = Field(30.0, gt=0, description="Seconds between container stats samples.")
    raw_retention_days: int = Field(7, ge=1, description="Days raw samples are kept before hourly averaging.")
    hourly_retention_days: int = Field(90, ge=1, description="Days hourly averages of samples are kept.")


#: Error type of a secret setting's validator: its message is shown without the value (which may hold a password).
SECRET_INVALID = "secret_invalid"


class DatabaseConfig(_Section):
    url: SecretStr | None = Field(
        None,
        description="The control-plane database. Empty: the embedded SQLite file in data_dir. "
        "`postgresql+asyncpg://user:password@host:5432/rivetr` (or `postgresql://...`) uses a PostgreSQL server "
        "(install `rivetr[postgres]`); `rivetr db copy` moves an existing install (docs/scaling.md).",
    )
    pool_size: int = Field(
        5, ge=1, description="PostgreSQL: connections kept open per control-plane process."
    )
    max_overflow: int = Field(
        10,
        ge=0,
        description="PostgreSQL: connections opened beyond pool_size under load, closed when returned.",
    )
    pool_timeout: float = Field(
        30.0, gt=0, description="PostgreSQL: seconds a request waits for a free connection before failing."
    )
    plane_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="PostgreSQL: a control plane that has not renewed its lease for this long is dead; another "
        "takes over its deployments (renewed every third of it, docs/scaling.md).",
    )

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        from pydantic_core import PydanticCustomError

        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if not isinstance(raw, str):
            raise PydanticCustomError(SECRET_INVALID, "must be a string")
        scheme, sep, rest = raw.strip().partition("://")
        if not sep or scheme not in ("postgresql+asyncpg", "postgresql", "postgres") or not rest:
            # The value is a secret (it may hold a password): name the scheme only.
            raise PydanticCustomError(
                SECRET_INVALID,
                "unsupported database URL scheme '{scheme}': use postgresql+asyncpg://user:password@host/db, "
                "or leave it empty for the embedded SQLite",
                {"scheme": scheme},
            )
        return SecretStr("postgresql+asyncpg://" + rest)


class RivetrConfig(BaseSettings):
    """The whole configuration. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix="RIVETR_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        case_sensitive=False,
    )

    server: ServerConfig = Field(default_factory=ServerConfig)  # type: ignore[arg-type]
    auth: AuthConfig = Field(default_factory=AuthConfig)  # type: ignore[arg-type]
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)  # type: ignore[arg-type]
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)  # type: ignore[arg-type]
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    previews: PreviewsConfig = Field(default_factory=PreviewsConfig)  # type: ignore[arg-type]
    oauth: dict[str, OAuthProviderConfig] = Field(default_factory=dict)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)  # type: ignore[arg-type]
    cleanup: CleanupConfig = Field(default_factory=CleanupConfig)  # type: ignore[arg-type]
    git: GitConfig = Field(default_factory=GitConfig)  # type: ignore[arg-type]
    volumes: VolumesConfig = Field(default_factory=VolumesConfig)  # type: ignore[arg-type]
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)  # type: ignore[arg-type]
    terminal: TerminalConfig = Field(default_factory=TerminalConfig)  # type: ignore[arg-type]
    backup: BackupConfig = Field(default_factory=BackupConfig)  # type: ignore[arg-type]
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)  # type: ignore[arg-type]
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's content arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def proxy_host(self) -> str:
        """Where the proxy listens: ``[proxy] host``, else the deprecated ``[server] host``, else 0.0.0.0."""
        return self.proxy.host or self.server.host or "0.0.0.0"

    def deprecations(self) -> list[str]:
        """Human warnings about deprecated keys still in use (``rivetr serve`` logs them, ``config check``
        prints them)."""
        found = []
        if self.server.host is not None:
            found.append(
                "[server] host is deprecated and will be removed in the next release: set [server] api_host (API "
                "and dashboard) and [proxy] host (public traffic) instead; until then host is the default of both"
            )
        for (section, key), (plugin, new_key) in MOVED_KEYS.items():
            if getattr(getattr(self, section), key) is not None:
                env = f"RIVETR_PLUGINS__{plugin.replace('-', '_').upper()}__{new_key.upper()}"
                found.append(
                    f"[{section}] {key} is deprecated and will be removed in the next release: set "
                    f"[plugins.{plugin}] {new_key} (or {env}) instead"
                    + (" (ignored: that is set too)" if new_key in self.plugins.get(plugin, {}) else "")
                )
        return found

    def plugin_section(self, name: str) -> dict[str, Any]:
        """The raw ``[plugins.<name>]`` table with the deprecated core keys that moved there mapped in
        (the new key wins when both are set); the plugin's settings model validates it."""
        name = plugin_key(name)
        merged: dict[str, Any] = {}
        for (section, key), (plugin, new_key) in MOVED_KEYS.items():
            value = getattr(getattr(self, section), key) if plugin == name else None
            if value is not None:
                merged[new_key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return {**merged, **self.plugins.get(name, {})}


class ConfigError(Exception):
    """Invalid configuration. ``problems`` are ``"section.key: message"`` strings meant for humans."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid configuration{where}:\n  " + "\n  ".join(problems))


def format_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key")
        else:
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                problems.append(f"{key}: required key is missing")
            elif err["type"] == SECRET_INVALID:  # the value may hold a password: never echoed
                problems.append(f"{key}: {message}")
            else:
                problems.append(f"{key}: {message} (got {err.get('input')!r})")
    return problems


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    check_plugins: Callable[[RivetrConfig], object] | None = None,
    **overrides: Any,
) -> RivetrConfig:
    """Read ``path`` (or ``$RIVETR_CONFIG``; none means defaults), apply env overrides, validate.

    ``overrides`` are merged into the file's sections (tests use them: ``load_config(server={"api_port": 0})``).
    ``check_plugins`` validates the plugins' sections (``RivetrPluginManager.configure``, raising
    :class:`ConfigError`); given, its problems are listed with core's even when core's sections are invalid.
    Raises :class:`ConfigError` listing every problem.
    """
    raw: dict[str, Any] = {}
    source = str(path) if path else os.environ.get("RIVETR_CONFIG") or None
    if source:
        try:
            with open(source, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError([f"config file not found: {source}"], source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], source) from None
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(raw.get(section), dict):
            raw[section] = {**raw[section], **values}
        else:
            raw[section] = values
    try:
        config = RivetrConfig(**raw)
    except ValidationError as exc:
        problems = format_errors(exc)
        if check_plugins is not None:
            problems += _plugin_problems(check_plugins, _plugin_part(raw))
        raise ConfigError(problems, source) from None
    if check_plugins is not None:
        problems = _plugin_problems(check_plugins, lambda: config)
        if problems:
            raise ConfigError(problems, source)
    return config


def _plugin_part(raw: dict[str, Any]) -> Callable[[], RivetrConfig]:
    """Only what the plugins' sections are made of ([plugins] and the deprecated keys that moved there), so
    they can be checked while another section is invalid."""

    def build() -> RivetrConfig:
        part: dict[str, Any] = {"plugins": raw.get("plugins", {})}
        for section, key in MOVED_KEYS:
            if isinstance(raw.get(section), dict) and key in raw[section]:
                part.setdefault(section, {})[key] = raw[section][key]
        return RivetrConfig(**part)

    return build


def _plugin_problems(check: Callable[[RivetrConfig], object], build: Callable[[], RivetrConfig]) -> list[str]:
    try:
        check(build())
    except ConfigError as exc:
        return exc.problems
    except ValidationError:  # the environment breaks even this part: already reported by core's pass
        return []
    return []
