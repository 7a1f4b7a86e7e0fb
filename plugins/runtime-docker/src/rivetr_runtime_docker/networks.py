"""Service networks: plain user-defined bridges on which containers resolve each other by name and alias
(``ensure_network`` / ``remove_network`` of :class:`rivetr_core.contract.ServiceRuntime`).

Both engines give a user-defined bridge name resolution with no options: dockerd's embedded DNS
(127.0.0.11) and podman's netavark, which starts aardvark-dns for every network created through the compat
API (its ``dns_enabled`` defaults to true there). The isolated networks of fork previews are another thing
(see :mod:`.containers`).

Project networks (``ensure_project_network``) are such bridges too, with a fixed interface name and the host
firewall of :mod:`.project_firewall` keeping them apart from each other. A network of that name made by an
older Rivetr (no ``rivetr.bridge`` label) is recreated when no container uses it; while containers do, it is
kept as it is, without the firewall (a warning says so), until it is next found unused.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

from . import _requests_import  # noqa: F401  # first: requests without charset_normalizer

# isort: split
import docker
import docker.errors

from .engine import EngineClient, EngineError
from .isolation import FirewallError
from .project_firewall import ensure_project_firewall, forget_project_bridge, project_bridge_name
from .subnets import free_subnets, used_subnets

PROJECT_LABEL = "rivetr.project-network"
BRIDGE_LABEL = "rivetr.bridge"

_CREATE_LOCK = threading.Lock()
#: podman 4.3 lists the host's interfaces while creating a network and fails when one vanishes meanwhile
#: (another program removing a network): worth another try.
_TRANSIENT = "no such network interface"


def create_bridge(api: docker.APIClient, name: str, **kwargs: Any) -> None:
    """``api.create_network`` with a retry of podman's transient interface-listing failure."""
    for attempt in range(3):
        try:
            api.create_network(name, driver="bridge", check_duplicate=True, **kwargs)
            return
        except docker.errors.APIError as exc:
            if _TRANSIENT not in str(exc.explanation or exc) or attempt == 2:
                raise
            time.sleep(0.2)


#: How many free subnets a creation tries when dockerd refuses each as overlapping (a racing creator took it).
_SUBNET_TRIES = 8


class NetworksMixin(EngineClient):
    """``ensure_network`` / ``ensure_project_network`` / ``remove_network``, and the endpoint config giving a
    container its aliases."""

    def _create_bridge(self, api: docker.APIClient, name: str, **kwargs: Any) -> None:
        """:func:`create_bridge` with a /24 of ``network_pool`` (see :mod:`.subnets`), or the engine's own
        pools when there is no pool or nothing in it is free (a warning says so)."""
        if self.network_pool is None:
            create_bridge(api, name, **kwargs)
            return
        tried: list[str] = []
        for _ in range(_SUBNET_TRIES):
            subnet = next(free_subnets(self.network_pool, used_subnets(api.networks() or []), tried), None)
            if subnet is None:
                break
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            try:
                create_bridge(api, name, ipam=ipam, **kwargs)
                return
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc.explanation or exc):
                    raise
                tried.append(subnet)
        self.log.warning(
            "%s: no free /24 left in network_pool %s: network %s takes one of the engine's own pools",
            self.name,
            self.network_pool,
            name,
        )
        create_bridge(api, name, **kwargs)

    def _ensure_service_network(self, name: str, labels: Mapping[str, str]) -> str:
        api = self._api()
        # dockerd 20.10's duplicate check is not atomic: creators racing each other make several networks of
        # one name (each later lookup then fails as "ambiguous"). One creator at a time in this process, and
        # a clean-up of duplicates a racing process made.
        with _CREATE_LOCK:
            if not self._network_ids(api, name):
                try:
                    self._create_bridge(api, name, labels=dict(labels) or None)
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

    # ---------------------------------------------------------------------------------- project networks
    def _ensure_project_bridge(self, name: str, labels: Mapping[str, str]) -> str | None:
        """Blocking: the project network ``name`` with its fixed bridge; returns the bridge's name, or None
        for an older network without one that containers still use (kept, not firewalled)."""
        api = self._api()
        bridge = project_bridge_name(self.name, name)
        with _CREATE_LOCK:
            found = self._network_ids(api, name)
            if found:
                data = api.inspect_network(found[0][1])
                if (data.get("Labels") or {}).get(BRIDGE_LABEL) == bridge:
                    self._drop_duplicates(api, name)
                    return bridge
                if data.get("Containers"):
                    self.log.warning(
                        "%s: project network %s predates isolated project networks and containers use it: "
                        "kept without the project firewall until it is unused",
                        self.name,
                        name,
                    )
                    return None
                # By name when unique (podman 4.3 deletes a network by id even while it is in use).
                for target in [name] if len(found) == 1 else [network_id for _, network_id in found]:
                    api.remove_network(target)
            try:
                self._create_bridge(
                    api,
                    name,
                    options={"com.docker.network.bridge.name": bridge},
                    labels={**labels, BRIDGE_LABEL: bridge, PROJECT_LABEL: "true"},
                )
            except docker.errors.APIError:
                if not self._network_ids(api, name):  # not a racing creator's: a real failure
                    raise
            self._drop_duplicates(api, name)
        return bridge

    async def ensure_project_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Create (unless it exists) the project network ``name`` with ``labels`` and make sure the host
        firewall keeps it apart from every other project network (see :mod:`.project_firewall`); returns
        ``name``. Raises :class:`EngineError` when the firewall cannot be set up, unless ``project_firewall``
        is off."""
        bridge = await self._call(self._ensure_project_bridge, name, labels)
        if bridge and self.project_firewall:
            try:
                await asyncio.to_thread(ensure_project_firewall, bridge)
            except FirewallError as exc:
                raise EngineError(
                    f"cannot isolate project network {name!r}: {exc} (run as root with iptables, or set "
                    f"[plugins.runtime-{self.name}] project_firewall = false to accept projects that can "
                    "reach each other)",
                    details={"network": name},
                ) from exc
        return name

    def _remove_network(self, name: str) -> None:
        api = self._api()
        found = self._network_ids(api, name)
        bridge = ""
        if found:
            with contextlib.suppress(docker.errors.NotFound):
                network_labels = api.inspect_network(found[0][1]).get("Labels") or {}
                if network_labels.get(PROJECT_LABEL) == "true":
                    bridge = str(network_labels.get(BRIDGE_LABEL) or "")
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
        if bridge:
            with contextlib.suppress(FirewallError):  # no iptables: there was no rule either
                forget_project_bridge(bridge)

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
