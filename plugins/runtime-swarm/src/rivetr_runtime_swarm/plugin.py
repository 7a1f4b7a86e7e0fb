"""Registers the Docker Swarm container runtime (``runtime_type = "swarm"``) and its ``[plugins.runtime-swarm]``
settings."""

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    ContainerRuntime,
    ContainerRuntimeRegistration,
    PluginContext,
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
