"""The host port the proxy connects to, among a task container's bindings of its main port.

For a host-mode port left at 0, dockerd 20.10 binds the IPv4 and the IPv6 wildcard addresses on two
different ports it picks separately (``0.0.0.0:32782`` and ``[::]:32781``); the proxy connects to
``127.0.0.1``, so it needs the IPv4 one. (The task's ``PortStatus`` and the docker runtime's port list do not
say which is which; the container's own ``NetworkSettings.Ports`` does.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
