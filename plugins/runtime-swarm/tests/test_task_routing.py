"""Pure parts of routing to tasks (the two-node test, test_multinode_swarm.py, runs them on real engines): which
task speaks for a service, which binding of a local task the proxy connects to, and the upstream of a task on
another node."""

from __future__ import annotations

from typing import Any

from rivetr_runtime_swarm import servicespec as ss
from rivetr_runtime_swarm.hostports import ipv4_port, without_ipv6_twins

from rivetr_core.contract import ContainerInfo, PortPublish


def _task(task_id: str, state: str, desired: str, created: str, slot: int = 1) -> dict[str, Any]:
    return {
        "ID": task_id,
        "Slot": slot,
        "CreatedAt": created,
        "DesiredState": desired,
        "Status": {"State": state},
    }


def test_a_running_task_being_shut_down_does_not_speak_once_its_replacement_runs() -> None:
    old = _task("old", "running", "shutdown", "2026-01-01T00:00:00Z")
    new = _task("new", "running", "running", "2026-01-01T00:00:05Z")
    assert ss.current_task([old, new]) is new
    # Before the replacement runs the old one still speaks (it serves), also while it is being stopped alone.
    starting = _task("new", "starting", "running", "2026-01-01T00:00:05Z")
    assert ss.current_task([old, starting]) is old
    speaking = ss.current_task([_task("old", "running", "running", "2026-01-01T00:00:00Z"), starting])
    assert speaking is not None and speaking["ID"] == "old"


def test_the_ipv4_binding_of_the_main_port_is_the_upstream() -> None:
    # dockerd 20.10 picks the IPv4 and IPv6 wildcard bindings of a host-mode port 0 separately.
    data = {
        "NetworkSettings": {
            "Ports": {
                "8000/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "32782"},
                    {"HostIp": "::", "HostPort": "32781"},
                ]
            }
        }
    }
    assert ipv4_port(data, 8000, 32781) == 32782
    assert ipv4_port(data, 8000, 32782) == 32782
    assert ipv4_port({"NetworkSettings": {"Ports": {}}}, 8000, 32781) == 32781  # nothing says otherwise
    # The reported ports leave the IPv6 twin out (a stack service's route takes the first binding of its port).
    ports = [PortPublish(8000, host_port=32781), PortPublish(8000, host_port=32782)]
    assert without_ipv6_twins(data, ports) == [PortPublish(8000, host_port=32782)]
    shared = {
        "NetworkSettings": {
            "Ports": {
                "8000/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "32782"},
                    {"HostIp": "::", "HostPort": "32782"},
                ]
            }
        }
    }
    assert without_ipv6_twins(shared, ports[1:]) == ports[1:]


def test_a_task_on_another_node_is_reached_at_that_nodes_address() -> None:
    here = ContainerInfo(id="s", name="s", image="i", status="running", running=True, host_port=32768)
    there = ContainerInfo(
        id="s", name="s", image="i", status="running", running=True, host_port=32768, node_address="10.0.0.2"
    )
    assert here.upstream == "127.0.0.1:32768"
    assert there.upstream == "10.0.0.2:32768"
