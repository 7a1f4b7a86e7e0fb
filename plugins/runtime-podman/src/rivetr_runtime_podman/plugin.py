"""Registers the Podman container runtime (``runtime_type = "podman"``)."""

from rivetr_core import hookimpl
from rivetr_core.types import ContainerRuntime, ContainerRuntimeRegistration, PluginContext


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
            description="Podman through its Docker-compatible API ([runtime] podman_socket, started on demand)",
            auto_priority=20,
        )
    ]
