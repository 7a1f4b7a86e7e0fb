"""Registers the Docker Swarm container runtime (``runtime_type = "swarm"``) and its ``[plugins.runtime-swarm]``
settings."""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    ContainerRuntime,
    ContainerRuntimeRegistration,
    PluginContext,
)


class NodeEngineSetting(BaseModel):
    """One node's engine, when it needs more than an address: ``{ url = "tcp://host:2376", ca_cert = "...",
    client_cert = "...", client_key = "..." }`` (TLS, as ``docker --tlsverify`` takes it)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="tcp://host:2376 (with the paths below), unix:///path or ssh://user@host.")
    ca_cert: str | None = Field(
        None, description="Path of the CA certificate the engine's TLS certificate is checked with."
    )
    client_cert: str | None = Field(
        None, description="Path of the client certificate (PEM) for tcp:// with TLS."
    )
    client_key: str | None = Field(
        None, description="Path of the client certificate's key (read by the SDK, never logged)."
    )


class SwarmSettings(BaseModel):
    """``[plugins.runtime-swarm]``."""

    model_config = ConfigDict(extra="forbid")

    socket: str = Field(
        "unix:///var/run/docker.sock",
        description="Docker Engine API address of a swarm MANAGER node (any docker SDK base_url: unix://, "
        "tcp://). Builds, images and volumes are this node's.",
    )
    registry: str | None = Field(
        None,
        description="Registry host[:port] every node pulls from (needed for several nodes): each image is pushed "
        "there before its service is created, and the service runs <registry>/<path>@<digest>. Unset: services "
        "run the image's id, present on this node only (single node). The push and the nodes' pulls use the "
        "credentials stored for that server with /api/registries.",
    )
    port_firewall: bool = Field(
        True,
        description="Keep a rule in iptables' DOCKER-USER chain (chain RIVETR-SWARM-PORTS) dropping new "
        "connections forwarded to the tasks' host-mode published ports unless they come from a swarm node or "
        "loopback (swarm binds them on every interface); false removes it. This host only: add the same rule "
        "on the other nodes.",
    )
    node_engines: dict[str, str | NodeEngineSetting] = Field(
        default_factory=dict,
        description="How Rivetr reaches the engine of each other node, by node hostname or id: an address "
        '(`"unix:///path"`, `"ssh://user@host"`: the ssh command with its own keys, needs paramiko installed '
        'here and the docker CLI on the node; `"tcp://host:2376"`) or a table with TLS client certificate paths '
        '(`{ url = "tcp://host:2376", '
        'ca_cert = "/etc/rivetr/node2/ca.pem", client_cert = ".../cert.pem", client_key = ".../key.pem" }`). '
        "Exec, terminals, stats and pause of a task on that node go to its engine; without one they answer 409 "
        "task_on_another_node. From the environment: JSON text.",
    )

    @field_validator("node_engines", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        # From the environment (RIVETR_PLUGINS__RUNTIME_SWARM__NODE_ENGINES) the table arrives as JSON text.
        return json.loads(value) if isinstance(value, str) and value.strip() else value or {}


def _make(ctx: PluginContext) -> ContainerRuntime:
    # Imported here so loading the plugin (every start) does not import the docker SDK unless selected.
    from .runtime import SwarmRuntime

    return SwarmRuntime.from_context(ctx)


@hookimpl
def rivetr_container_runtimes() -> list[ContainerRuntimeRegistration]:
    return [
        ContainerRuntimeRegistration(
            name="swarm",
            factory=_make,
            description="Docker Swarm services on the manager at [plugins.runtime-swarm] socket (single node)",
            # Never chosen by `auto`: a swarm is a deliberate choice (and docker answers on the same socket).
            auto_priority=1000,
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="runtime-swarm", model=SwarmSettings)]
