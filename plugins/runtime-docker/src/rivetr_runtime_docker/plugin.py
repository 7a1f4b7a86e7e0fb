"""Registers the Docker Engine container runtime (``runtime_type = "docker"``) and its ``[plugins.runtime-docker]``
settings."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    network_pool: str = Field(
        "10.213.0.0/16",
        description="IPv4 range the networks Rivetr creates (project, stack and service networks) take a /24 "
        "each from, skipping subnets the engine's other networks or the host's routes use: a /16 holds 256. "
        "Docker's own default pools hold about 30 networks in all. Empty: leave it to the engine's pools "
        "(dockerd's default-address-pools).",
    )

    @field_validator("network_pool")
    @classmethod
    def _ipv4_network(cls, value: str) -> str:
        from .subnets import parse_pool

        parse_pool(value)  # ValueError names what is wrong (host bits set, not IPv4...)
        return value.strip()


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
