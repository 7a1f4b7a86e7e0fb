"""Registry credentials for the push to ``[plugins.runtime-swarm] registry`` and for the nodes' pulls.

The credentials are the ones Rivetr stores for that registry server (``/api/registries``, the builders' private
base images use the same), read through :attr:`rivetr_core.contract.PluginContext.registry_auth` for each
service creation. The push sends them as its auth config; the service creation sends them as
``X-Registry-Auth``, what ``docker service create --with-registry-auth`` does, so swarm hands them to the node
that runs the task for its pull. They are never logged and never kept on the runtime.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any


def server_of(registry: str) -> str:
    """The registry's server as credentials are stored under it (``https://reg:5000/`` -> ``reg:5000``)."""
    server = registry.strip()
    for scheme in ("https://", "http://"):
        if server.startswith(scheme):
            server = server[len(scheme) :]
    return server.split("/", 1)[0]


async def lookup(registry_auth: Callable[[str], Any] | None, registry: str | None) -> dict[str, str] | None:
    """The auth config stored for ``registry`` (None: no registry, no store, or nothing stored)."""
    if registry_auth is None or not registry:
        return None
    auth = await registry_auth(server_of(registry))
    return dict(auth) if auth else None


def header(auth: Mapping[str, str] | None) -> dict[str, str]:
    """``X-Registry-Auth`` for ``auth`` (URL-safe base64 of its JSON, as the engine API reads it); {} without."""
    if not auth:
        return {}
    encoded = base64.urlsafe_b64encode(json.dumps(dict(auth)).encode()).decode()
    return {"X-Registry-Auth": encoded}
