"""Compose configs as swarm configs.

Like a secret (:mod:`.secrets`), a stack service's config reaches the docker runtime's container as a read-only
bind mount of a file in the stack's data directory (:attr:`rivetr_core.contract.Mount.config` names it), which
exists only on the manager: a task scheduled on another node would find no file there. Swarm's configs are
stored in the swarm (not encrypted: a config is no secret) and handed to the tasks referencing them wherever they
run, so each such mount becomes a swarm config referenced from the task's ``ContainerSpec.Configs`` at the same
target, owned and with the permission bits the compose file gives (``uid``/``gid``/``mode``; root and 0444 by
default).

Swarm configs are immutable: the name carries the content's hash (``<stack>_<name>_<sha256[:12]>``), so a changed
file is a new config beside the old one, removed once no service references it (:func:`remove_unused`, after a
service's removal). The machinery is the secrets' (:class:`.secrets.FileStore`), under the same lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rivetr_core.contract import Mount

from .secrets import LOCK, FileStore

__all__ = ["CONFIGS", "CONFIG_LABEL", "LOCK", "attach", "config_mounts", "remove_unused"]

#: Label of every config this runtime creates: the compose config's name.
CONFIG_LABEL = "rivetr.swarm.config"

#: Compose configs as swarm configs.
CONFIGS = FileStore("config", CONFIG_LABEL, lambda m: m.config)


def config_mounts(mounts: Sequence[Mount]) -> list[Mount]:
    """The mounts of a run spec that carry a config."""
    return CONFIGS.mounts(mounts)


def attach(api: Any, body: dict[str, Any], mounts: Sequence[Mount]) -> dict[str, Any]:
    """Blocking: replace the bind mounts of configs in a ``POST /services/create`` body with swarm configs
    (created as needed) at the same targets. Call with :data:`LOCK` held until the service exists."""
    return CONFIGS.attach(api, body, mounts)


def used_config_ids(services: Sequence[Mapping[str, Any]]) -> set[str]:
    return CONFIGS.used_ids(services)


def remove_unused(api: Any, instance: str | None) -> list[str]:
    """Blocking: remove this runtime's configs (of Rivetr instance ``instance``, None: any) that no service
    references; returns their names."""
    return CONFIGS.remove_unused(api, instance)
