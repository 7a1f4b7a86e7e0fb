"""Registers the Docker Engine container runtime (``runtime_type = "docker"``) and its ``[plugins.runtime-docker]``
settings."""

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    ContainerRuntime,
    ContainerRuntimeRegistration,
    PluginContext,
)


class DockerSettings(BaseModel):
    """``[plugins.runtime-docker]``."""

    model_config = ConfigDict(extra="forbid")

    socket: str = Field(
        "unix:///var/run/docker.sock",
        description="Docker Engine API address (any docker SDK base_url: unix://, tcp://). Replaces the "
        "deprecated [runtime] docker_socket.",
    )
    project_firewall: bool = Field(
        True,
        description="Add the iptables rules that keep project networks (rivetr-net-<project>) from reaching each "
        "other and from other container networks (needs root and iptables; creating a project network fails "
        "when they cannot be added). Off: only the engine's own network separation applies.",
    )


def _make(ctx: PluginContext) -> ContainerRuntime:
    # Imported here so loading the plugin (every start) does not import the docker SDK unless selected.
    from .runtime import DockerRuntime

    return DockerRuntime.from_context(ctx)


@hookimpl
def rivetr_container_runtimes() -> list[ContainerRuntimeRegistration]:
    return [
        ContainerRuntimeRegistration(
            name="docker",
            factory=_make,
            description="Docker Engine through its API socket ([plugins.runtime-docker] socket)",
            auto_priority=10,
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="runtime-docker", model=DockerSettings)]
