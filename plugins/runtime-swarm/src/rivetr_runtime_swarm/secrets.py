"""Compose secrets as swarm secrets.

A stack service's secret reaches the docker runtime's container as a read-only bind mount of a file in the stack's
data directory (:attr:`rivetr_core.contract.Mount.secret` names it). A bind mount only works on the node that has
the file, and it leaves the content on every node's disk; swarm's own secret store hands a secret to exactly the
tasks that reference it (encrypted in the swarm's Raft log, a tmpfs file in the task). So here each such mount
becomes a swarm secret referenced from the task's ``ContainerSpec.Secrets`` at the same target (mode 0444, root,
like the docker runtime's read-only file).

Swarm secrets are immutable: the name carries the content's hash (``<stack>_<name>_<sha256[:12]>``), so a changed
file is a new secret beside the old one, and the old one goes once no service references it
(:func:`remove_unused`, after a service removal: a stack's removal, a redeploy's retired service). Secret values
are never logged; only names are.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

# The docker runtime first: it imports requests its own way before the SDK.
from rivetr_runtime_docker.engine import EngineError

# isort: split
import docker.errors

from rivetr_core.contract import Mount

from .stackspec import with_namespace

#: Label of every secret this runtime creates: the compose secret's name.
SECRET_LABEL = "rivetr.swarm.secret"
#: The labels of the service that are copied to its secrets (which Rivetr instance and stack own it).
OWNER_LABELS = ("rivetr.instance", "rivetr.stack", "rivetr.stack.name")
#: Swarm's limit on a secret's name.
MAX_NAME = 64

#: Held while secrets are created and the service referencing them is created, and while unused secrets are
#: removed: a secret made for a service not created yet must not look unused.
LOCK = threading.Lock()

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def secret_name(owner: str, name: str, data: bytes) -> str:
    """``<owner>_<name>_<sha256 of data, 12 hex>``, in the characters swarm accepts and within its 64."""
    digest = hashlib.sha256(data).hexdigest()[:12]
    prefix = _UNSAFE.sub("-", f"{owner}_{name}").strip("-_.") or "secret"
    return f"{prefix[: MAX_NAME - len(digest) - 1]}_{digest}"


def secret_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    """The mounts of a run spec that carry a secret."""
    return [m for m in mounts if m.kind == "bind" and m.secret]


def _find(api: Any, name: str) -> dict[str, Any] | None:
    for found in api.secrets(filters={"name": name}) or []:
        if (found.get("Spec") or {}).get("Name") == name:
            return dict(found)
    return None


def ensure_secret(api: Any, mount: Mount, owner: str, labels: Mapping[str, str]) -> tuple[str, str]:
    """Blocking: ``(id, name)`` of the swarm secret holding the file ``mount.source``, created unless a secret of
    that name (hence that content) exists."""
    with open(mount.source, "rb") as handle:
        data = handle.read()
    name = secret_name(owner, mount.secret, data)
    existing = _find(api, name)
    if existing is not None:
        return str(existing["ID"]), name
    own = {k: v for k, v in labels.items() if k in OWNER_LABELS}
    try:
        created = api.create_secret(name, data, labels=with_namespace({**own, SECRET_LABEL: mount.secret}))
    except docker.errors.APIError as exc:
        # Created meanwhile by another deployment of the same content: use it.
        if (existing := _find(api, name)) is None:
            raise EngineError(
                f"creating swarm secret {name} failed: {exc.explanation or exc}", details={"secret": name}
            ) from None
        return str(existing["ID"]), name
    return str(created["ID"]), name


def attach(api: Any, body: dict[str, Any], mounts: Sequence[Mount]) -> dict[str, Any]:
    """Blocking: replace the bind mounts of secrets in a ``POST /services/create`` body with swarm secrets (created
    as needed) at the same targets. Call with :data:`LOCK` held until the service exists."""
    wanted = secret_mounts(mounts)
    if not wanted:
        return body
    labels = body.get("Labels") or {}
    owner = labels.get("rivetr.stack.name") or str(body.get("Name") or "rivetr")
    container = body["TaskTemplate"]["ContainerSpec"]
    bound = {(m.source, m.target) for m in wanted}
    container["Mounts"] = [
        m
        for m in container.get("Mounts") or []
        if not (m.get("Type") == "bind" and (m.get("Source"), m.get("Target")) in bound)
    ]
    references = list(container.get("Secrets") or [])
    for mount in wanted:
        secret_id, name = ensure_secret(api, mount, owner, labels)
        references.append(
            {
                "File": {"Name": mount.target, "UID": "0", "GID": "0", "Mode": 0o444},
                "SecretID": secret_id,
                "SecretName": name,
            }
        )
    container["Secrets"] = references
    return body


def used_secret_ids(services: Sequence[Mapping[str, Any]]) -> set[str]:
    out: set[str] = set()
    for service in services:
        container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        out.update(str(ref.get("SecretID")) for ref in container.get("Secrets") or [])
    return out


def remove_unused(api: Any, instance: str | None) -> list[str]:
    """Blocking: remove this runtime's secrets (of Rivetr instance ``instance``, None: any) that no service
    references; returns their names. Swarm refuses to remove one in use, which is left as it is."""
    removed: list[str] = []
    with LOCK:
        filters = {"label": [f"{SECRET_LABEL}"] + ([f"rivetr.instance={instance}"] if instance else [])}
        candidates = api.secrets(filters=filters) or []
        if not candidates:
            return removed
        used = used_secret_ids(api.services() or [])
        for secret in candidates:
            if secret["ID"] in used:
                continue
            try:
                api.remove_secret(secret["ID"])
            except docker.errors.APIError:
                continue  # gone already, or referenced by a service created meanwhile elsewhere
            removed.append(str((secret.get("Spec") or {}).get("Name") or secret["ID"]))
    return removed
