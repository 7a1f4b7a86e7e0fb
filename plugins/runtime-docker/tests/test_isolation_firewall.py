"""The host firewall of the isolated (fork preview) network, on the real iptables: created once, left alone
when intact, repaired when a rule or a jump went missing. A unique bridge name keeps it off real bridges."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from rivetr_runtime_docker.isolation import bridge_name, chain_rules, ensure_firewall

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("iptables") is None, reason="needs root and iptables"
)


def iptables(*args: str) -> str:
    return subprocess.run(["iptables", "-w", "10", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def bridge() -> Iterator[str]:
    name = "rvt" + uuid.uuid4().hex[:10]
    yield name
    for parent, chain in (("INPUT", f"RIVETR-IN-{name}"), ("FORWARD", f"RIVETR-FW-{name}")):
        subprocess.run(["iptables", "-w", "10", "-D", parent, "-i", name, "-j", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "10", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-w", "10", "-X", chain], capture_output=True)


def test_rules_are_made_kept_and_repaired(bridge: str) -> None:
    ensure_firewall(bridge)
    inbound = iptables("-S", f"RIVETR-IN-{bridge}").splitlines()
    assert inbound[1:] == [
        f"-A RIVETR-IN-{bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A RIVETR-IN-{bridge} -p udp -m udp --dport 53 -j ACCEPT",
        f"-A RIVETR-IN-{bridge} -p tcp -m tcp --dport 53 -j ACCEPT",
        f"-A RIVETR-IN-{bridge} -j DROP",
    ]
    forward = iptables("-S", f"RIVETR-FW-{bridge}").splitlines()[1:]
    assert len(forward) == len(chain_rules(bridge)[f"RIVETR-FW-{bridge}"])
    assert f"-A RIVETR-FW-{bridge} -d 169.254.0.0/16 -j DROP" in forward
    assert iptables("-S", "INPUT").splitlines()[1] == f"-A INPUT -i {bridge} -j RIVETR-IN-{bridge}"
    assert f"-A FORWARD -i {bridge} -j RIVETR-FW-{bridge}" in iptables("-S", "FORWARD")

    ensure_firewall(bridge)  # intact: nothing added twice
    assert iptables("-S", f"RIVETR-IN-{bridge}").splitlines()[1:] == inbound[1:]
    assert iptables("-S", "INPUT").count(f"-j RIVETR-IN-{bridge}") == 1

    iptables("-D", f"RIVETR-IN-{bridge}", "4")  # the DROP rule is gone, and the FORWARD jump
    iptables("-D", "FORWARD", "-i", bridge, "-j", f"RIVETR-FW-{bridge}")
    ensure_firewall(bridge)
    assert iptables("-S", f"RIVETR-IN-{bridge}").splitlines()[1:] == inbound[1:]
    assert f"-A FORWARD -i {bridge} -j RIVETR-FW-{bridge}" in iptables("-S", "FORWARD")


def test_bridge_names_fit_an_interface_and_differ_per_engine() -> None:
    names = {bridge_name(engine, "rivetr-untrusted") for engine in ("docker", "podman")}
    assert len(names) == 2 and all(len(n) <= 15 for n in names)
    assert bridge_name("docker", "rivetr-untrusted") == bridge_name("docker", "rivetr-untrusted")
