"""Registers the Podman container runtime (``runtime_type = "podman"``) and its ``[plugins.runtime-podman]``
settings."""

from pydantic import BaseModel, ConfigDict, Field

from rivetr_core import hookimpl
from rivetr_core.contract import (
    ConfigModelRegistration,
    ContainerRuntime,
    ContainerRuntimeRegistration,
    PluginContext,
)


class PodmanSettings(BaseModel):
    """``[plugins.runtime-podman]``."""

    model_config = ConfigDict(extra="forbid")

    socket: str = Field(
        "unix:///run/podman/podman.sock",
        description="Podman API socket (started on demand when silent). Replaces the deprecated [runtime] "
        "podman_socket.",
    )
    autostart: bool = Field(
        True, description="Start `podman system service` on the socket when it is silent."
    )
    containers_conf: str | None = Field(
        None, description="CONTAINERS_CONF for the podman service Rivetr starts (a containers.conf path)."
    )
    podman_binary: str = Field("podman", description="The podman command used to start the service.")
    project_firewall: bool = Field(
        True,
        description="Add the iptables rules that keep project networks (rivetr-net-<project>) from reaching each "
        "other and from other container networks (needs root and iptables; creating a project network fails "
        "when they cannot be added). Off: only the engine's own network separation applies.",
    )


def _make(ctx: PluginContext) -> ContainerRuntime:
    # Imported here so loading the plugin (every start) does not import the docker SDK unless selected.
    from .runtime import PodmanRuntime

    return PodmanRuntime.from_context(ctx)


@hookimpl
def rivetr_container_runtimes() -> list[ContainerRuntimeRegistration]:
    return [
        ContainerRuntimeRegistration(
            name="podman",
            factory=_make,
            description="Podman through its Docker-compatible API ([plugins.runtime-podman] socket, started on "
            "demand)",
            auto_priority=20,
        )
    ]


@hookimpl
def rivetr_config_models() -> list[ConfigModelRegistration]:
    return [ConfigModelRegistration(name="runtime-podman", model=PodmanSettings)]
