"""Compose secrets as swarm secrets.

A stack service's secret reaches the docker runtime's container as a read-only bind mount of a file in the stack's
data directory (:attr:`rivetr_core.contract.Mount.secret` names it). A bind mount only works on the node that has
the file, and it leaves the content on every node's disk; swarm's own secret store hands a secret to exactly the
tasks that reference it (encrypted in the swarm's Raft log, a tmpfs file in the task). So here each such mount
becomes a swarm secret referenced from the task's ``ContainerSpec.Secrets`` at the same target, owned and with the
permission bits the compose file gives (``uid``/``gid``/``mode``; by default root and 0444, like the docker
runtime's read-only file). Compose configs go the same way as swarm configs (:mod:`.configs`): :class:`FileStore`
is the machinery both share.

Swarm secrets are immutable: the name carries the content's hash (``<stack>_<name>_<sha256[:12]>``), so a changed
file is a new secret beside the old one, and the old one goes once no service references it
(:func:`remove_unused`, after a service removal: a stack's removal, a redeploy's retired service). Secret values
are never logged; only names are.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
#: Swarm's limit on a secret's (and a config's) name.
MAX_NAME = 64
#: A file's permission bits in the task when the compose file gives none: read-only for everyone, like the docker
#: runtime's read-only bind of a 0444 file (and swarm's own default).
DEFAULT_MODE = 0o444

#: Held while secrets or configs are created and the service referencing them is created, and while unused ones
#: are removed: one made for a service not created yet must not look unused.
LOCK = threading.Lock()

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def secret_name(owner: str, name: str, data: bytes) -> str:
    """``<owner>_<name>_<sha256 of data, 12 hex>``, in the characters swarm accepts and within its 64."""
    digest = hashlib.sha256(data).hexdigest()[:12]
    prefix = _UNSAFE.sub("-", f"{owner}_{name}").strip("-_.") or "secret"
    return f"{prefix[: MAX_NAME - len(digest) - 1]}_{digest}"


def file_reference(mount: Mount) -> dict[str, Any]:
    """The ``File`` of a secret or config reference: the mount's target, owner and mode (compose
    ``uid``/``gid``/``mode``), root and :data:`DEFAULT_MODE` where it gives none."""
    mode = DEFAULT_MODE if mount.file_mode is None else mount.file_mode
    return {"Name": mount.target, "UID": mount.file_uid or "0", "GID": mount.file_gid or "0", "Mode": mode}


@dataclass(frozen=True)
class FileStore:
    """A kind of swarm object that hands a file to the tasks referencing it: ``secret`` or ``config``. The SDK's
    calls (``secrets``/``create_secret``/``remove_secret``, the same for configs) and the reference's keys
    (``Secrets``: ``SecretID``/``SecretName``) follow from the kind's name."""

    kind: str
    #: Label of every object of this kind the runtime creates: the compose name.
    label: str
    #: The mounts of a run spec that carry one (:attr:`Mount.secret`, :attr:`Mount.config`).
    name_of: Callable[[Mount], str]

    @property
    def field(self) -> str:
        return f"{self.kind.capitalize()}s"

    def mounts(self, mounts: Sequence[Mount]) -> list[Mount]:
        return [m for m in mounts if m.kind == "bind" and self.name_of(m)]

    def _find(self, api: Any, name: str) -> dict[str, Any] | None:
        for found in getattr(api, f"{self.kind}s")(filters={"name": name}) or []:
            if (found.get("Spec") or {}).get("Name") == name:
                return dict(found)
        return None

    def ensure(self, api: Any, mount: Mount, owner: str, labels: Mapping[str, str]) -> tuple[str, str]:
        """Blocking: ``(id, name)`` of the swarm object holding the file ``mount.source``, created unless one of
        that name (hence that content) exists."""
        with open(mount.source, "rb") as handle:
            data = handle.read()
        name = secret_name(owner, self.name_of(mount), data)
        existing = self._find(api, name)
        if existing is not None:
            return str(existing["ID"]), name
        own = {k: v for k, v in labels.items() if k in OWNER_LABELS}
        create = getattr(api, f"create_{self.kind}")
        try:
            created = create(name, data, labels=with_namespace({**own, self.label: self.name_of(mount)}))
        except docker.errors.APIError as exc:
            # Created meanwhile by another deployment of the same content: use it.
            if (existing := self._find(api, name)) is None:
                raise EngineError(
                    f"creating swarm {self.kind} {name} failed: {exc.explanation or exc}",
                    details={self.kind: name},
                ) from None
            return str(existing["ID"]), name
        return str(created["ID"]), name

    def attach(self, api: Any, body: dict[str, Any], mounts: Sequence[Mount]) -> dict[str, Any]:
        """Blocking: replace the bind mounts of this kind in a ``POST /services/create`` body with references
        to swarm objects (created as needed) at the same targets, with their owner and mode. Call with
        :data:`LOCK` held until the service exists."""
        wanted = self.mounts(mounts)
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
        references = list(container.get(self.field) or [])
        title = self.kind.capitalize()
        for mount in wanted:
            object_id, name = self.ensure(api, mount, owner, labels)
            references.append({"File": file_reference(mount), f"{title}ID": object_id, f"{title}Name": name})
        container[self.field] = references
        return body

    def used_ids(self, services: Sequence[Mapping[str, Any]]) -> set[str]:
        out: set[str] = set()
        key = f"{self.kind.capitalize()}ID"
        for service in services:
            container = ((service.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
            out.update(str(ref.get(key)) for ref in container.get(self.field) or [])
        return out

    def remove_unused(self, api: Any, instance: str | None) -> list[str]:
        """Blocking: remove this runtime's objects of this kind (of Rivetr instance ``instance``, None: any)
        that no service references; returns their names. Swarm refuses to remove one in use, which is left."""
        removed: list[str] = []
        with LOCK:
            filters = {"label": [self.label] + ([f"rivetr.instance={instance}"] if instance else [])}
            candidates = getattr(api, f"{self.kind}s")(filters=filters) or []
            if not candidates:
                return removed
            used = self.used_ids(api.services() or [])
            for found in candidates:
                if found["ID"] in used:
                    continue
                try:
                    getattr(api, f"remove_{self.kind}")(found["ID"])
                except docker.errors.APIError:
                    continue  # gone already, or referenced by a service created meanwhile elsewhere
                removed.append(str((found.get("Spec") or {}).get("Name") or found["ID"]))
        return removed


#: Compose secrets as swarm secrets.
SECRETS = FileStore("secret", SECRET_LABEL, lambda m: m.secret)


def secret_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    """The mounts of a run spec that carry a secret."""
    return SECRETS.mounts(mounts)


def ensure_secret(api: Any, mount: Mount, owner: str, labels: Mapping[str, str]) -> tuple[str, str]:
    """Blocking: :meth:`FileStore.ensure` of a secret."""
    return SECRETS.ensure(api, mount, owner, labels)


def attach(api: Any, body: dict[str, Any], mounts: Sequence[Mount]) -> dict[str, Any]:
    """Blocking: the secrets' :meth:`FileStore.attach`. Call with :data:`LOCK` held until the service exists."""
    return SECRETS.attach(api, body, mounts)


def used_secret_ids(services: Sequence[Mapping[str, Any]]) -> set[str]:
    return SECRETS.used_ids(services)


def remove_unused(api: Any, instance: str | None) -> list[str]:
    """Blocking: the secrets' :meth:`FileStore.remove_unused`."""
    return SECRETS.remove_unused(api, instance)
