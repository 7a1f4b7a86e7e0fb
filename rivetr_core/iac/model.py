"""The declarative models: an app's ``rivetr.toml`` (:class:`AppFile`) and a project's ``project.toml``
(:class:`ProjectFile`).

One schema with the API: every field is taken from the API's request model that owns it (its type, bounds,
description and JSON Schema), and the validators come from the same bases (``_BuildOverrides`` for apps,
``_Limits`` for services), so a value the API refuses is refused here with the same message. What a file adds
is structure: the app's env defaults, secret names, volumes, tasks and links as tables of the app, by name
instead of by id.

A key absent from a file is not managed by it: apply leaves that setting as it is on the server.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, create_model, field_validator, model_validator

from rivetr_core.api.appschema import AppIn, AppUpdate, ProjectIn, _BuildOverrides, _Strict, check_env_key
from rivetr_core.api.config_path import CONFIG_PATH_HELP, ConfigPath
from rivetr_core.api.links import LinkIn
from rivetr_core.api.services import ServiceIn, _Limits
from rivetr_core.api.tasks import TaskIn
from rivetr_core.api.volumes import VolumeIn
from rivetr_core.validation import NAME_SCHEMA, check_name

#: The app settings a file declares, by their API names: build, run, health check, domains, limits and the
#: deployment's commands. Left out on purpose: ``name`` (the file's place says it), ``project_id`` (the
#: project file says it), ``git_token``/``ssh_key_id`` (credentials and server-local ids) and the legacy
#: ``healthcheck_*`` fields (``health_check`` says the same).
APP_KEYS: tuple[str, ...] = tuple(
    key
    for key in (
        # build
        "source",
        "git_url",
        "branch",
        "git_token_user",
        "builder",
        "dockerfile",
        "build_context",
        "install_command",
        "build_command",
        "start_command",
        "base_image",
        # run
        "port",
        "replicas",  # once the apps API has it (issue 23): taken only if AppUpdate declares it
        "max_surge",
        "max_unavailable",
        "load_balancer",
        "placement",
        "environment",
        "cpu_limit",
        "memory_limit",
        "pids_limit",
        "log_max_size",
        "log_max_files",
        "deploy_strategy",
        "release_command",
        "release_timeout",
        "post_deploy_command",
        "backup_consistency",
        "pre_backup_command",
        "health_check",
        # routing
        "domains",
        "https_redirect",
        "hsts",
        "auto_domain",
        "tags",
    )
    if key in AppUpdate.model_fields
)

#: An app's git settings a file declares (``PUT /api/apps/{id}/git-settings``): auto-deploy, followed tags and
#: PR previews. Left out: the webhook secret (a secret) and the linked account and repository (server-local).
GIT_KEYS: tuple[str, ...] = (
    "auto_deploy",
    "follow_tags",
    "tag_pattern",
    "previews_enabled",
    "preview_secrets",
)

#: A managed service's settings a project file declares (``environment`` is left out: it may hold secrets).
SERVICE_KEYS: tuple[str, ...] = (
    "name",
    "type",
    "version",
    "memory_limit",
    "cpu_limit",
    "public_port",
    "tags",
)


def _fields_of(source: type[BaseModel], keys: tuple[str, ...]) -> dict[str, Any]:
    """``create_model`` arguments for ``keys``, each the source model's own field (type and FieldInfo)."""
    return {key: (source.model_fields[key].annotation, copy.copy(source.model_fields[key])) for key in keys}


_APP_DOC = "An app's declarative settings: the API's app fields (PUT /api/apps/{id}), each optional."
#: The app settings, from ``AppUpdate`` (every field optional: absent means not managed by the file).
AppSettings: type[_BuildOverrides] = create_model(  # type: ignore[call-overload]
    "AppSettings",
    __base__=_BuildOverrides,
    __doc__=_APP_DOC,
    **_fields_of(AppUpdate, tuple(k for k in APP_KEYS if k not in _BuildOverrides.model_fields)),
)

_ENV_HELP = (
    "Non-secret variables and their default values, set on the server when missing or different (scope "
    "runtime). Never put secrets here: name them in secrets."
)
_BUILD_ENV_HELP = (
    "Non-secret build-time variables (build arguments, scope build; a key also in env with the same value has "
    "scope both)."
)
_SECRETS_HELP = (
    "Names of secret variables the app needs; their values are set on the server only (PUT "
    "/api/apps/{id}/env-vars), never in a file. Apply reports the ones not set yet."
)


def _env_value(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: A variable's name and value with the env-vars API's rules; an error's loc holds the key itself, so it is
#: reported at the key's own line.
EnvKey = Annotated[str, AfterValidator(check_env_key)]
EnvValue = Annotated[str, Field(max_length=65536), AfterValidator(_env_value)]


class LinkSpec(_Strict):
    """A link to a managed service of the project, by the service's name."""

    service: str = Field(
        description="Name of a service of the project (in the file or on the server).",
        json_schema_extra=NAME_SCHEMA,
    )
    env_prefix: str | None = copy.copy(LinkIn.model_fields["env_prefix"])  # type: ignore[assignment]

    @field_validator("service")
    @classmethod
    def _service(cls, v: str) -> str:
        return check_name(v)


def _git_fields() -> dict[str, Any]:
    from rivetr_core.api.webhooks import GitSettingsIn

    fields = _fields_of(GitSettingsIn, GIT_KEYS)
    # The API's validator keeps a pattern to 255 characters; here the field's own bound says it.
    fields["tag_pattern"] = (
        str | None,
        Field(None, max_length=255, description=fields["tag_pattern"][1].description),
    )
    return fields


GitSettingsSpec: type[_Strict] = create_model(  # type: ignore[call-overload]
    "GitSettingsSpec",
    __base__=_Strict,
    __doc__="Auto-deploy and PR previews (PUT /api/apps/{id}/git-settings), each optional.",
    **_git_fields(),
)


#: A backup schedule's settings a file declares (``POST /api/backup-schedules``), besides what it backs up (the
#: app or service it is listed under) and where to (a destination of the server, by name).
BACKUP_KEYS: tuple[str, ...] = ("cron", "timezone", "keep_last", "keep_daily", "keep_weekly", "enabled")


def _backup_fields() -> dict[str, Any]:
    from rivetr_core.api.backups import ScheduleIn

    return _fields_of(ScheduleIn, BACKUP_KEYS)


class _BackupBase(_Strict):
    destination: str = Field(
        min_length=1,
        max_length=63,
        description="Name of a backup destination of the server (GET /api/backup-destinations): created there "
        "first, it holds credentials.",
    )


BackupSpec: type[_BackupBase] = create_model(  # type: ignore[call-overload]
    "BackupSpec",
    __base__=_BackupBase,
    __doc__="A backup schedule (cron and retention) of the app's volumes or the service's data.",
    **_backup_fields(),
)
_BACKUPS_HELP = (
    "Backup schedules, by destination and cron (changing either replaces the schedule). An app's back up its "
    "volumes, a service's its data."
)


#: A route's settings a file declares (``PUT /api/routes/settings/{key}``); basic auth by user names only.
ROUTE_KEYS: tuple[str, ...] = (
    "strip_prefix",
    "redirect_www",
    "redirects",
    "compression",
    "upstream_protocol",
)


def _route_fields() -> dict[str, Any]:
    from rivetr_core.api.routes import RouteSettingsIn

    return _fields_of(RouteSettingsIn, ROUTE_KEYS)


class BasicAuthSpec(_Strict):
    """Basic auth of a route, its users by name: their passwords are set on the server (the dashboard's route
    settings or ``PUT /api/routes/settings/{key}``), never in a file."""

    realm: str = Field("Restricted", max_length=200, description="Shown by the browser's login prompt.")
    users: list[str] = Field(
        min_length=1,
        max_length=100,
        description="User names (1-100 characters, no colon or space); each needs a password on the server.",
        json_schema_extra={"items": {"type": "string", "pattern": r"^[^:\s]{1,100}$"}},
    )

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        import re

        for name in v:
            if not name or len(name) > 100 or ":" in name or re.search(r"\s", name):
                raise ValueError(f"{name!r}: 1-100 characters, no colon or space")
        if len(set(v)) != len(v):
            raise ValueError("names a user twice")
        return v


_RouteFields: type[_Strict] = create_model(  # type: ignore[call-overload]
    "RouteFields", __base__=_Strict, **_route_fields()
)


class RouteSettingsSpec(_RouteFields):  # type: ignore[misc, valid-type]
    """A route's settings: the API's fields, basic auth by user names."""

    basic_auth: BasicAuthSpec | None = Field(None, description="Basic auth, its users by name.")


_ROUTES_HELP = (
    "Settings of the app's routes, by route key (a domain of the app, with its path prefix if any): prefix "
    "stripping, the www redirect, redirect rules, compression, the upstream protocol (h2c for gRPC), basic auth "
    "users (names)."
)


class AppFile(AppSettings):  # type: ignore[misc, valid-type]
    """``rivetr.toml``: an app's settings at the top level (as in the API), tables for the rest."""

    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, description=_ENV_HELP)
    build_env: dict[EnvKey, EnvValue] = Field(default_factory=dict, description=_BUILD_ENV_HELP)
    secrets: list[EnvKey] = Field(default_factory=list, description=_SECRETS_HELP)
    volumes: list[VolumeIn] = Field(default_factory=list, description="Named volumes and binds (by name).")
    tasks: list[TaskIn] = Field(default_factory=list, description="Scheduled tasks (cron; by name).")
    links: list[LinkSpec] = Field(default_factory=list, description="Links to the project's services.")
    backups: list[BackupSpec] = Field(default_factory=list, description=_BACKUPS_HELP)  # type: ignore[valid-type]
    route_settings: dict[str, RouteSettingsSpec] = Field(default_factory=dict, description=_ROUTES_HELP)
    git_settings: GitSettingsSpec | None = Field(  # type: ignore[valid-type]
        None, description="Auto-deploy on push, followed tags and pull-request previews."
    )

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("names a secret twice")
        return v

    @field_validator("route_settings")
    @classmethod
    def _route_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        from rivetr_core.routepaths import check_route_target

        # Keys as the routes API spells them (Web.Example.com/v1/ -> web.example.com/v1): the settings land on
        # the route's own key, and the dashboard and the API find them managed under it.
        out = {}
        for key, value in v.items():
            try:
                out[check_route_target(key)] = value
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return out

    @model_validator(mode="after")
    def _unique(self) -> AppFile:
        domains = getattr(self, "domains", None)
        if domains is not None:
            strays = sorted(set(self.route_settings) - set(domains))
            if strays:
                raise ValueError(f"route_settings: {', '.join(strays)} is not one of the app's domains")
        both = set(self.secrets) & (set(self.env) | set(self.build_env))
        if both:
            raise ValueError(
                f"{', '.join(sorted(both))}: a secret has no value in the file (remove it from env)"
            )
        for what, names in (
            ("volumes", [v.name for v in self.volumes]),
            ("tasks", [t.name for t in self.tasks]),
            ("links", [link.service for link in self.links]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}: {', '.join(twice)} named twice")
        return self


#: Keys only a project file's app takes, not ``rivetr.toml``: where the app's own file is (a file cannot move
#: itself: the path must be known before the file is read).
PROJECT_APP_KEYS: tuple[str, ...] = ("config_path",)


class ProjectApp(AppFile):
    """An app of a project file: its name, then what ``rivetr.toml`` says, and where its ``rivetr.toml`` is."""

    name: str = copy.copy(AppIn.model_fields["name"])  # type: ignore[assignment]
    config_path: ConfigPath = Field(None, description=CONFIG_PATH_HELP)


_ServiceFields: type[_Limits] = create_model(  # type: ignore[call-overload]
    "ServiceFields", __base__=_Limits, **_fields_of(ServiceIn, SERVICE_KEYS)
)


class ServiceSpec(_ServiceFields):  # type: ignore[misc, valid-type]
    """A managed service (database, cache...): the API's service fields, created with the project."""

    model_config = {"extra": "forbid"}

    backups: list[BackupSpec] = Field(default_factory=list, description=_BACKUPS_HELP)  # type: ignore[valid-type]

    if TYPE_CHECKING:  # fields made by create_model above, named for the type checker only
        name: str
        type: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


#: A compose stack's settings a project file declares (``POST /api/stacks``). Left out: its ``env`` (the API
#: masks every value: set them on the server), ``git_token``, ``webhook_secret`` and ``ssh_key_id``.
STACK_KEYS: tuple[str, ...] = (
    "name",
    "compose",
    "repo_url",
    "branch",
    "compose_path",
    "git_token_user",
    "profiles",
    "previews",
    "domains",
    "tags",
)


def _stack_base() -> type[BaseModel]:
    from rivetr_core.api.stacks import StackIn, _StackChecks

    return create_model(  # type: ignore[call-overload, no-any-return]
        "StackFields", __base__=_StackChecks, **_fields_of(StackIn, STACK_KEYS)
    )


class StackSpec(_stack_base()):  # type: ignore[misc]
    """A compose stack (a pasted compose file or a repository): the API's stack fields."""

    model_config = {"extra": "forbid"}

    if TYPE_CHECKING:  # fields made by create_model above, named for the type checker only
        name: str
        compose: str | None
        repo_url: str | None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        from rivetr_core.api.stacks import check_stack_name

        return check_stack_name(v)

    @model_validator(mode="after")
    def _source(self) -> StackSpec:
        if bool(self.compose) == bool(self.repo_url):
            raise ValueError(
                "give compose (the file's text) or repo_url (a repository with the file), not both"
            )
        return self


def _notification_fields() -> dict[str, Any]:
    from rivetr_core.api.notification_routes import NotificationRouteIn

    return _fields_of(NotificationRouteIn, ("apps", "events"))


class _NotificationBase(_Strict):
    channel: str = Field(
        min_length=1,
        max_length=100,
        description="Name of a notification channel of the server (GET /api/notification-channels): created "
        "there first, it holds the URL and its credentials.",
    )

    if TYPE_CHECKING:  # fields made by create_model below, named for the type checker only
        apps: list[str]
        events: list[str]


NotificationSpec: type[_NotificationBase] = create_model(  # type: ignore[call-overload]
    "NotificationSpec",
    __base__=_NotificationBase,
    __doc__="Notification routing: which of the project's events go to a channel (PUT "
    "/api/projects/{id}/notification-routes/{channel_id}).",
    **_notification_fields(),
)
_NOTIFICATIONS_HELP = (
    "Notification routing, one table per channel (by name): the project's events, of all its apps or the ones "
    "named, sent to that channel."
)


class ProjectFile(_Strict):
    """``project.toml``: a project, its services and its apps."""

    project: ProjectIn = Field(description="The project's name (how apply finds it) and description.")
    services: list[ServiceSpec] = Field(default_factory=list, description="Managed services, by name.")
    apps: list[ProjectApp] = Field(default_factory=list, description="Apps, by name.")
    stacks: list[StackSpec] = Field(default_factory=list, description="Compose stacks, by name.")
    notifications: list[NotificationSpec] = Field(  # type: ignore[valid-type]
        default_factory=list, description=_NOTIFICATIONS_HELP
    )

    @model_validator(mode="after")
    def _unique(self) -> ProjectFile:
        names = [s.name for s in self.services] + [a.name for a in self.apps] + [s.name for s in self.stacks]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(twice)}: names are unique across the project's apps, services and stacks"
            )
        channels = [n.channel for n in self.notifications]
        twice = sorted({n for n in channels if channels.count(n) > 1})
        if twice:
            raise ValueError(f"notifications: {', '.join(twice)} named twice (one table per channel)")
        return self


#: Published schemas by file name (``GET /api/schemas/<name>``).
FILES: dict[str, type[BaseModel]] = {"rivetr.toml": AppFile, "project.toml": ProjectFile}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (a key of :data:`FILES`), for editors (taplo, Even Better TOML...)."""
    schema = _without_null(FILES[name].model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = name
    return schema


def _without_null(schema: Any) -> Any:
    """TOML has no null (an absent key is how a file says "not managed"): drop the null alternatives and null
    defaults the API's models document; a value that may only be null becomes ``false`` (the key is absent)."""
    if isinstance(schema, list):
        return [_without_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema == {"type": "null"}:
        return False
    out = dict(schema)
    branches = out.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        kept = [b for b in branches if b != {"type": "null"}]
        del out["anyOf"]
        if len(kept) == 1:
            out = {**kept[0], **out}
        elif kept:
            out["anyOf"] = kept
    return {k: _without_null(v) for k, v in out.items() if not (k == "default" and v is None)}
