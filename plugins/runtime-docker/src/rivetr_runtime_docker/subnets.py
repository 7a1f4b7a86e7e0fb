"""Subnets for the networks Rivetr creates, from ``[plugins.runtime-docker] network_pool``.

Left to itself dockerd gives every user-defined network a /16 from 172.17-31.0.0 or a /20 from 192.168.0.0/16:
about 30 networks in all, after which creating one fails with "could not find an available, non-overlapping
IPv4 address pool". One network per project (and per stack) reaches that on a modest server. Rivetr instead
takes /24s from its own pool (a /16 holds 256), skipping every subnet another network of the engine or a route
of the host already covers; dockerd still refuses an overlap, which a racing creator would cause, and the
caller then tries the next one.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator
from typing import Any

PREFIX = 24


def used_subnets(networks: Iterable[dict[str, Any]]) -> list[ipaddress.IPv4Network]:
    """The IPv4 subnets of the engine's networks (``GET /networks``) and of the host's routes."""
    used: list[ipaddress.IPv4Network] = []
    for network in networks:
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                subnet = ipaddress.ip_network(str(config.get("Subnet") or ""), strict=False)
            except ValueError:
                continue
            if isinstance(subnet, ipaddress.IPv4Network):
                used.append(subnet)
    return used + list(host_routes())


def host_routes(path: str = "/proc/net/route") -> Iterator[ipaddress.IPv4Network]:
    """The host's IPv4 routes except the default one: a LAN or VPN the host reaches must not be shadowed."""
    try:
        with open(path, encoding="ascii") as table:
            lines = table.read().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        # Destination and mask are little-endian hex words in this file.
        destination = socket.inet_ntoa(struct.pack("<L", int(fields[1], 16)))
        mask = socket.inet_ntoa(struct.pack("<L", int(fields[7], 16)))
        if mask == "0.0.0.0":
            continue
        yield ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)


def free_subnets(
    pool: ipaddress.IPv4Network, used: list[ipaddress.IPv4Network], skip: Iterable[str] = ()
) -> Iterator[str]:
    """The /24s of ``pool`` (the pool itself when smaller) that overlap nothing in ``used`` nor ``skip``, in
    order."""
    tried = set(skip)
    prefix = max(PREFIX, pool.prefixlen)
    for subnet in pool.subnets(new_prefix=prefix):
        if str(subnet) not in tried and not any(subnet.overlaps(other) for other in used):
            yield str(subnet)


def parse_pool(text: str) -> ipaddress.IPv4Network | None:
    """``network_pool``'s value: an IPv4 network (``""``: None, the engine's own pools). Raises ValueError."""
    if not text.strip():
        return None
    pool = ipaddress.ip_network(text.strip(), strict=True)
    if not isinstance(pool, ipaddress.IPv4Network):
        raise ValueError("network_pool must be an IPv4 network")
    return pool
