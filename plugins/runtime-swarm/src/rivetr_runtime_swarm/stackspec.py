"""A Rivetr compose stack as a swarm stack: the labels ``docker stack deploy`` puts on what it creates, so
``docker stack ls``, ``docker stack services <name>`` and ``docker stack ps <name>`` show a Rivetr stack.

Core marks every service, network and volume of a stack with the stack's name
(:data:`rivetr_core.stacks.naming.LABEL_STACK_NAME`); here that becomes ``com.docker.stack.namespace`` on the
service, its task's container, its overlay networks and its volumes, and ``com.docker.stack.image`` on the
service (the image the compose file named, as the CLI records it). Pure functions: unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Core's label naming a stack (kept literal: a plugin reads core's labels, it does not import its modules).
STACK_NAME_LABEL = "rivetr.stack.name"
#: What the docker CLI groups a stack's services, networks, volumes, secrets and configs by.
NAMESPACE_LABEL = "com.docker.stack.namespace"
#: The image a stack service was deployed from (the CLI sets it on the service).
STACK_IMAGE_LABEL = "com.docker.stack.image"


def namespace(labels: Mapping[str, str] | None) -> str | None:
    """The stack ``labels`` belong to, or None for what is not part of a stack (an app, a managed service)."""
    name = (labels or {}).get(STACK_NAME_LABEL)
    return str(name) if name else None


def with_namespace(labels: Mapping[str, str] | None) -> dict[str, str]:
    """``labels`` plus ``com.docker.stack.namespace`` when they name a stack (for a network or a volume)."""
    out = dict(labels or {})
    if (stack := namespace(out)) is not None:
        out[NAMESPACE_LABEL] = stack
    return out


def apply(body: dict[str, Any], image: str) -> dict[str, Any]:
    """Mark a ``POST /services/create`` body (:func:`.servicespec.service_spec`) of a stack service as part of
    its swarm stack; any other body is returned unchanged. ``image`` is the reference the caller gave."""
    stack = namespace(body.get("Labels"))
    if stack is None:
        return body
    body["Labels"] = {**body["Labels"], NAMESPACE_LABEL: stack, STACK_IMAGE_LABEL: image}
    container = body["TaskTemplate"]["ContainerSpec"]
    # `docker stack ps` lists the tasks whose container carries it, as `docker stack deploy` sets it.
    container["Labels"] = {**(container.get("Labels") or {}), NAMESPACE_LABEL: stack}
    for mount in container.get("Mounts") or []:
        options = mount.get("VolumeOptions")
        if options is not None:
            options["Labels"] = with_namespace(options.get("Labels"))
    return body
