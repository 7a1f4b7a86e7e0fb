"""Registers the podman container runtime (placeholder: being built in issue 3)."""

from rivetr_core import hookimpl
from rivetr_core.types import ContainerRuntimeRegistration, PluginContext


def _not_built(ctx: PluginContext):  # type: ignore[no-untyped-def]
    raise NotImplementedError("the podman runtime is not built yet (issue 3)")


@hookimpl
def rivetr_container_runtimes() -> list[ContainerRuntimeRegistration]:
    return [ContainerRuntimeRegistration(name="podman", factory=_not_built, auto_priority=20)]
