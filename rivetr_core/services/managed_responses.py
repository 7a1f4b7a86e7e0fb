"""Managed services as the API shows them (``/api/services``): the response models the OpenAPI document
describes and the API module declares.

Only pydantic here: the API module imports this at start-up (its decorators need the models), and an idle
control plane must not load the feature (tables, templates, engine glue) with it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core.apimodel import ApiModel

#: What a credential or a connection URL shows unless ``?reveal=true`` (the same mask as secret env vars).
MASK = "••••••••"


class _Out(ApiModel):
    model_config = ConfigDict(extra="forbid")


class ServiceVolumeOut(_Out):
    name: str = Field(description="The template's volume name (data).")
    path: str = Field(description="Where it is mounted in the container.")
    engine_name: str = Field(description="The engine volume: rivetr-svc-<service id>-<name>.")
    size: int | None = Field(description="Bytes used; null when not measured (engine unavailable).")


class ServiceCredentialsOut(_Out):
    user: str | None
    password: str | None = Field(description=f"{MASK!r} unless ?reveal=true (administrators).")
    database: str | None


class LinkedAppOut(_Out):
    app_id: str
    app_name: str
    env_prefix: str


class ServiceOut(_Out):
    id: str
    name: str = Field(description="DNS-safe; apps on the project network reach the service by it.")
    type: str = Field(description="The template (postgres, mysql, mariadb, redis, ...).")
    version: str
    image: str = Field(description="The image reference run (after [runtime] image_map).")
    project_id: str | None
    status: str = Field(description="created, starting, running, stopped, failed or deleting.")
    desired_state: str = Field(description="running or stopped: what the user asked for.")
    error: str | None = Field(description="Why the service is failed (with the container's last lines).")
    memory_limit: int | None = Field(description="Bytes; null: unlimited.")
    cpu_limit: float | None = Field(description="CPUs; null: unlimited.")
    public_port: int | None = Field(
        description="Host port (every interface) forwarded to the service; null: closed."
    )
    internal_host: str = Field(description="Host name on the project network (the service's name).")
    internal_port: int = Field(description="Port on the project network.")
    host_address: str | None = Field(
        None,
        description="The container's IP on the project network as this server reaches it, for an SSH tunnel "
        "(ssh -L PORT:host_address:internal_port you@server); null when the engine does not say (not running, "
        "rootless). Detail only; it can change when the container is recreated.",
    )
    network: str = Field(description="The project's private engine network.")
    volumes: list[ServiceVolumeOut]
    credentials: ServiceCredentialsOut
    connection_url: str | None = Field(
        description=f"How an app on the network connects ({MASK!r} in place of the password unless ?reveal=true)."
    )
    environment: dict[str, str] = Field(
        description="The extra environment the user set (values masked unless ?reveal=true)."
    )
    linked_apps: list[LinkedAppOut]
    tags: list[str] = Field(default_factory=list, description="Labels, sorted (docs/tags.md).")
    created_at: str
    updated_at: str


class ServiceLogLineOut(_Out):
    line: str
    stream: str = Field(
        description="stdout or stderr (the container), rivetr (what Rivetr did: pull, start)."
    )
    ts: str | None


class ServiceLogsOut(_Out):
    items: list[ServiceLogLineOut]
    next: str | None = Field(description="Always null: the tail is one page.")


class AppToRedeployOut(_Out):
    app_id: str
    name: str


class RedeployedOut(_Out):
    app_id: str
    app_name: str
    deployment_id: str = Field(description="The deployment queued to give the app the new password.")


class NotRedeployedOut(_Out):
    app_id: str
    app_name: str
    code: str = Field(
        description="redeploy_off, not_deployed (its next deployment gets the new password), app_stopped, "
        "app_deleting, permission_denied (the caller lacks 'deploy'), or the deploy's error code."
    )
    reason: str


class RotateOut(_Out):
    service: ServiceOut
    redeployed: list[RedeployedOut] = Field(description="Linked apps redeployed with the new password.")
    not_redeployed: list[NotRedeployedOut] = Field(description="The other linked apps, each with why.")
    apps_to_redeploy: list[AppToRedeployOut] = Field(
        description="Linked apps still running with the old password until their next deployment."
    )


def dump(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Validate an answer against its documented model (a drift fails loudly, not in a client)."""
    return model.model_validate(data).model_dump(mode="json")
