"""Named volumes: created with their labels before a container mounts them, removed, and sized.

Sizes are measured on the host: ``volume inspect`` names the volume's directory (``Mountpoint``) and a walk of
it sums the blocks its files use (like ``du``). That costs one stat per file of the volume only, unlike
``docker system df -v`` (which sizes every volume, image and container of the engine, seconds on a busy one)
and works the same on podman, whose compat API reports no ``UsageData``. Where the directory is not readable
from here (a remote or rootless engine), the size is None.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker
import docker.errors
import docker.types

from rivetr_core.contract import Mount

from .engine import EngineClient, EngineError, has_labels


def directory_usage(path: str) -> int | None:
    """Bytes used by the files under ``path`` (allocated blocks; links not followed); None when unreadable."""
    if not os.path.isdir(path):
        return None
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            if current == path:
                return None
    return total


class VolumesMixin(EngineClient):
    """The volume part of the runtime Protocol and the mounts of a container's host config."""

    def _ensure_volume(self, api: docker.APIClient, mount: Mount) -> None:
        """Blocking: create the named volume with its labels unless it exists (the engine would create an
        unlabelled one on its own; the labels are what cleanup and deletion find it by)."""
        try:
            api.inspect_volume(mount.source)
        except docker.errors.NotFound:
            try:
                api.create_volume(mount.source, labels=mount.labels or None)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another container's start made it meanwhile
                    raise

    def _mounts(self, api: docker.APIClient, mounts: builtins.list[Mount]) -> builtins.list[Any] | None:
        """Blocking: the host config's ``Mounts`` (named volumes created first)."""
        if not mounts:
            return None
        out = []
        for mount in mounts:
            if mount.kind == "volume":
                self._ensure_volume(api, mount)
            out.append(
                docker.types.Mount(mount.target, mount.source, type=mount.kind, read_only=mount.read_only)
            )
        return out

    def _remove_volume(self, name: str) -> None:
        try:
            self._api().remove_volume(name)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise EngineError(
                    f"volume {name} is still in use by a container", details={"volume": name}
                ) from None
            raise

    async def remove_volume(self, name: str) -> None:
        """Delete the volume ``name``; a missing one is not an error, one in use is an ``EngineError``."""
        await self._call(self._remove_volume, name)

    def _volume_size(self, name: str) -> int | None:
        try:
            data = self._api().inspect_volume(name)
        except docker.errors.NotFound:
            return 0  # not created yet: the first container start makes it
        usage = (data.get("UsageData") or {}).get("Size")
        if isinstance(usage, int) and usage >= 0:
            return usage
        mountpoint = data.get("Mountpoint")
        return directory_usage(mountpoint) if mountpoint else None

    async def list_volumes(self, labels: Mapping[str, str]) -> builtins.list[str]:
        """Names of the volumes carrying every one of ``labels``."""
        filters = self.engine_label_filters(labels)
        answer = await self._call(lambda: self._api().volumes(filters=filters))
        return sorted(
            v["Name"]
            for v in (answer or {}).get("Volumes") or []
            if has_labels(v.get("Labels") or {}, labels)
        )

    def _volume_path(self, name: str, labels: Mapping[str, str] | None, create: bool) -> str | None:
        api = self._api()
        try:
            data = api.inspect_volume(name)
        except docker.errors.NotFound:
            if not create:
                return None
            self._ensure_volume(api, Mount(source=name, target="/", labels=dict(labels or {})))
            data = api.inspect_volume(name)
        mountpoint = data.get("Mountpoint")
        # The engine's host path is ours only when the engine runs on this host with this root view.
        return mountpoint if mountpoint and os.path.isdir(mountpoint) else None

    async def volume_path(
        self, name: str, labels: Mapping[str, str] | None = None, create: bool = False
    ) -> str | None:
        """The host directory of the volume's data (``Mountpoint``); None when the volume does not exist or
        its directory is not reachable from here (a remote or rootless engine). ``create``: make a missing
        volume first, with ``labels``."""
        return await self._call(self._volume_path, name, labels, create)

    async def volume_sizes(self, names: builtins.list[str]) -> dict[str, int | None]:
        """Bytes used by each named volume (see the module docstring for how)."""
        return {name: await self._call(self._volume_size, name) for name in names}
