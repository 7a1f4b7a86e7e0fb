"""The host firewall that keeps Rivetr's project networks apart, on both engines.

Measured on Debian 12 (dockerd 20.10, podman 4.3 + netavark 1.4): dockerd drops traffic between its own
user-defined bridges (DOCKER-ISOLATION chains), but netavark isolates podman networks only through a
``FORWARD -j NETAVARK_ISOLATION_1`` jump that disappears whenever the last container of any network goes, and
nothing stops a podman network from reaching a docker one or the reverse. So Rivetr adds one chain,
``RIVETR-PROJECTS``, jumped to from ``FORWARD`` ahead of every ``ACCEPT``::

    -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN   replies of allowed connections
    -m conntrack --ctstate DNAT -j RETURN                  published ports (reachable from the host's
                                                           interfaces anyway)
    -i rvpA -o rvpA -j RETURN                              one per project bridge: a network reaches itself
    -i rvp+ -o rvp+ -j DROP                                project to project
    -i docker0 -o rvp+ -j DROP  (br-+, podman+, cni-podman+, rvu+ likewise)
                                                           other container bridges into a project

Traffic a project container sends to the internet or the host, and the host's own connections to containers
(``OUTPUT``, not ``FORWARD``) are left alone. Project bridges get a fixed interface name (``rvp`` + 10 hex of
sha256(engine:network), ≤ 15 characters) so rules match the bridge itself, not spoofable addresses. The chain is
rewritten atomically (``iptables-restore --noflush``) under a host-wide lock, from the per-bridge rules it
already holds, so two Rivetr processes (or engines) never lose each other's bridges. IPv4 only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from .isolation import FirewallError

CHAIN = "RIVETR-PROJECTS"
PREFIX = "rvp"
#: Bridges of other container networks, which must not open connections into a project's bridge.
OTHER_BRIDGES = ("docker0", "br-+", "podman+", "cni-podman+", "rvu+")
LOCK_PATH = os.path.join(tempfile.gettempdir(), "rivetr-project-firewall.lock")


def project_bridge_name(engine: str, network: str) -> str:
    """A stable interface name (≤ 15 characters) per engine and project network."""
    return PREFIX + hashlib.sha256(f"{engine}:{network}".encode()).hexdigest()[:10]


def chain_rules(bridges: list[str]) -> list[str]:
    """The chain's rules, in ``iptables -S`` form, for the project ``bridges``."""
    rules = [
        f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {CHAIN} -m conntrack --ctstate DNAT -j RETURN",
    ]
    rules += [f"-A {CHAIN} -i {bridge} -o {bridge} -j RETURN" for bridge in sorted(set(bridges))]
    rules.append(f"-A {CHAIN} -i {PREFIX}+ -o {PREFIX}+ -j DROP")
    rules += [f"-A {CHAIN} -i {other} -o {PREFIX}+ -j DROP" for other in OTHER_BRIDGES]
    return rules


def _binary(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        raise FirewallError(f"{name} is not installed: project networks cannot be isolated from each other")
    return binary


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_binary("iptables"), "-w", "10", *args], capture_output=True, text=True, timeout=30, check=False
    )
    if check and result.returncode != 0:
        raise FirewallError(f"iptables {' '.join(args)} failed: {result.stderr.strip()[:300]}")
    return result


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _current() -> list[str] | None:
    """The chain's rules now (None when the chain does not exist)."""
    result = _iptables("-S", CHAIN, check=False)
    if result.returncode != 0:
        return None
    return [line.strip() for line in result.stdout.splitlines() if line.startswith("-A ")]


def _bridges_in(rules: list[str]) -> list[str]:
    out = []
    for rule in rules:
        words = rule.split()
        if words[-2:] == ["-j", "RETURN"] and "-i" in words and "-o" in words:
            iface = words[words.index("-i") + 1]
            if iface == words[words.index("-o") + 1] and not iface.endswith("+"):
                out.append(iface)
    return out


def _write(rules: list[str]) -> None:
    # --noflush leaves every other chain alone; declaring ours flushes just it, in the same atomic commit.
    text = f"*filter\n:{CHAIN} - [0:0]\n" + "\n".join(rules) + "\nCOMMIT\n"
    result = subprocess.run(
        [_binary("iptables-restore"), "-w", "10", "--noflush"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise FirewallError(f"iptables-restore of {CHAIN} failed: {result.stderr.strip()[:300]}")


def _ensure_jump() -> None:
    """Our jump sits in FORWARD before the first ACCEPT (an engine restart may insert rules at the top)."""
    lines = [line for line in _iptables("-S", "FORWARD").stdout.splitlines() if line.startswith("-A ")]
    jump = f"-A FORWARD -j {CHAIN}"
    first_accept = next((i for i, line in enumerate(lines) if line.endswith("-j ACCEPT")), len(lines))
    if jump in lines[:first_accept]:
        return
    while jump in lines:
        _iptables("-D", "FORWARD", "-j", CHAIN)
        lines.remove(jump)
    _iptables("-I", "FORWARD", "1", "-j", CHAIN)


def ensure_project_firewall(bridge: str | None) -> None:
    """Blocking: make the chain hold ``bridge``'s rule (None: just the chain itself) and every shared rule, and
    make sure FORWARD jumps to it; rewrites only when something differs (one ``iptables -S`` otherwise)."""
    with _host_lock():
        have = _current()
        bridges = _bridges_in(have or [])
        if bridge:
            bridges.append(bridge)
        want = chain_rules(bridges)
        if have != want:
            _write(want)
        _ensure_jump()


def forget_project_bridge(bridge: str) -> None:
    """Blocking: drop ``bridge``'s rule (its network was removed); a missing chain or rule is fine."""
    if shutil.which("iptables") is None:
        return
    with _host_lock():
        have = _current()
        if have is None:
            return
        bridges = [b for b in _bridges_in(have) if b != bridge]
        if bridges != _bridges_in(have):
            _write(chain_rules(bridges))
