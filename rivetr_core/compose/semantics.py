"""Rules across services: dependencies that exist, are enabled and form no cycle; no two published ports on
the same host address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rivetr_core.compose.errors import problem
from rivetr_core.compose.model import ServiceSpec

_WILDCARDS = ("", "0.0.0.0", "::")


def dependency_problems(all_services: Mapping[str, ServiceSpec], active: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, spec in all_services.items():
        for dep in spec.depends_on:
            field = f"services.{name}.depends_on"
            if dep.service not in all_services:
                out.append(problem(field, f"unknown service {dep.service!r}", service=name))
            elif name in active and dep.service not in active:
                profiles = ", ".join(all_services[dep.service].profiles)
                out.append(
                    problem(
                        field,
                        f"depends on {dep.service!r}, which is disabled by profiles (enable one of: {profiles})",
                        service=name,
                    )
                )
    cycle = find_cycle(
        {n: [d.service for d in s.depends_on if d.service in all_services] for n, s in all_services.items()}
    )
    if cycle:
        out.append(
            problem(
                f"services.{cycle[0]}.depends_on", "depends_on cycle: " + " -> ".join(cycle), service=cycle[0]
            )
        )
    return out


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle as ``[a, b, a]`` (first in name order), or None. Iterative DFS: a long chain must not hit the
    recursion limit."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = [root]
        iters = [iter(sorted(graph[root]))]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(graph.get(nxt, ()))))
    return None


def port_problems(services: Mapping[str, ServiceSpec]) -> list[dict[str, Any]]:
    """Two fixed host ports on one address and protocol (a wildcard address clashes with every other)."""
    out: list[dict[str, Any]] = []
    taken: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for name in sorted(services):
        for port in services[name].ports:
            if not port.host_port:
                continue
            key = (port.host_port, port.protocol)
            for ip, owner in taken.get(key, []):
                if ip == port.host_ip or ip in _WILDCARDS or port.host_ip in _WILDCARDS:
                    shown = f"{port.host_ip or ip or '*'}:{port.host_port}/{port.protocol}"
                    who = f"twice by {name}" if owner == name else f"by both {owner} and {name}"
                    out.append(
                        problem(
                            f"services.{name}.ports", f"port clash: {shown} is published {who}", service=name
                        )
                    )
                    break
            taken.setdefault(key, []).append((port.host_ip, name))
    return out
