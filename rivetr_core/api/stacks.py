"""``/api/stacks``: compose stacks; ``GET /api/projects/{id}/network``: who is on a project's private network.
See docs/compose.md.

Thin handlers over :class:`~rivetr_core.services.stacks.StackService` (``ctx.services.stacks``), which loads with
the first request here: this module imports only pydantic, Quart and core pieces the server has loaded anyway.

* ``POST /api/stacks`` {name, compose | repo_url (+ branch, compose_path, ssh_key_id, git_token, git_token_user,
  webhook_secret), project_id?, domains?, env?, profiles?} → 201. A pasted file is validated at once (422 naming
  the key, the service, the line); a repository's file at each deploy. The token and the webhook secret are
  write-only (``has_git_token``, ``has_webhook_secret``).
* ``POST /api/stacks/{id}/deploy`` → 202 with a deployment that ``GET /api/deployments/{id}`` (and its log
  stream) follows like an app's; ``POST /api/stacks/{id}/rollback`` {deployment_id?}.
* ``GET /api/stacks/{id}/services/{service}/logs?tail=`` and the WebSocket ``.../logs/stream``.
* ``POST /api/compose/validate`` checks a file without storing anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, Response, websocket
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.enforce import reveal_allowed
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import NotFound, ValidationFailed
from rivetr_core.db import isoformat
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.routepaths import ROUTE_TARGET_SCHEMA, check_route_target
from rivetr_core.services.deployment_responses import DeploymentOut, stack_deployment_json
from rivetr_core.tags import TAG_FILTER_HELP, TAGS_HELP, TAGS_SCHEMA, query_tags

from .system import AppMetricsOut, RangeQuery

bp = Blueprint("stacks_api", __name__)

_ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
_STACK_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"


def check_stack_name(v: str) -> str:
    """A stack's name rule, shared by the API's models and project.toml's (rivetr_core.iac)."""
    if not re.match(_STACK_NAME, v):
        raise ValueError("must be 1-40 lower-case letters, digits or '-', starting and ending alphanumeric")
    return v


_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+-]{1,255}(?<![./])$")
MAX_COMPOSE = 1024 * 1024


class DomainIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(json_schema_extra=ROUTE_TARGET_SCHEMA)
    service: str = Field(min_length=1, max_length=63, description="The compose service the proxy routes to.")
    port: int = Field(ge=1, le=65535, description="Its container port.")

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_route_target(v, allow_wildcard=False)  # app.example.com or api.example.com/v1


def _check_env(env: dict[str, str] | None) -> dict[str, str] | None:
    for key in env or {}:
        if not re.match(_ENV_KEY, key):
            raise ValueError(f"{key!r} is not a valid variable name")
    return env


def _check_branch(value: str | None) -> str | None:
    if value is not None and (not _BRANCH.match(value) or value.endswith(".lock")):
        raise ValueError("must be a valid git branch name")
    return value


_COMPOSE_HELP = "The compose file (YAML, at most 1 MiB). Either this or repo_url."
_PREVIEWS_HELP = (
    "Deploy a preview stack <name>-pr-<n> for each pull request to the branch (same repository only; needs "
    "[proxy] preview_domain): its routed services at pr-<n>-<service>.<name>.<preview_domain>."
)
_ENV_HELP = "Variables the file interpolates (${VAR}, ${VAR:-default}, ${VAR:?error}); encrypted at rest."
_SSH_KEY_HELP = "Deploy key (POST /api/ssh-keys) that clones the repository; an SSH repo_url needs one."
_TOKEN_HELP = (
    "HTTPS token for a private repository (write-only, encrypted at rest); empty or null removes it."
)
_TOKEN_USER_HELP = (
    "User name sent with git_token: GitLab wants oauth2, Bitbucket x-token-auth; null: x-access-token (GitHub, "
    "Gitea)."
)
_WEBHOOK_HELP = (
    "The stack's own webhook secret (HMAC key / GitLab token, 8-500 characters; write-only, encrypted at rest): "
    "a push to /webhooks/<provider> signed with it deploys this stack. Empty or null removes it."
)
#: "" (remove) or 8-500 characters, as an app's webhook secret (api/webhooks.GitSettingsIn).
_WEBHOOK_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": 0},
        {"type": "string", "minLength": 8, "maxLength": 500},
        {"type": "null"},
    ]
}
_TOKEN_USER_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": r"^[!-9;-~]{1,100}$"}, {"type": "null"}]
}


class _StackChecks(ApiModel):
    """The checks a new stack and an update share."""

    @field_validator("env", check_fields=False)
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env(v) or {}

    @field_validator("branch", check_fields=False)
    @classmethod
    def _branch(cls, v: str) -> str:
        return _check_branch(v) or "main"

    @field_validator("git_token_user", check_fields=False)
    @classmethod
    def _token_user(cls, v: str | None) -> str | None:
        from .appschema import check_token_user

        return None if v is None else check_token_user(v)

    @field_validator("webhook_secret", check_fields=False)
    @classmethod
    def _webhook_secret(cls, v: str | None) -> str | None:
        if v is not None and v != "" and not 8 <= len(v) <= 500:
            raise ValueError("must be 8-500 characters (or empty to remove it)")
        return v


class StackIn(_StackChecks):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="DNS-safe (at most 40 characters), unique across apps, services and stacks; a stack service "
        "is <name>-<service> on the project network.",
        json_schema_extra={"pattern": _STACK_NAME, "maxLength": 40},
    )
    project_id: str | None = Field(None, max_length=32)
    compose: str | None = Field(None, max_length=MAX_COMPOSE, description=_COMPOSE_HELP)
    repo_url: str | None = Field(
        None,
        max_length=500,
        description="Repository with the file: https://, git://, or SSH (ssh://, git@host:path) with ssh_key_id.",
    )
    branch: str = Field("main", max_length=255)
    compose_path: str | None = Field(
        None,
        max_length=500,
        description="Path of the file in the repository; default compose.yaml, compose.yml, docker-compose.yml.",
    )
    ssh_key_id: str | None = Field(None, max_length=32, description=_SSH_KEY_HELP)
    git_token: str | None = Field(None, max_length=2000, description=_TOKEN_HELP)
    git_token_user: str | None = Field(
        None, description=_TOKEN_USER_HELP, json_schema_extra=_TOKEN_USER_SCHEMA
    )
    webhook_secret: str | None = Field(None, description=_WEBHOOK_HELP, json_schema_extra=_WEBHOOK_SCHEMA)
    profiles: list[str] = Field(default_factory=list, max_length=50, description="Compose profiles enabled.")
    previews: bool = Field(False, description=_PREVIEWS_HELP)
    domains: list[DomainIn] = Field(default_factory=list, max_length=100)
    env: dict[str, str] = Field(default_factory=dict, description=_ENV_HELP)
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP, json_schema_extra=TAGS_SCHEMA)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_stack_name(v)


class StackUpdate(_StackChecks):
    """Only the fields present change; they apply at the next deploy (a removed domain stops routing now)."""

    model_config = ConfigDict(extra="forbid")

    compose: str = Field(None, max_length=MAX_COMPOSE, description=_COMPOSE_HELP)  # type: ignore[assignment]
    repo_url: str = Field(None, max_length=500)  # type: ignore[assignment]
    branch: str = Field(None, max_length=255)  # type: ignore[assignment]
    compose_path: str | None = Field(None, max_length=500)
    ssh_key_id: str | None = Field(None, max_length=32, description=_SSH_KEY_HELP + " Null removes it.")
    git_token: str | None = Field(None, max_length=2000, description=_TOKEN_HELP)
    git_token_user: str | None = Field(
        None, description=_TOKEN_USER_HELP, json_schema_extra=_TOKEN_USER_SCHEMA
    )
    webhook_secret: str | None = Field(None, description=_WEBHOOK_HELP, json_schema_extra=_WEBHOOK_SCHEMA)
    profiles: list[str] = Field(None, max_length=50)  # type: ignore[arg-type]
    previews: bool = Field(None, description=_PREVIEWS_HELP)  # type: ignore[assignment]
    domains: list[DomainIn] = Field(None, max_length=100)  # type: ignore[arg-type]
    env: dict[str, str] = Field(None, description=_ENV_HELP + " Replaces them all.")  # type: ignore[arg-type]
    tags: list[str] = Field(
        None,  # type: ignore[arg-type]
        description=TAGS_HELP + " Replaces them all.",
        json_schema_extra=TAGS_SCHEMA,
    )


class ValidateIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    compose: str = Field(max_length=MAX_COMPOSE)
    env: dict[str, str] = Field(default_factory=dict)
    profiles: list[str] = Field(default_factory=list, max_length=50)


class ValidateOut(ApiModel):
    services: list[str] = Field(description="Services the file runs (with these profiles).")
    disabled_services: list[str] = Field(description="Services left out by their profiles.")
    start_order: list[list[str]] = Field(description="Start levels by depends_on: dependencies first.")
    networks: list[str]
    volumes: list[str]
    variables: list[str] = Field(description="Variables the file uses.")
    warnings: list[str]


class DomainOut(ApiModel):
    domain: str
    service: str
    port: int


class ContainerOut(ApiModel):
    id: str | None
    name: str | None
    status: str = Field(description="As the engine reports it now (missing: gone from the engine).")
    health: str | None
    upstream: str | None = Field(description="Where the proxy reaches it (routed services).")


class StackServiceOut(ApiModel):
    name: str
    image: str | None
    status: str
    replicas: int
    containers: list[ContainerOut]
    internal_names: list[str] = Field(
        description="Host names: the service name on the stack's networks, <stack>-<service> on the project's."
    )
    domains: list[str]
    last_action: str | None = Field(
        description="What the last deployment did: started, kept, recreated, replaced."
    )


class StackOut(ApiModel):
    id: str
    name: str
    project_id: str | None
    source: str = Field(description="inline (pasted file) or git.")
    compose: str | None = Field(description="The pasted file (inline stacks).")
    repo_url: str | None
    branch: str
    compose_path: str | None
    ssh_key_id: str | None = Field(description="The deploy key that clones the repository.")
    has_git_token: bool = Field(description="An HTTPS token for the repository is set (never returned).")
    git_token_user: str | None = Field(description="User name sent with the token; null: x-access-token.")
    has_webhook_secret: bool = Field(
        description="The stack has a webhook secret of its own (never returned): pushes signed with it deploy it."
    )
    profiles: list[str]
    previews: bool = Field(description="Pull requests get preview stacks.")
    preview_of: str | None = Field(description="On a preview stack: the stack it previews.")
    pr_number: int | None = Field(description="On a preview stack: its pull/merge request.")
    domains: list[DomainOut]
    env: dict[str, str] = Field(description="Variables, values masked unless ?reveal=true (administrators).")
    status: str = Field(description="created, deploying, running, failed (its first deployment) or deleting.")
    error: str | None
    current_deployment_id: str | None
    network: str = Field(description="The project network its services join.")
    services: list[StackServiceOut]
    tags: list[str] = Field(default_factory=list, description="Labels, sorted (docs/tags.md).")
    created_at: str
    updated_at: str


class ListQuery(PageQuery):
    project_id: str | None = Field(None, max_length=32)
    tag: list[str] | str | None = Field(None, description=TAG_FILTER_HELP)


class RevealQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reveal: bool = Field(False, description="Real variable values (team owners and admins: secrets.reveal).")


class DeleteQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    volumes: bool = Field(False, description="Also delete the stack's named volumes (its data).")


class RollbackIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    deployment_id: str | None = Field(
        None, max_length=32, description="The deployment to go back to; default: the one before the current."
    )


class LogsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    tail: int = Field(100, ge=0, le=100_000)


class LogLineOut(ApiModel):
    line: str
    stream: str
    ts: str | None
    container: str = Field(description="The replica's container name.")


class ServiceLogsOut(ApiModel):
    items: list[LogLineOut]


class NetworkMemberOut(ApiModel):
    kind: str = Field(description="app, service (managed database/service) or stack_service.")
    id: str
    name: str
    internal_names: list[str] = Field(description="The host names other members reach it by.")


class ProjectNetworkOut(ApiModel):
    project_id: str | None
    network: str = Field(description="The engine network (isolated from other projects' networks).")
    members: list[NetworkMemberOut]


def _stacks() -> Any:
    return rivetr().services.stacks


async def _stack_json(row: Any, *, reveal: bool = False) -> dict[str, Any]:
    return StackOut.model_validate(await _stacks().detail(row.id, reveal=reveal)).model_dump(mode="json")


async def _reveal(asked: bool) -> bool:
    return reveal_allowed(asked)  # team owners and admins (secrets.reveal)


def _source_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``source`` from what was given: a pasted file or a repository, not both."""
    if fields.get("compose") and fields.get("repo_url"):
        raise ValidationFailed.on(
            "compose", "give either compose (a pasted file) or repo_url (a repository), not both"
        )
    if "compose" in fields and fields["compose"] is not None:
        fields["source"] = "inline"
        fields["repo_url"] = None
    elif fields.get("repo_url"):
        from rivetr_core.engine.gitsource import classify_url

        if classify_url(fields["repo_url"]) is None:
            raise ValidationFailed.on(
                "repo_url", "must be a repository URL (https://, ssh://, git@host:path or git://)"
            )
        fields["source"] = "git"
        fields["compose"] = None
    return fields


@bp.get("/api/stacks")
@tag(["stacks"])
@validate_querystring(ListQuery)
@document_response(page_model(StackOut, "StackPage"))
async def list_stacks(query_args: ListQuery) -> dict[str, Any]:
    """Stacks by name, a page at a time, variables masked."""
    rows, next_cursor = await _stacks().list(
        query_args, project_id=query_args.project_id, tags=query_tags(query_args.tag)
    )
    return envelope([await _stack_json(r) for r in rows], next_cursor)


@bp.post("/api/stacks")
@tag(["stacks"])
@responds(404, 409)
@validate_request(StackIn)
@document_response(StackOut, 201)
async def create_stack(data: StackIn) -> tuple[dict[str, Any], int]:
    """Create a stack from a pasted compose file or a repository (deploy it with ``POST .../deploy``)."""
    fields = data.model_dump()
    for key in ("git_token", "webhook_secret"):  # empty: none
        fields[key] = fields.get(key) or None
    if not fields.get("compose") and not fields.get("repo_url"):
        raise ValidationFailed.on(
            "compose", "give compose (a pasted file) or repo_url (a repository with the file)"
        )
    row = await _stacks().create(_source_fields(fields))
    return await _stack_json(row), 201


@bp.post("/api/compose/validate")
@tag(["stacks"])
@validate_request(ValidateIn)
@document_response(ValidateOut)
async def validate_stack(data: ValidateIn) -> dict[str, Any]:
    """Check a compose file as a deploy of a pasted stack reads it (422 naming what is wrong); stores nothing."""
    from rivetr_core.compose.loader import referenced_variables

    project = _stacks().validate_compose(data.compose, data.env, list(data.profiles))
    return ValidateOut(
        services=sorted(project.services),
        disabled_services=sorted(project.disabled_services),
        start_order=project.start_order(),
        networks=sorted(project.networks),
        volumes=sorted(project.volumes),
        variables=referenced_variables(data.compose),
        warnings=list(project.warnings),
    ).model_dump(mode="json")


@bp.get("/api/stacks/<stack_id>")
@tag(["stacks"])
@responds(403)
@validate_querystring(RevealQuery)
@document_response(StackOut)
async def get_stack(stack_id: str, query_args: RevealQuery) -> dict[str, Any]:
    """A stack (by id or name) with its services and their containers as the engine sees them now."""
    reveal = await _reveal(query_args.reveal)
    return await _stack_json(await _stacks().get(stack_id), reveal=reveal)


@bp.put("/api/stacks/<stack_id>")
@tag(["stacks"])
@responds(409)
@validate_request(StackUpdate)
@document_response(StackOut)
async def update_stack(stack_id: str, data: StackUpdate) -> dict[str, Any]:
    """Change the file, repository, profiles, domains or variables; they apply at the next deploy."""
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    if "domains" in fields:
        fields["domains"] = [d.model_dump() for d in data.domains]
    row = await _stacks().update(stack_id, _source_fields(fields))
    return await _stack_json(row)


@bp.delete("/api/stacks/<stack_id>")
@tag(["stacks"])
@validate_querystring(DeleteQuery)
async def delete_stack(stack_id: str, query_args: DeleteQuery) -> Response:
    """Stop and remove its containers, networks, routes and images (``volumes=true``: its data too)."""
    await _stacks().delete(stack_id, volumes=query_args.volumes)
    return Response(status=204)


@bp.post("/api/stacks/<stack_id>/deploy")
@tag(["stacks"])
@responds(409)
@document_response(DeploymentOut, 202)
async def deploy_stack(stack_id: str) -> tuple[dict[str, Any], int]:
    """202 with the deployment (``GET /api/deployments/{id}`` and its log stream follow it)."""
    dep = await _stacks().deploy(stack_id, trigger="api")
    return stack_deployment_json(dep), 202


@bp.post("/api/stacks/<stack_id>/rollback")
@tag(["stacks"])
@responds(409)
@validate_request(RollbackIn)
@document_response(DeploymentOut, 202)
async def rollback_stack(stack_id: str, data: RollbackIn) -> tuple[dict[str, Any], int]:
    """202 with a deployment that runs an earlier deployment's file and images again (no build; a repository
    stack checks that deployment's commit out for its files)."""
    dep = await _stacks().rollback(stack_id, data.deployment_id)
    return stack_deployment_json(dep), 202


@bp.get("/api/stacks/<stack_id>/deployments")
@tag(["stacks"])
@validate_querystring(PageQuery)
@document_response(page_model(DeploymentOut, "StackDeploymentPage"))
async def list_stack_deployments(stack_id: str, query_args: PageQuery) -> dict[str, Any]:
    """Newest first."""
    rows, next_cursor = await _stacks().list_deployments(stack_id, query_args)
    return envelope([stack_deployment_json(d) for d in rows], next_cursor)


async def _service_logs(stack_id: str, service: str, tail: int, follow: bool) -> Any:
    service_layer = _stacks()
    ids = await service_layer.service_container_ids(stack_id, service)
    runtime = await rivetr().runtime()
    return ids, runtime


@bp.get("/api/stacks/<stack_id>/services/<service>/logs")
@tag(["stacks"])
@validate_querystring(LogsQuery)
@document_response(ServiceLogsOut)
async def stack_service_logs(stack_id: str, service: str, query_args: LogsQuery) -> dict[str, Any]:
    """The last lines of each of the service's containers (replicas), oldest first."""
    ids, runtime = await _service_logs(stack_id, service, query_args.tail, False)
    items: list[dict[str, Any]] = []
    for container_id in ids:
        info = await runtime.inspect(container_id)
        async for entry in runtime.logs(container_id, tail=query_args.tail):
            items.append(
                {
                    "line": entry.line,
                    "stream": entry.stream,
                    "ts": isoformat(entry.ts),
                    "container": info.name,
                }
            )
    items.sort(key=lambda i: i["ts"] or "")
    return ServiceLogsOut.model_validate(
        {"items": items[-query_args.tail :] if query_args.tail else []}
    ).model_dump(mode="json")


@bp.get("/api/stacks/<stack_id>/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
@document_response(AppMetricsOut)
async def stack_metrics(stack_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """All the stack's containers over time (CPU %, memory, network), like an app's (``app_id`` is the stack's
    id)."""
    from rivetr_core.history.query import parse_range

    data = await _stacks().metrics(stack_id, parse_range(query_args.range), query_args.points)
    return AppMetricsOut.model_validate({**data, "range": query_args.range}).model_dump(
        mode="json", exclude_unset=True
    )


@bp.websocket("/api/stacks/<stack_id>/services/<service>/logs/stream")
async def stream_stack_service_logs(stack_id: str, service: str) -> None:
    """Follow the service's first container (``?tail=`` lines first; ``?replica=N`` picks another)."""
    arg = websocket.args.get("tail", "100")
    tail = int(arg) if arg.isdigit() else 100
    replica = websocket.args.get("replica", "1")
    try:
        ids, runtime = await _service_logs(stack_id, service, tail, True)
    except NotFound as exc:
        await websocket.close(4404, exc.message)
        return
    index = int(replica) - 1 if replica.isdigit() else 0
    if not ids or not 0 <= index < len(ids):
        await websocket.close(4409, "the service has no such container: deploy the stack first")
        return
    await websocket.accept()
    async for entry in runtime.logs(ids[index], tail=tail, follow=True):
        await websocket.send(
            json.dumps({"line": entry.line, "stream": entry.stream, "ts": isoformat(entry.ts)})
        )
    await websocket.send(json.dumps({"event": "end"}))
    await websocket.close(1000)


@bp.get("/api/projects/<project_id>/network")
@tag(["projects"])
@document_response(ProjectNetworkOut)
async def project_network(project_id: str) -> dict[str, Any]:
    """The project's private network and its members (apps, managed services, stack services) with the names
    they reach each other by. ``default`` is the network of everything without a project."""
    data = await rivetr().services.projects.network(None if project_id == "default" else project_id)
    return ProjectNetworkOut.model_validate(data).model_dump(mode="json")
