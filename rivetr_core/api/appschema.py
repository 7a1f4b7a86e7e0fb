"""Request models and validators shared by the apps, projects, env-var and SSH-key APIs.

Every validator raises ``ValueError`` with a message meant for users; quart-schema turns it into a 422 whose
``details`` name the field. Checks that need the database or config (uniqueness, ``[git] allow_local``,
references) live in the handlers and use :func:`~rivetr_core.errors.validation_error` the same way.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rivetr_core.api.config_path import CONFIG_PATH_HELP, DEFAULT_CONFIG_PATH, ConfigPath
from rivetr_core.apimodel import ApiModel
from rivetr_core.engine.gitsource import classify_url, is_commit_sha
from rivetr_core.engine.image_source import IMAGE_REF_SCHEMA, check_image_ref
from rivetr_core.engine.selection import check_name as check_registered_name
from rivetr_core.engine.selection import parse_health_check
from rivetr_core.placement import PLACEMENT_HELP, PLACEMENT_SCHEMA, check_placement
from rivetr_core.routepaths import ROUTE_TARGET_SCHEMA, check_route_target
from rivetr_core.services.apps import NULLABLE_APP_FIELDS  # the service decides; the schema documents it
from rivetr_core.tags import TAG_FILTER_HELP, TAGS_HELP, TAGS_SCHEMA
from rivetr_core.units import parse_cpus, parse_size
from rivetr_core.validation import NAME_SCHEMA, check_name

Environment = Literal["development", "staging", "production"]
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]{1,255}(?<![./])$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_TOKEN_USER = re.compile(r"^[^\s:\x00-\x1f\x7f]{1,100}$")
#: Injected by Rivetr into every app container; users cannot set them.
RESERVED_ENV_KEYS = frozenset({"PORT", "RIVETR_APP_NAME", "RIVETR_DEPLOYMENT_ID", "SOURCE_COMMIT"})


def check_git_url(value: str) -> str:
    if classify_url(value) is None:
        raise ValueError("must be an https://, ssh://, git@host:path or git:// repository URL")
    return value.strip()


def check_branch(value: str) -> str:
    if not _BRANCH.match(value) or value.endswith(".lock"):
        raise ValueError("must be a valid git branch name (letters, digits, '.', '_', '-', '/')")
    return value


def check_relative_path(value: str) -> str:
    text = value.strip()
    if not text or text.startswith("/") or "\x00" in text or ".." in text.split("/"):
        raise ValueError("must be a relative path inside the repository (no leading '/' or '..')")
    return text


def check_health_path(value: str) -> str:
    if not value.startswith("/") or any(ch.isspace() or ord(ch) < 32 for ch in value) or len(value) > 500:
        raise ValueError("must be a URL path starting with '/' and without spaces")
    return value


def check_domains(value: list[str]) -> list[str]:
    domains = [check_route_target(d) for d in value]  # app.example.com or api.example.com/v1
    duplicates = sorted({d for d in domains if domains.count(d) > 1})
    if duplicates:
        raise ValueError(f"listed twice: {', '.join(duplicates)}")
    return domains


def check_token_user(value: str) -> str:
    if not _TOKEN_USER.match(value):
        raise ValueError("must be 1-100 characters without spaces or ':'")
    return value


def check_env_key(value: str) -> str:
    if not _ENV_KEY.match(value):
        raise ValueError("must be letters, digits and '_' and not start with a digit")
    if value in RESERVED_ENV_KEYS:
        raise ValueError(f"{value} is set by Rivetr for every app and cannot be overridden")
    return value


def check_commit(value: str | None) -> str | None:
    if value is not None and not is_commit_sha(value.lower()):
        raise ValueError("must be a commit id (7 to 64 hexadecimal characters)")
    return value.lower() if value else None


DeployStrategy = Literal["rolling", "recreate"]
LoadBalancer = Literal["round_robin", "least_conn"]
_BALANCER_HELP = (
    "How the proxy spreads requests over the app's replicas (docs/scaling.md): round_robin (default, in turn) "
    "or least_conn (the replica with the fewest requests in flight; ties in turn). Applies to the app's routes "
    "at once."
)
EnvScope = Literal["runtime", "build", "both"]
_SCOPE_DOC = (
    "runtime: the container's environment; build: a build argument only (docs/builds.md); both. A secret with "
    "build scope is kept out of the image's history where the builder can (docs/builds.md)."
)
BackupConsistency = Literal["pause", "command", "none"]
_CONSISTENCY_HELP = (
    "How a volume backup keeps the data consistent: pause (the app's container is frozen for the copy), "
    "command (pre_backup_command runs in the container first; the backup fails if it exits non-zero) or none."
)
_PRE_BACKUP_HELP = (
    "Shell command run in the app's container before a volume backup (sh -c), e.g. \"sqlite3 /data/app.db "
    '\'.backup /data/app.bak\'"; required with backup_consistency "command"; null clears it.'
)
_RELEASE_HELP = (
    "Release phase: shell command (sh -c) run after the build and before the new version takes traffic, in a "
    "one-off container of the new image with the app's env, links and volumes, e.g. \"python manage.py migrate "
    '--noinput"; a non-zero exit or release_timeout fails the deployment (the old version keeps serving). Runs '
    "on rollbacks too. null clears it. See docs/deployment.md."
)
_RELEASE_TIMEOUT_HELP = "Seconds the release command (and the post-deploy command) may run: 1-86400."
_POST_DEPLOY_HELP = (
    "Shell command (sh -c) run in the new container after the switch; a failure is reported (deployment log, "
    "post_deploy_failed event), never rolled back. null clears it."
)
_REPLICAS_HELP = (
    "Containers of the app behind the proxy on this server, 1 to 20 (docs/scaling.md): a deployment starts, "
    "health-checks and routes to all of them; the proxy balances requests over them."
)
_REPLICAS_UPDATE = (
    " Applies at the next deployment; POST /api/apps/{id}/scale applies it now, without a rebuild."
)
_SURGE_HELP = (
    "Rolling update of the replicas (docs/scaling.md): new replicas a deployment starts at a time beyond "
    "replicas (default 1; above replicas counts as replicas). max_surge and max_unavailable cannot both be 0."
)
_UNAVAILABLE_HELP = (
    "Rolling update of the replicas (docs/scaling.md): how many of replicas may be out of service while a "
    "deployment replaces them (default 0: always at least replicas serving; above replicas counts as replicas)."
)
_STRATEGY_HELP = (
    "rolling: the new container starts and passes its health check before the old one stops (zero downtime; "
    "both mount the app's named volumes meanwhile). recreate: the old container stops first, for data that "
    "cannot be shared (the app answers 502 until the new one is up). See docs/volumes.md."
)


class _Strict(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda s, m: _document_checks(s, m))


# What the checks above accept, as JSON Schema for the API document (subsets where a check is too subtle for a
# pattern, e.g. it also strips spaces): a client that follows the document is never refused.
_SEGMENT = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_PATH_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
_SIZE_M = r"(?:[4-9]|[1-9][0-9]{1,5})[mM]|[1-9][0-9]{0,3}[gG]"
_FIELD_SCHEMAS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", **NAME_SCHEMA},
    "git_url": {
        "type": "string",
        "maxLength": 2000,
        "pattern": r"^(?:(?:https?|ssh|git)://[A-Za-z0-9._~-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~-]+)+/?"
        r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*)$",
    },
    "branch": {
        "type": "string",
        "maxLength": 255,
        "pattern": rf"^[A-Za-z0-9_][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*(?:/{_SEGMENT})*$",
    },
    "dockerfile": {"type": "string", "pattern": rf"^{_PATH_SEGMENT}(?:/{_PATH_SEGMENT})*$"},
    "build_context": {"type": "string", "pattern": rf"^(?:\.|{_PATH_SEGMENT}(?:/{_PATH_SEGMENT})*)$"},
    "healthcheck_path": {"type": "string", "maxLength": 500, "pattern": r"^/[!-~]*$"},
    "git_token_user": {"type": "string", "pattern": r"^[!-9;-~]{1,100}$"},
    "domains": {"type": "array", "items": {"type": "string", **ROUTE_TARGET_SCHEMA}, "uniqueItems": True},
    "cpu_limit": {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0, "maximum": 1024},
            {
                "type": "string",
                "pattern": r"^(?:[1-9][0-9]{0,2}(?:\.[0-9]{1,3})?|0\.[0-9]{0,2}[1-9]|[1-9][0-9]{0,5}m)$",
            },
        ]
    },
    "memory_limit": {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 0},
            {"type": "integer", "minimum": 4 * 1024**2, "maximum": 2**50},
            {"type": "string", "pattern": rf"^(?:0|{_SIZE_M})$"},
        ]
    },
    "pids_limit": {
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": 0},
            {"type": "integer", "minimum": 16, "maximum": 4_194_304},
        ]
    },
    "key": {"type": "string", "pattern": _ENV_KEY.pattern, "not": {"enum": sorted(RESERVED_ENV_KEYS)}},
    "value": {"type": "string", "maxLength": 65536, "pattern": "^[^\\x00]*$"},
    "commit": {"type": "string", "pattern": "^[0-9A-Fa-f]{7,64}$"},
    "image": IMAGE_REF_SCHEMA,
    "base_image": IMAGE_REF_SCHEMA,
    # The names installed on this server: rivetr_core.openapi fills in "x-rivetr-names" when serving the document.
    "builder": {"type": "string", "x-rivetr-names": "builders"},
    "log_max_size": {
        "anyOf": [
            {"type": "integer", "minimum": 16 * 1024, "maximum": 1024**3},
            {
                "type": "string",
                "pattern": r"^(?:(?:1[6-9]|[2-9][0-9]|[1-9][0-9]{2,5})[kK]|[1-9][0-9]{0,2}[mM]|1[gG])$",
            },
        ]
    },
}


def _health_check_schemas() -> list[dict[str, Any]]:
    """One JSON Schema per kind of ``health_check`` (see rivetr_core.engine.selection)."""
    common: dict[str, Any] = {
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 120,
            "description": "Seconds per attempt.",
        },
        "retries": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Attempts."},
        "interval": {"type": "number", "exclusiveMinimum": 0, "maximum": 60, "description": "Longest pause."},
    }
    http = {
        "path": {"type": "string", "maxLength": 500, "pattern": r"^/[!-~]*$"},
        "status": {"anyOf": [{"type": "integer", "minimum": 100, "maximum": 599}, {"type": "null"}]},
    }
    command = {
        "type": "array",
        "minItems": 1,
        "maxItems": 64,
        "prefixItems": [{"type": "string", "pattern": r"^[^\x00]*\S[^\x00]*$", "maxLength": 128}],
        "items": {"type": "string", "pattern": r"^[^\x00]*$", "maxLength": 128},
        "description": 'Run inside the container; healthy on exit 0. E.g. ["sh", "-c", "test -f /ready"].',
    }

    def kind(name: str, props: dict[str, Any], required: tuple[str, ...] = (), closed: bool = True) -> Any:
        return {
            "type": "object",
            "properties": {"kind": {"const": name}, **props, **common},
            "required": ["kind", *required],
            "additionalProperties": not closed,
        }

    plugin = kind("plugin", http, closed=False)
    plugin["properties"]["kind"] = {"type": "string", "x-rivetr-names": "plugin_health_checks"}
    plugin["description"] = "A health check from a plugin: its own options are free-form JSON."
    return [kind("http", http), kind("tcp", {}), kind("command", {"command": command}, ("command",)), plugin]


_FIELD_SCHEMAS["health_check"] = {"oneOf": _health_check_schemas()}


def _document_checks(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Put :data:`_FIELD_SCHEMAS` into the model's JSON Schema; null stays allowed only where the API takes it
    (in an update, ``NULLABLE_APP_FIELDS`` and ``domains``: the other fields must have a value when present)."""
    nullable_names = (NULLABLE_APP_FIELDS | {"domains"}) if model.__name__ == "AppUpdate" else None
    for name, prop in schema.get("properties", {}).items():
        branches = prop.pop("anyOf", None)
        takes_null = branches is not None and {"type": "null"} in branches
        if takes_null and nullable_names is not None and name not in nullable_names:
            takes_null = False
        value = _FIELD_SCHEMAS.get(name)
        if value is None:
            kept = [b for b in branches or [] if b != {"type": "null"}]
            value = kept[0] if len(kept) == 1 else {"anyOf": kept} if kept else {}
            if branches is None:
                continue
        alternatives = [*value.get("anyOf", [value]), *([{"type": "null"}] if takes_null else [])]
        prop.update(alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives})
        if not takes_null and "default" in prop and prop["default"] is None:
            del prop["default"]  # absent means unchanged; null is not a value it takes
    if model.__name__ == "SourceIn":  # an image reference with kind image, none with kind git
        schema["if"] = {"properties": {"kind": {"const": "image"}}}
        schema["then"] = {"required": ["image"], "properties": {"image": IMAGE_REF_SCHEMA}}
        schema["else"] = {"properties": {"image": {"type": "null"}}}
    if model.__name__ in ("AppIn", "AppUpdate"):
        # backup_consistency "command" needs a command to run (one with more than spaces), given with it.
        schema["if"] = {
            "properties": {"backup_consistency": {"const": "command"}},
            "required": ["backup_consistency"],
        }
        schema["then"] = {
            "properties": {"pre_backup_command": {"type": "string", "pattern": r"\S"}},
            "required": ["pre_backup_command"],
        }
        # An image app has no repository: git_url goes with git apps only (required when creating one).
        image_source = {
            "properties": {
                "source": {"type": "object", "properties": {"kind": {"const": "image"}}, "required": ["kind"]}
            },
            "required": ["source"],
        }
        rule: dict[str, Any] = {"if": image_source, "then": {"not": {"required": ["git_url"]}}}
        if model.__name__ == "AppIn":
            rule["else"] = {"required": ["git_url"]}
            schema["properties"]["git_url"].pop("default", None)  # "" stands for absent, it is no URL
        schema["allOf"] = [rule]
        if model.__name__ == "AppUpdate":
            # Switching to git names the repository in the same request (an image app has none to keep).
            git_source = {
                "properties": {
                    "source": {
                        "type": "object",
                        "properties": {"kind": {"const": "git"}},
                        "required": ["kind"],
                    }
                },
                "required": ["source"],
            }
            schema["allOf"].append({"if": git_source, "then": {"required": ["git_url"]}})


class SourceIn(_Strict):
    """Where an app's code comes from: ``{"kind": "git"}`` (``git_url``, ``branch``: clone and build) or
    ``{"kind": "image", "image": "registry.example.com/team/api:1.4"}`` (pull and run a pre-built image; the
    credentials of its registry come from ``/api/registries``)."""

    kind: Literal["git", "image"] = Field(
        description="git (clone and build) or image (pull a pre-built image)."
    )
    image: str | None = Field(None, description="The image reference (kind image only).")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image_ref(v)

    @model_validator(mode="after")
    def _image_with_kind(self) -> SourceIn:
        if self.kind == "image" and not self.image:
            raise ValueError("image is required with kind image")
        if self.kind == "git" and self.image is not None:
            raise ValueError("image goes with kind image only")
        return self


_SOURCE_HELP = (
    'Default {"kind": "git"}. {"kind": "image", "image": "registry.example.com/team/api:1.4"}: deploys pull '
    "and run that image (no clone, no build; git_url must then be absent); see docs/images.md."
)


class _AppFields(_Strict):
    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v)

    @field_validator("git_url", check_fields=False)
    @classmethod
    def _git_url(cls, v: str | None) -> str | None:
        return None if v is None else check_git_url(v)

    @field_validator("branch", check_fields=False)
    @classmethod
    def _branch(cls, v: str | None) -> str | None:
        return None if v is None else check_branch(v)

    @field_validator("dockerfile", "build_context", check_fields=False)
    @classmethod
    def _paths(cls, v: str | None) -> str | None:
        return None if v is None else check_relative_path(v)

    @field_validator("healthcheck_path", check_fields=False)
    @classmethod
    def _health(cls, v: str | None) -> str | None:
        return None if v is None else check_health_path(v)

    @field_validator("builder", check_fields=False)
    @classmethod
    def _builder(cls, v: str | None) -> str | None:
        return None if v is None else check_registered_name(v, "builder")

    @field_validator("health_check", check_fields=False)
    @classmethod
    def _health_check(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else parse_health_check(v)

    @field_validator("git_token_user", check_fields=False)
    @classmethod
    def _token_user(cls, v: str | None) -> str | None:
        return None if v is None else check_token_user(v)

    @field_validator("domains", check_fields=False)
    @classmethod
    def _domains(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else check_domains(v)

    @field_validator("placement", check_fields=False)
    @classmethod
    def _placement(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else check_placement(v)

    @field_validator("cpu_limit", mode="before", check_fields=False)
    @classmethod
    def _cpus(cls, v: Any) -> float | None:
        return parse_cpus(v)

    @field_validator("memory_limit", mode="before", check_fields=False)
    @classmethod
    def _memory(cls, v: Any) -> int | None:
        if _is_zero(v):
            return 0  # unlimited (null: the server default)
        size = parse_size(v)
        if size is not None and size < 4 * 1024**2:
            raise ValueError("must be at least 4m (0: unlimited)")
        if size is not None and size > 2**50:  # also keeps it inside SQLite's integers
            raise ValueError("must be at most 1024t")
        return size

    @field_validator("pids_limit", check_fields=False)
    @classmethod
    def _pids(cls, v: int | None) -> int | None:
        if v is not None and v != 0 and not 16 <= v <= 4_194_304:
            raise ValueError("must be 0 (unlimited) or at least 16 (at most 4194304)")
        return v

    @field_validator("log_max_size", mode="before", check_fields=False)
    @classmethod
    def _log_size(cls, v: Any) -> int | None:
        size = parse_size(v)
        if size is not None and not 16 * 1024 <= size <= 1024**3:
            raise ValueError("must be between 16k and 1g")
        return size


def _is_zero(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool) and value == 0) or (
        isinstance(value, str) and value.strip() == "0"
    )


_MEMORY_HELP = 'Bytes or a size like "512m", "1g"; 0: unlimited; null: the server default ([runtime]).'
_PIDS_HELP = "Max processes in the container; 0: unlimited; null: the server default ([runtime] pids_limit)."
_LOG_SIZE_HELP = 'Size of one container log file ("10m"), 16k-1g; null: the server default.'
_BUILDER_HELP = (
    '"auto": the first installed builder (by priority) that detects the source; or the name of an installed '
    "builder, the only one then asked (the deployment fails if it cannot build the source)."
)
_HEALTH_HELP = (
    'What proves a new container healthy: {"kind": "http", "path", "status"}, {"kind": "tcp"}, {"kind": '
    '"command", "command": [argv]} (run inside the container, healthy on exit 0) or an installed plugin\'s check '
    'with its options; every kind takes "timeout", "retries", "interval". The http options are the '
    "healthcheck_* fields (health_check's win when a body gives both). Absent on create: http."
)
_LOG_FILES_HELP = "Log files kept (podman: one file of size x files); null: the server default."
_OVERRIDE_HELP = (
    "Zero-config builds (builder-auto, docs/builds.md): replaces the detected {}; null: detected."
)


def _override(what: str) -> Any:
    return Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00\n]*$", description=_OVERRIDE_HELP.format(what)
    )


class _BuildOverrides(_AppFields):
    install_command: str | None = _override("install command")
    build_command: str | None = _override("build command")
    start_command: str | None = _override("start command")
    base_image: str | None = _override("base image (an image reference)")

    @field_validator("base_image")
    @classmethod
    def _base_image(cls, v: str | None) -> str | None:
        return None if v is None else check_image_ref(v)


class AppIn(_BuildOverrides):
    """A new app. Only ``name`` and ``git_url`` are required (``name`` and ``source`` for an image app)."""

    name: str = Field(description="DNS-safe, unique: 1-63 of a-z, 0-9 and '-'.")
    git_url: str = Field(
        "",  # not nullable: required for a git app (the service checks it), absent for an image app
        description="https://, ssh://, git@host:path or git:// (local paths with allow_local). Required for a "
        "git app; absent for an image app.",
    )
    source: SourceIn | None = Field(None, description=_SOURCE_HELP)
    branch: str = "main"
    dockerfile: str = Field(
        "Dockerfile", description="Path of the Dockerfile, relative to the build context."
    )
    build_context: str = Field(".", description="Directory of the repository used as build context.")
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port the app listens on inside its container (``PORT`` in its environment). Omitted: a git "
        "app gets the port its builder detects at its first deployment (autodetect: python 8000, node 3000, go "
        "and static 8080; 3000 when nothing detects one), recorded on the app (``null`` until then); an image "
        "app gets 3000. ``GET /api/apps/{id}/build-plan`` shows the port a deployment would use and why.",
    )
    domains: list[str] = Field(default_factory=list, description="Host names routed to the app (unique).")
    healthcheck_path: str = "/"
    healthcheck_status: int | None = Field(
        None, ge=100, le=599, description="Expected status; None: 2xx/3xx."
    )
    healthcheck_timeout: float = Field(5.0, gt=0, le=120, description="Seconds per health request.")
    healthcheck_retries: int = Field(30, ge=1, le=1000, description="Attempts before the deployment fails.")
    healthcheck_interval: float = Field(1.0, gt=0, le=60, description="Longest pause between attempts.")
    builder: str = Field("auto", description=_BUILDER_HELP)
    health_check: dict[str, Any] | None = Field(None, description=_HEALTH_HELP)
    environment: Environment = "development"
    project_id: str | None = None
    cpu_limit: float | str | None = Field(None, description='CPUs, e.g. 0.5 or "500m".')
    memory_limit: int | str | None = Field(None, description=_MEMORY_HELP)
    pids_limit: int | None = Field(None, description=_PIDS_HELP)
    log_max_size: int | str | None = Field(None, description=_LOG_SIZE_HELP)
    log_max_files: int | None = Field(None, ge=1, le=100, description=_LOG_FILES_HELP)
    ssh_key_id: str | None = Field(None, description="SSH key (POST /api/ssh-keys) used to clone.")
    git_token: str | None = Field(None, description="HTTPS token for a private repository (write-only).")
    git_token_user: str | None = Field(
        None,
        description="User name sent with git_token: GitLab wants oauth2, Bitbucket x-token-auth; "
        "null: x-access-token (GitHub, Gitea). Linking a connected account sets it.",
    )
    https_redirect: bool = Field(
        True,
        description="Redirect HTTP to HTTPS on the app's domains (once the proxy holds a certificate).",
    )
    hsts: bool = Field(False, description="Send Strict-Transport-Security on HTTPS responses of the domains.")
    auto_domain: bool = Field(
        True, description="Also route the generated <app>.<project>.<[proxy] base_domain> (or sslip.io) name."
    )
    deploy_strategy: DeployStrategy = Field("rolling", description=_STRATEGY_HELP)
    replicas: int = Field(1, ge=1, le=20, description=_REPLICAS_HELP)
    load_balancer: LoadBalancer = Field("round_robin", description=_BALANCER_HELP)
    max_surge: int = Field(1, ge=0, le=20, description=_SURGE_HELP)
    max_unavailable: int = Field(0, ge=0, le=20, description=_UNAVAILABLE_HELP)
    backup_consistency: BackupConsistency = Field("pause", description=_CONSISTENCY_HELP)
    pre_backup_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_PRE_BACKUP_HELP
    )
    release_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_RELEASE_HELP
    )
    release_timeout: float = Field(600.0, ge=1, le=86400, description=_RELEASE_TIMEOUT_HELP)
    post_deploy_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_POST_DEPLOY_HELP
    )
    config_path: ConfigPath = Field(DEFAULT_CONFIG_PATH, description=CONFIG_PATH_HELP)
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP, json_schema_extra=TAGS_SCHEMA)
    placement: list[str] = Field(
        default_factory=list, description=PLACEMENT_HELP, json_schema_extra=PLACEMENT_SCHEMA
    )


class AppUpdate(_BuildOverrides):
    """Partial update: only the fields present change (``null`` clears the optional ones)."""

    name: str | None = None
    git_url: str | None = None
    source: SourceIn | None = Field(None, description=_SOURCE_HELP)
    branch: str | None = None
    dockerfile: str | None = None
    build_context: str | None = None
    port: int | None = Field(None, ge=1, le=65535, description="An explicit port always wins over detection.")
    domains: list[str] | None = None
    healthcheck_path: str | None = None
    healthcheck_status: int | None = Field(None, ge=100, le=599)
    healthcheck_timeout: float | None = Field(None, gt=0, le=120)
    healthcheck_retries: int | None = Field(None, ge=1, le=1000)
    healthcheck_interval: float | None = Field(None, gt=0, le=60)
    builder: str | None = Field(None, description=_BUILDER_HELP)
    health_check: dict[str, Any] | None = Field(None, description=_HEALTH_HELP)
    environment: Environment | None = None
    project_id: str | None = None
    cpu_limit: float | str | None = None
    memory_limit: int | str | None = Field(None, description=_MEMORY_HELP)
    pids_limit: int | None = Field(None, description=_PIDS_HELP)
    log_max_size: int | str | None = Field(None, description=_LOG_SIZE_HELP)
    log_max_files: int | None = Field(None, ge=1, le=100, description=_LOG_FILES_HELP)
    ssh_key_id: str | None = None
    git_token: str | None = None
    git_token_user: str | None = None
    https_redirect: bool | None = Field(None, description="Applies to the app's routes at once.")
    hsts: bool | None = Field(None, description="Applies to the app's routes at once.")
    auto_domain: bool | None = Field(None, description="Routes or drops the generated domain at once.")
    deploy_strategy: DeployStrategy | None = Field(None, description=_STRATEGY_HELP)
    replicas: int | None = Field(None, ge=1, le=20, description=_REPLICAS_HELP + _REPLICAS_UPDATE)
    load_balancer: LoadBalancer | None = Field(None, description=_BALANCER_HELP)
    max_surge: int | None = Field(None, ge=0, le=20, description=_SURGE_HELP)
    max_unavailable: int | None = Field(None, ge=0, le=20, description=_UNAVAILABLE_HELP)
    backup_consistency: BackupConsistency | None = Field(None, description=_CONSISTENCY_HELP)
    pre_backup_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_PRE_BACKUP_HELP
    )
    release_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_RELEASE_HELP
    )
    release_timeout: float | None = Field(None, ge=1, le=86400, description=_RELEASE_TIMEOUT_HELP)
    post_deploy_command: str | None = Field(
        None, min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description=_POST_DEPLOY_HELP
    )
    config_path: ConfigPath = Field(None, description=CONFIG_PATH_HELP)
    # Absent: unchanged; null is refused (an app always has a list, maybe empty), so the type is not nullable.
    tags: list[str] = Field(
        None,  # type: ignore[arg-type]
        description=TAGS_HELP + " Replaces them all.",
        json_schema_extra=TAGS_SCHEMA,
    )
    # Like tags: absent keeps them, [] removes them all, null is refused.
    placement: list[str] = Field(
        None,  # type: ignore[arg-type]
        description=PLACEMENT_HELP + " Replaces them all; [] removes them.",
        json_schema_extra=PLACEMENT_SCHEMA,
    )


class DeleteAppQuery(_Strict):
    keep_volumes: bool = Field(
        False,
        description="Keep the app's named volumes (their data stays in the engine, labelled with the app).",
    )


class AppsQuery(_Strict):
    project_id: str | None = None
    environment: Environment | None = None
    include_previews: bool = Field(
        False, description="Also list the hidden preview apps of pull requests (always reachable by id)."
    )
    tag: list[str] | str | None = Field(None, description=TAG_FILTER_HELP)


class ProjectIn(_Strict):
    name: str = Field(description="DNS-safe, unique.")
    description: str = Field("", max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class ProjectUpdate(_Strict):
    name: str | None = None
    description: str | None = Field(None, max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v)


class EnvVarIn(_Strict):
    key: str = Field(description="Letters, digits, '_' (PORT, RIVETR_* and SOURCE_COMMIT are reserved).")
    value: str = Field(max_length=65536)
    is_secret: bool = Field(False, description="Masked in responses unless ?reveal=true.")
    scope: EnvScope = Field("runtime", description=_SCOPE_DOC)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        return check_env_key(v)

    @field_validator("value")
    @classmethod
    def _value(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class EnvVarUpdate(_Strict):
    value: str | None = Field(None, max_length=65536)
    is_secret: bool | None = None
    scope: EnvScope | None = Field(None, description=_SCOPE_DOC)

    @field_validator("value")
    @classmethod
    def _value(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("must not contain NUL characters")
        return v


class SshKeyIn(_Strict):
    name: str = Field(description="DNS-safe, unique.")
    private_key: str = Field(max_length=20000, description="OpenSSH or PEM private key without passphrase.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class DeployIn(_Strict):
    commit: str | None = Field(None, description="Commit id to deploy instead of the branch head.")
    no_cache: bool = Field(False, description="Rebuild without the engine's layer cache (git apps).")
    image: str | None = Field(
        None, description="Image apps: deploy this reference (another tag) and keep it as the app's image."
    )

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image_ref(v)

    @field_validator("commit")
    @classmethod
    def _commit(cls, v: str | None) -> str | None:
        return check_commit(v)


class RevealQuery(_Strict):
    reveal: bool = False
