"""Names and labels of what a stack puts on the engine (see docs/compose.md, "What runs on the engine")."""

from __future__ import annotations

import hashlib

LABEL_STACK = "rivetr.stack"
LABEL_SERVICE = "rivetr.stack.service"
LABEL_DEPLOYMENT = "rivetr.deployment"
LABEL_HASH = "rivetr.stack.config-hash"
#: The stack's name (swarm shows a stack's services, networks and volumes under it: ``docker stack ls``).
LABEL_STACK_NAME = "rivetr.stack.name"


def container_name(stack: str, service: str, replica: int, deployment_id: str) -> str:
    """Unique per deployment, so a routed service's new container starts beside the old one."""
    return f"rivetr-stk-{stack}-{service}-{replica}-{deployment_id[:8]}"


def stack_network(stack_id: str, network: str) -> str:
    """A network the compose file declares (``default`` included): its services reach each other by name. By
    the stack's id (hex, no ``-``), so stack ``a-b``'s network ``c`` and stack ``a``'s ``b-c`` stay two."""
    return f"rivetr-stk-{stack_id}-{network}"


def volume_name(stack_id: str, volume: str) -> str:
    """By id: a stack deleted and created again under the same name never gets the old one's data."""
    return f"rivetr-stk-{stack_id}-{volume}"


def anonymous_volume_name(stack_id: str, service: str, target: str) -> str:
    """An anonymous volume (``- /data``) of a service: stable across redeploys, like compose keeps it."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:10]
    return f"rivetr-stk-{stack_id}-{service}-anon-{digest}"


def project_alias(stack: str, service: str) -> str:
    """The name a stack service has on its project's network, where apps and other stacks reach it."""
    return f"{stack}-{service}"


def image_tag(stack: str, service: str, deployment_id: str) -> str:
    return f"localhost/rivetr/stack-{stack}-{service}:{deployment_id[:12]}"


def labels(
    stack_id: str, service: str, deployment_id: str, config_hash: str, instance: str
) -> dict[str, str]:
    """Not ``rivetr.managed=true``: that marks the app pipeline's containers, whose start-up recovery would
    remove a stack's as orphans. ``rivetr.instance`` keeps two data dirs on one engine apart."""
    return {
        "rivetr.instance": instance,
        LABEL_STACK: stack_id,
        LABEL_SERVICE: service,
        LABEL_DEPLOYMENT: deployment_id,
        LABEL_HASH: config_hash,
    }
