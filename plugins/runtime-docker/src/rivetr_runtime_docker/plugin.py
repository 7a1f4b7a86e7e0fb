"""Registers the Docker Engine container runtime (``runtime_type = "docker"``)."""

from rivetr_core import hookimpl
from rivetr_core.types import ContainerRuntime, ContainerRuntimeRegistration, PluginContext


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
            description="Docker Engine through its API socket ([runtime] docker_socket)",
            auto_priority=10,
        )
    ]
