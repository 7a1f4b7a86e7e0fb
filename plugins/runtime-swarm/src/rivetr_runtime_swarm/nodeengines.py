"""The engines of the swarm's other nodes (``[plugins.runtime-swarm] node_engines``), for what only a node's own
engine does: exec (and the dashboard's terminal), stats, pause and unpause of the task container it runs.

The manager's engine knows a task on another node only as a task (its container id is in
``Status.ContainerStatus.ContainerID``); that container is the node's engine's. The operator says how to reach
it, per node hostname or id, the way Dokploy and CapRover reach their servers: ``tcp://host:2376`` with TLS
client certificates (the SDK's :class:`docker.tls.TLSConfig`), ``unix:///path`` (a socket forwarded here), or
``ssh://user@host`` (the ssh command, the SDK's ``use_ssh_client``; its ssh transport needs paramiko, which is
not a dependency: without it an ssh:// engine is ``unreachable`` saying so).
Each is a plain :class:`~rivetr_runtime_docker.runtime.DockerRuntime` (its exec, stats and pause are the docker
runtime's), made on first use and kept. Key and certificate paths are given to the SDK only, never logged.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# The docker runtime first: it imports requests its own way (without charset_normalizer) before the SDK.
from rivetr_runtime_docker.runtime import DockerRuntime

# isort: split
import docker
import docker.tls

from rivetr_core.contract import RuntimeUnavailable

#: The API version the client starts with, before it asks the engine for its own (docker 1.12, 2016).
MIN_API_VERSION = "1.24"
#: Seconds a node engine's status check (``GET /api/nodes``) waits for it.
PING_TIMEOUT = 3.0
#: What ``engine_status`` says of a node.
LOCAL, REACHABLE, UNREACHABLE, NOT_CONFIGURED = "local", "reachable", "unreachable", "not_configured"


@dataclass(frozen=True)
class EngineAddress:
    """One node's engine as configured: its address and, for tcp:// with TLS, the certificate paths."""

    url: str
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    @classmethod
    def of(cls, value: Any) -> EngineAddress:
        """From a setting's value: an address, or a table (the settings model or its dict)."""
        if isinstance(value, str):
            return cls(value)
        data = value if isinstance(value, Mapping) else value.model_dump()
        return cls(str(data["url"]), data.get("ca_cert"), data.get("client_cert"), data.get("client_key"))

    @property
    def tls(self) -> bool:
        return bool(self.ca_cert or self.client_cert)

    def shown(self) -> str:
        """The address as the API shows it: without a password, should a URL carry one."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))


class NodeEngine(DockerRuntime):
    """A node's engine: the docker runtime with the client made for its address (TLS, ssh)."""

    def __init__(self, address: EngineAddress, **kw: Any) -> None:
        super().__init__(address.url, project_firewall=False, max_workers=16, **kw)
        self.address = address

    def create_client(self) -> docker.APIClient:
        extra: dict[str, Any] = {}
        address = self.address
        if address.tls:
            extra["tls"] = docker.tls.TLSConfig(
                client_cert=(address.client_cert, address.client_key) if address.client_cert else None,
                ca_cert=address.ca_cert,
                verify=address.ca_cert or True,  # no CA given: the system's CAs, never unchecked
            )
        if address.url.startswith("ssh://"):
            try:
                import paramiko  # noqa: F401  # the SDK's ssh transport imports it even to run the ssh command
            except ImportError:
                raise RuntimeUnavailable(
                    f"node engine {address.url}: ssh:// needs the paramiko package in Rivetr's environment "
                    "(pip install paramiko); or reach the engine by tcp:// with TLS client certificates",
                    details={"address": address.url},
                ) from None
            extra["use_ssh_client"] = True  # the ssh command: its keys, config and known hosts
        # A version given: "auto" would ask the engine inside the constructor, before trust_env can be turned
        # off. Off because requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a session's own CA
        # (psf/requests#3829): the node's CA must win, and no environment proxy belongs in front of an engine.
        client = docker.APIClient(
            base_url=address.url,
            version=MIN_API_VERSION,
            timeout=self.connect_timeout,
            max_pool_size=16,
            **extra,
        )
        client.trust_env = False
        client._version = client._retrieve_server_version()
        client.timeout = self.timeout
        return client


class NodeEngines:
    """``node_engines`` by node hostname or id, and the :class:`NodeEngine` of each, made on first use."""

    def __init__(self, settings: Mapping[str, Any] | None = None, *, logger: Any = None) -> None:
        self.addresses = {str(k): EngineAddress.of(v) for k, v in (settings or {}).items()}
        self.logger = logger
        self._engines: dict[str, NodeEngine] = {}
        self._lock = threading.Lock()

    def address_of(self, node_id: str, hostname: str | None) -> tuple[str, EngineAddress] | None:
        """(the key it is configured under, the address) of the node's engine, by id first, then hostname."""
        for key in (node_id, hostname):
            if key and key in self.addresses:
                return key, self.addresses[key]
        return None

    def engine(self, node_id: str, hostname: str | None) -> NodeEngine | None:
        """The node's engine, or None when none is configured for it."""
        found = self.address_of(node_id, hostname)
        if found is None:
            return None
        key, address = found
        with self._lock:  # worker threads ask at once (the status checks, a listing's stats)
            if key not in self._engines:
                self._engines[key] = NodeEngine(address, connect_timeout=PING_TIMEOUT, logger=self.logger)
            return self._engines[key]

    def statuses(self, nodes: list[tuple[str, str]]) -> dict[str, tuple[str | None, str, str | None]]:
        """Blocking: node id -> (shown address, ``reachable``/``unreachable``/``not_configured``, why not
        reachable), for ``(id, hostname)`` pairs; the configured engines are pinged at once."""

        def one(node_id: str, hostname: str) -> tuple[str | None, str, str | None]:
            engine = self.engine(node_id, hostname)
            if engine is None:
                return None, NOT_CONFIGURED, None
            try:
                engine._ping()
            except Exception as exc:
                reason = str(engine._translate(exc)).splitlines()[0][:300] if str(exc) else type(exc).__name__
                return engine.address.shown(), UNREACHABLE, reason
            return engine.address.shown(), REACHABLE, None

        if not nodes:
            return {}
        with concurrent.futures.ThreadPoolExecutor(min(8, len(nodes))) as pool:
            results = pool.map(lambda n: one(*n), nodes)
            return {node_id: result for (node_id, _), result in zip(nodes, results, strict=True)}

    async def close(self) -> None:
        for engine in self._engines.values():
            with contextlib.suppress(Exception):
                await engine.close()
        self._engines.clear()
