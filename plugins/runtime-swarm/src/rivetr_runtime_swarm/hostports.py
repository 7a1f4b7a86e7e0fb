"""The host port the proxy connects to, among a task container's bindings of its main port.

For a host-mode port left at 0, dockerd 20.10 binds the IPv4 and the IPv6 wildcard addresses on two
different ports it picks separately (``0.0.0.0:32782`` and ``[::]:32781``); the proxy connects to
``127.0.0.1``, so it needs the IPv4 one. (The task's ``PortStatus`` and the docker runtime's port list do not
say which is which; the container's own ``NetworkSettings.Ports`` does.) The IPv6 twin is left out of the
reported ports too, as the docker runtime reports a binding shared by both once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rivetr_core.contract import PortPublish

_IPV4_ANY = ("0.0.0.0", "")


def ipv4_port(data: Mapping[str, Any], container_port: int, chosen: int | None) -> int | None:
    """``chosen`` when it is an IPv4 binding of ``container_port``/tcp (or nothing says otherwise), else the
    first IPv4 binding of that port."""
    bindings = ((data.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{container_port}/tcp") or []
    ipv4 = [int(b.get("HostPort") or 0) for b in bindings if str(b.get("HostIp") or "") in _IPV4_ANY]
    ipv4 = [port for port in ipv4 if port]
    if not ipv4 or chosen in ipv4:
        return chosen
    return ipv4[0]


def without_ipv6_twins(data: Mapping[str, Any], ports: list[PortPublish]) -> list[PortPublish]:
    """``ports`` without the IPv6 wildcard bindings of a container port that also has an IPv4 wildcard one on
    another host port (what the docker runtime reports once when both share a port): a caller that takes a
    binding of the port and connects to loopback must get the IPv4 one."""
    live = (data.get("NetworkSettings") or {}).get("Ports") or {}
    twins: set[tuple[int, str, int]] = set()
    for key, bindings in live.items():
        number, _, protocol = str(key).partition("/")
        hosts = [(str(b.get("HostIp") or ""), int(b.get("HostPort") or 0)) for b in bindings or []]
        if any(ip in _IPV4_ANY for ip, _ in hosts):
            v4 = {port for ip, port in hosts if ip in _IPV4_ANY}
            twins.update(
                (int(number), protocol or "tcp", port) for ip, port in hosts if ip == "::" and port not in v4
            )
    return [p for p in ports if (p.container_port, p.protocol, p.host_port) not in twins]
