"""The isolated network of untrusted containers (fork previews) and its host firewall.

An engine's bridge network alone does not isolate: on dockerd a second bridge cannot reach the others'
containers but still reaches the host (the gateway address, and every host address, e.g. the API port); on
podman (netavark) it reaches both. So Rivetr adds two iptables chains per isolated bridge, jumped to from the
top of ``INPUT`` and ``FORWARD`` for packets coming *in from that bridge*:

* ``RIVETR-IN-<bridge>``: replies of connections the host opened (the proxy reaching the container) and DNS
  to the gateway (podman's resolver) pass; everything else to the host is dropped;
* ``RIVETR-FW-<bridge>``: packets to private, shared and link-local ranges (other container networks, the LAN,
  cloud metadata) are dropped; the internet stays reachable.

The interface name is fixed at creation (``com.docker.network.bridge.name``), so the rules match the bridge
itself: a container cannot dodge them by spoofing its source address. Rules are checked (and repaired) each
time a fork preview builds or starts, and survive Rivetr; IPv4 only (the network is created without IPv6).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess

#: Destinations a fork preview must not reach through the host: RFC 1918, CGNAT, link-local (metadata).
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


class FirewallError(Exception):
    """iptables is missing or refused a rule."""


def bridge_name(engine: str, network: str) -> str:
    """A stable interface name (≤ 15 characters) per engine and network: both engines on one host each get
    their own bridge."""
    return "rvu" + hashlib.sha256(f"{engine}:{network}".encode()).hexdigest()[:10]


def chain_rules(bridge: str) -> dict[str, list[list[str]]]:
    """The rules of the bridge's two chains, in ``iptables -A`` form (without ``-A <chain>``)."""
    return {
        f"RIVETR-IN-{bridge}": [
            ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
            ["-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"],
            ["-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"],
            ["-j", "DROP"],
        ],
        f"RIVETR-FW-{bridge}": [["-d", cidr, "-j", "DROP"] for cidr in PRIVATE_RANGES],
    }


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("iptables")
    if binary is None:
        raise FirewallError("iptables is not installed: fork previews cannot be isolated from the host")
    result = subprocess.run(
        [binary, "-w", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check and result.returncode != 0:
        raise FirewallError(f"iptables {' '.join(args)} failed: {result.stderr.strip()[:300]}")
    return result


def ensure_firewall(bridge: str) -> None:
    """Blocking: create or repair the bridge's chains and their jumps (idempotent; a chain is rewritten only
    when its rules differ, so a running preview is never left without them)."""
    for chain, rules in chain_rules(bridge).items():
        if _iptables("-S", chain, check=False).returncode != 0:
            _iptables("-N", chain)
        want = [f"-A {chain} " + " ".join(rule) for rule in rules]
        have = [line for line in _iptables("-S", chain).stdout.splitlines() if line.startswith("-A ")]
        if [_normal(line) for line in have] != [_normal(line) for line in want]:
            # Append the new set first, then delete the old lines: the chain is never empty meanwhile.
            for rule in rules:
                _iptables("-A", chain, *rule)
            for _ in have:
                _iptables("-D", chain, "1")
    for parent, chain in (("INPUT", f"RIVETR-IN-{bridge}"), ("FORWARD", f"RIVETR-FW-{bridge}")):
        if _iptables("-C", parent, "-i", bridge, "-j", chain, check=False).returncode != 0:
            _iptables("-I", parent, "1", "-i", bridge, "-j", chain)


def _normal(line: str) -> str:
    # iptables -S prints "--ctstate RELATED,ESTABLISHED" and "-d 10.0.0.0/8": compare word sets per line.
    return " ".join(sorted(line.split()))
