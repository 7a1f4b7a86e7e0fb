"""Service networks: plain user-defined bridges on which containers resolve each other by name and alias
(``ensure_network`` / ``remove_network`` of :class:`rivetr_core.contract.ServiceRuntime`).

Both engines give a user-defined bridge name resolution with no options: dockerd's embedded DNS
(127.0.0.11) and podman's netavark, which starts aardvark-dns for every network created through the compat
API (its ``dns_enabled`` defaults to true there). The isolated networks of fork previews are another thing
(see :mod:`.containers`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

from .engine import EngineClient, EngineError

_CREATE_LOCK = threading.Lock()


class NetworksMixin(EngineClient):
    """``ensure_network`` / ``remove_network``, and the endpoint config giving a container its aliases."""

    def _ensure_service_network(self, name: str, labels: Mapping[str, str]) -> str:
        api = self._api()
        # dockerd 20.10's duplicate check is not atomic: creators racing each other make several networks of
        # one name (each later lookup then fails as "ambiguous"). One creator at a time in this process, and
        # a clean-up of duplicates a racing process made.
        with _CREATE_LOCK:
            if not self._network_ids(api, name):
                try:
                    api.create_network(
                        name, driver="bridge", labels=dict(labels) or None, check_duplicate=True
                    )
                except docker.errors.APIError:
                    # Another process made it meanwhile (dockerd 409, podman 500): fine if it is there now.
                    if not self._network_ids(api, name):
                        raise
            self._drop_duplicates(api, name)
        return name

    def _network_ids(self, api: docker.APIClient, name: str) -> list[tuple[str, str]]:
        """``(created, id)`` of the networks named exactly ``name`` (the engine's filter matches substrings),
        oldest first."""
        found = api.networks(names=[name]) or []
        return sorted((str(n.get("Created") or ""), n["Id"]) for n in found if n.get("Name") == name)

    def _drop_duplicates(self, api: docker.APIClient, name: str) -> None:
        for _, network_id in self._network_ids(api, name)[1:]:
            try:
                api.remove_network(network_id)
            except docker.errors.APIError as exc:  # in use already: leave it, the engine picks one
                self.log.warning("%s: duplicate network %s (%s) kept: %s", self.name, name, network_id, exc)

    async def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create the bridge network ``name`` with ``labels`` unless it exists (idempotent); returns ``name``.
        Containers started with ``RunSpec.network=name`` resolve each other by name and
        ``RunSpec.network_aliases``."""
        return await self._call(self._ensure_service_network, name, labels)

    def _remove_network(self, name: str) -> None:
        api = self._api()
        found = self._network_ids(api, name)
        # By name when it is unique: podman 4.3 removes a network deleted BY ID even while containers use
        # it. By id only for duplicates dockerd made (its delete by id refuses a network in use).
        for target in [name] if len(found) == 1 else [network_id for _, network_id in found]:
            try:
                api.remove_network(target)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                # dockerd: 403 "has active endpoints"; podman 4.3: 500 "network is being used".
                text = str(exc.explanation or exc)
                if exc.status_code in (403, 409) or "being used" in text or "active endpoints" in text:
                    raise EngineError(
                        f"network {name} is still used by a container", details={"network": name}
                    ) from None
                raise

    async def remove_network(self, name: str) -> None:
        """Delete the network ``name``; a missing one is not an error; one a container is attached to raises
        :class:`EngineError` (a :class:`~rivetr_core.contract.RivetrError`)."""
        await self._call(self._remove_network, name)

    def _networking_config(self, api: docker.APIClient, network: str | None, aliases: list[str]) -> Any:
        """The create request's ``NetworkingConfig`` giving the container ``aliases`` on ``network`` (None
        when there are none: the network is then joined through ``HostConfig.NetworkMode`` alone)."""
        if not network or not aliases:
            return None
        return api.create_networking_config({network: api.create_endpoint_config(aliases=list(aliases))})
