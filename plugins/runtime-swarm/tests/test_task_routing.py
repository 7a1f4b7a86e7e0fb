"""Pure parts of routing to tasks (the two-node test, test_multinode_swarm.py, runs them on real engines): which
task speaks for a service, which binding of a local task the proxy connects to, and the upstream of a task on
another node."""

from __future__ import annotations

from typing import Any

from rivetr_runtime_docker.runspec import main_host_port, published_ports
from rivetr_runtime_swarm import servicespec as ss

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
    # dockerd 20.10 picks the IPv4 and IPv6 wildcard bindings of a host-mode port 0 separately: the reported
    # ports (whose first binding of the port a stack service's route takes) leave the IPv6 twin out.
    data = {
        "NetworkSettings": {
            "Ports": {
                "8000/tcp": [
                    {"HostIp": "::", "HostPort": "32781"},
                    {"HostIp": "0.0.0.0", "HostPort": "32782"},
                ]
            }
        }
    }
    assert published_ports(data) == [PortPublish(8000, host_port=32782)]
    assert main_host_port(data, {}) == 32782
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
    assert published_ports(shared) == [PortPublish(8000, host_port=32782)]
    alone = {"NetworkSettings": {"Ports": {"8000/tcp": [{"HostIp": "::", "HostPort": "32781"}]}}}
    assert published_ports(alone) == [PortPublish(8000, host_port=32781)]  # an IPv6-only binding stays


def test_a_task_on_another_node_is_reached_at_that_nodes_address() -> None:
    here = ContainerInfo(id="s", name="s", image="i", status="running", running=True, host_port=32768)
    there = ContainerInfo(
        id="s", name="s", image="i", status="running", running=True, host_port=32768, node_address="10.0.0.2"
    )
    assert here.upstream == "127.0.0.1:32768"
    assert there.upstream == "10.0.0.2:32768"
