"""Compose ``deploy.restart_policy`` ``delay``/``window`` on an engine without them.

Swarm (a :class:`~rivetr_core.contract.nodes.ClusterRuntime`) applies both to the service's restart policy;
dockerd and podman restart a container with their own back-off and have no window, so the stack deployer says
in the deployment log that they are ignored rather than refusing a file written for ``docker stack deploy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rivetr_core.contract.nodes import ClusterRuntime

if TYPE_CHECKING:
    from rivetr_core.compose.model import ComposeProject
    from rivetr_core.contract import ContainerRuntime


def ignored_restart_timing(runtime: ContainerRuntime, project: ComposeProject) -> list[str]:
    """One warning per service whose ``delay`` or ``window`` this runtime cannot apply."""
    if isinstance(runtime, ClusterRuntime):
        return []
    out = []
    for name, spec in sorted(project.services.items()):
        keys = [k for k in ("delay", "window") if getattr(spec, f"restart_{k}") is not None]
        if keys:
            out.append(
                f"[{name}] deploy.restart_policy {' and '.join(keys)} ignored: this engine has no equivalent"
                " (docs/compose.md)"
            )
    return out
