"""Pure translations between :class:`~rivetr_core.contract.RunSpec` / :class:`~rivetr_core.contract.ContainerInfo`
fields and the Docker Engine API's shapes (published and exposed ports, healthchecks, networks): no engine calls,
so they are unit-tested on their own."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any, Literal

from rivetr_core.contract import HealthcheckConfig, PortInUse, PortPublish, RunSpec

#: Label carrying ``RunSpec.container_port`` ("" for none) when the container publishes other ports too
#: (``RunSpec.ports``), so inspect can tell which binding is ``ContainerInfo.host_port``; hidden from
#: ``ContainerInfo.labels``.
MAIN_PORT_LABEL = "rivetr.runtime.main-port"
#: Label carrying ``RunSpec.stop_timeout`` (seconds), read by a ``stop(id, None)``. The engine's own
#: ``StopTimeout`` is set too (for the engine's stops), but cannot be read back: podman reports 0 for a
#: container created without one, which would be an immediate SIGKILL. Hidden from ``ContainerInfo.labels``.
STOP_TIMEOUT_LABEL = "rivetr.runtime.stop-timeout"
#: Labels the runtime sets for itself.
RUNTIME_LABELS = frozenset({MAIN_PORT_LABEL, STOP_TIMEOUT_LABEL})

#: Addresses the engines report for "every interface".
_ANY_ADDRESS = {"", "0.0.0.0", "::"}


def check_port_free(host_ip: str, port: int, protocol: str = "tcp") -> None:
    """Raise :class:`PortInUse` unless ``host_ip:port`` (``""``: every interface) can be bound now."""
    # The engine reports a taken port only at start and in engine-specific words; a bind test up front
    # gives one clear error on both engines (the engine's own error is still translated as a fallback).
    address = host_ip or "0.0.0.0"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((address, port))
        except OSError as exc:
            where = f"{host_ip or '*'}:{port}/{protocol}"
            raise PortInUse(
                f"host port {where} is already in use",
                details={"host_ip": host_ip, "port": port, "protocol": protocol},
            ) from exc


def check_ports_free(spec: RunSpec, *, main_published: bool) -> None:
    """Every fixed host port the container would publish is free (and asked for once only)."""
    wanted: list[tuple[str, int, str]] = []
    if main_published and spec.container_port and spec.host_port:
        wanted.append((spec.host_ip, spec.host_port, "tcp"))
    wanted += [(p.host_ip, p.host_port, p.protocol) for p in spec.ports if p.host_port]
    seen: set[tuple[int, str]] = set()
    for host_ip, port, protocol in wanted:
        if (port, protocol) in seen:
            raise PortInUse(
                f"host port {port}/{protocol} is published twice by {spec.name}",
                details={"port": port, "protocol": protocol},
            )
        seen.add((port, protocol))
        check_port_free(host_ip, port, protocol)


def port_bindings(spec: RunSpec, *, main_published: bool) -> dict[str, list[Any]] | None:
    """``HostConfig.PortBindings`` in the docker SDK's form: ``{"53/udp": [(ip, port), (ip,)]}``."""
    out: dict[str, list[Any]] = {}
    if main_published and spec.container_port:
        binding = (spec.host_ip,) if not spec.host_port else (spec.host_ip, spec.host_port)
        out.setdefault(f"{spec.container_port}/tcp", []).append(binding)
    for port in spec.ports:
        binding = (port.host_ip,) if not port.host_port else (port.host_ip, port.host_port)
        out.setdefault(f"{port.container_port}/{port.protocol}", []).append(binding)
    return out or None


def exposed_ports(spec: RunSpec) -> list[Any] | None:
    """``ports`` of the SDK's create call (``Config.ExposedPorts``): ints for tcp, ``(port, "udp")`` tuples."""
    out: list[Any] = []
    if spec.container_port:
        out.append(spec.container_port)
    out += [p.container_port if p.protocol == "tcp" else (p.container_port, p.protocol) for p in spec.ports]
    out += list(spec.expose)
    unique = list(dict.fromkeys(out))
    return unique or None


def healthcheck(config: HealthcheckConfig | None) -> dict[str, Any] | None:
    """``Config.Healthcheck``: durations in nanoseconds, as the engine API wants them."""
    if config is None:
        return None

    def ns(seconds: float) -> int:
        return round(seconds * 1e9)

    out: dict[str, Any] = {"test": list(config.test), "retries": int(config.retries)}
    if config.test[:1] != ["NONE"]:
        out.update(interval=ns(config.interval), timeout=ns(config.timeout))
        if config.start_period:
            out["start_period"] = ns(config.start_period)
    return out


def restart_retries(spec: RunSpec) -> int:
    """``HostConfig.RestartPolicy.MaximumRetryCount``: the engine takes a limit only with ``on-failure`` (it
    refuses one with ``always``/``unless-stopped``); 0 means no limit."""
    if spec.restart_policy != "on-failure":
        return 0
    return spec.restart_max_attempts or 0


def published_ports(data: Mapping[str, Any]) -> list[PortPublish]:
    """The bindings an inspect document reports: the live ones of a running container, else the requested
    ones (``HostConfig.PortBindings``). Every-interface addresses read ``""``; dockerd's IPv6 twin of an
    IPv4 binding is reported once, and left out when it is on a port of its own: for a dynamic host port
    dockerd 20.10 binds ``0.0.0.0`` and ``::`` on two ports it picks separately (they differ when other programs
    take ports meanwhile), and whoever takes a binding of the port connects to IPv4 loopback (the proxy)."""
    network = data.get("NetworkSettings") or {}
    source = network.get("Ports") or {}
    if not any(source.values()):
        source = (data.get("HostConfig") or {}).get("PortBindings") or {}
    out: list[PortPublish] = []
    seen: set[tuple[str, int, int, str]] = set()
    for key, bindings in source.items():
        number, _, protocol = str(key).partition("/")
        proto: Literal["tcp", "udp"] = "udp" if protocol == "udp" else "tcp"
        ipv4_any = {
            str(b.get("HostPort") or "")
            for b in bindings or []
            if str(b.get("HostIp") or "") in ("", "0.0.0.0")
        }
        for binding in bindings or []:
            host_ip = str(binding.get("HostIp") or "")
            if host_ip == "::" and ipv4_any and str(binding.get("HostPort") or "") not in ipv4_any:
                continue  # the IPv6 twin on a port of its own
            host_ip = "" if host_ip in _ANY_ADDRESS else host_ip
            host_port = int(binding.get("HostPort") or 0)
            ident = (host_ip, host_port, int(number), proto)
            if ident in seen:
                continue
            seen.add(ident)
            out.append(PortPublish(int(number), host_port=host_port, host_ip=host_ip, protocol=proto))
    return sorted(out, key=lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port))


def main_host_port(data: Mapping[str, Any], labels: Mapping[str, str]) -> int | None:
    """The host port of ``RunSpec.container_port``: the binding of the port named by :data:`MAIN_PORT_LABEL`
    when the container publishes several, else the first binding (a container of an app publishes one)."""
    ports = (data.get("NetworkSettings") or {}).get("Ports") or {}
    if MAIN_PORT_LABEL in labels:
        main = labels[MAIN_PORT_LABEL]
        if not main:
            return None
        ports = {key: value for key, value in ports.items() if key == f"{main}/tcp"}
    for bindings in ports.values():
        # The IPv4 binding first: dockerd may bind the IPv6 wildcard on another port (published_ports).
        ordered = sorted(bindings or [], key=lambda b: str(b.get("HostIp") or "") == "::")
        for binding in ordered:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
    return None


def network_addresses(data: Mapping[str, Any]) -> dict[str, str]:
    """Network name -> the container's IPv4 address on it (``""`` when it has none, e.g. not running)."""
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    return {str(name): str((value or {}).get("IPAddress") or "") for name, value in networks.items()}


def network_address(data: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    """``ip:port`` of a running container's main TCP port (:data:`MAIN_PORT_LABEL`, else the first exposed
    one) on its main network (``HostConfig.NetworkMode``, else the first with an address)."""
    network = data.get("NetworkSettings") or {}
    addresses = network_addresses(data)
    mode = str((data.get("HostConfig") or {}).get("NetworkMode") or "")
    ips = [addresses.get(mode), network.get("IPAddress"), *addresses.values()]
    ip = next((value for value in ips if value), None)
    if MAIN_PORT_LABEL in labels:
        port = labels[MAIN_PORT_LABEL] or None
    else:
        port = next((key.split("/")[0] for key in (network.get("Ports") or {}) if key.endswith("/tcp")), None)
    return f"{ip}:{port}" if ip and port else None
