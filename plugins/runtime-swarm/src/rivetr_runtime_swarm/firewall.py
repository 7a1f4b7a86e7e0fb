"""The firewall for host-mode published ports (``[plugins.runtime-swarm] port_firewall``).

Swarm has no host IP for a published port: a task's host-mode port is bound on every interface of its node (see
:mod:`.servicespec`), so without a rule anyone who reaches the node reaches the app directly, past the proxy.
The engine DNATs such a port to the task's address on ``docker_gwbridge`` and the packet is FORWARDED into that
bridge, where the ``DOCKER-USER`` chain (the engine's chain for the operator's rules, evaluated first) sees it.

The rule: new connections forwarded out to ``docker_gwbridge`` jump to :data:`CHAIN`, which returns for sources
that are the swarm's nodes (the proxy on a manager reaches tasks on other nodes at their node address) or
loopback, and drops the rest. Only published ports are affected: ``docker_gwbridge`` has inter-container traffic
off, a task's own outgoing connections enter from it (``-i``, not ``-o``), and replies are not NEW. The proxy on
this host reaching ``127.0.0.1:<port>`` is not forwarded traffic (it goes through OUTPUT), so it is never dropped.

Kept by :class:`PortFirewall` on the host Rivetr runs on (a manager): idempotent (the chain is rewritten only
when the node addresses changed), removed with :meth:`PortFirewall.remove` when the setting is off. Other nodes
need the same rule (``rules()`` prints it); IPv4 only (``ip6tables`` is not touched).
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Our chain (a chain of its own: flushed and refilled without touching the operator's DOCKER-USER rules).
CHAIN = "RIVETR-SWARM-PORTS"
#: The engine's chain for user rules, evaluated before its own in FORWARD.
DOCKER_USER = "DOCKER-USER"
#: The bridge every swarm task's host-mode ports are forwarded into.
BRIDGE = "docker_gwbridge"
#: The jump from DOCKER-USER (without ``-A``/``-I``).
JUMP = ["-o", BRIDGE, "-m", "conntrack", "--ctstate", "NEW", "-j", CHAIN]
#: Loopback: always allowed.
LOOPBACK = "127.0.0.0/8"

log = logging.getLogger("rivetr.plugin.swarm.firewall")


class FirewallError(Exception):
    """iptables is missing or refused a change."""


def node_addresses(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The IPv4 addresses of the swarm's nodes (``GET /nodes``: each node's ``Status.Addr`` and a manager's
    ``ManagerStatus.Addr``), as ``/32`` sources, sorted."""
    out: set[str] = set()
    for node in nodes:
        candidates = [
            (node.get("Status") or {}).get("Addr") or "",
            ((node.get("ManagerStatus") or {}).get("Addr") or "").rsplit(":", 1)[0],
        ]
        for raw in candidates:
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                continue
            if address.version == 4 and not address.is_unspecified:
                out.add(f"{address}/32")
    return sorted(out)


def rules(sources: Sequence[str]) -> list[list[str]]:
    """The chain's rules (``-A CHAIN ...`` arguments) for the allowed ``sources``: loopback and the nodes
    return, the rest is dropped."""
    allowed = [LOOPBACK, *(s for s in sources if s != LOOPBACK)]
    return [["-A", CHAIN, "-s", source, "-j", "RETURN"] for source in allowed] + [["-A", CHAIN, "-j", "DROP"]]


class PortFirewall:
    """Keeps :data:`CHAIN` and the DOCKER-USER jump to it in this host's iptables."""

    def __init__(self, iptables: str = "iptables") -> None:
        self.iptables = iptables
        self._lock = threading.Lock()
        self._applied: list[str] | None = None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        binary = shutil.which(self.iptables)
        if binary is None:
            raise FirewallError(f"{self.iptables} is not installed: the published-port rule cannot be added")
        done = subprocess.run([binary, "-w", *args], capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            raise FirewallError(f"{self.iptables} {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def current(self) -> list[str]:
        """``iptables -S CHAIN`` without the ``-N`` line ([] when the chain does not exist)."""
        done = self._run("-S", CHAIN, check=False)
        if done.returncode != 0:
            return []
        return [line for line in done.stdout.splitlines() if line and not line.startswith("-N ")]

    def has_jump(self) -> bool:
        return self._run("-C", DOCKER_USER, *JUMP, check=False).returncode == 0

    def ensure(self, sources: Sequence[str]) -> bool:
        """Make the chain hold exactly :func:`rules` of ``sources`` and DOCKER-USER jump to it; returns whether
        anything changed. DOCKER-USER missing (the engine runs without iptables) is a :class:`FirewallError`."""
        with self._lock:
            if self._applied == list(sources) and self.has_jump():
                return False
            if self._run("-S", DOCKER_USER, check=False).returncode != 0:
                raise FirewallError(
                    f"the {DOCKER_USER} chain does not exist (does the engine manage iptables?): published "
                    "ports of swarm tasks are not firewalled"
                )
            wanted = rules(sources)
            changed = False
            if self.current() != [" ".join(rule) for rule in wanted]:
                if self._run("-N", CHAIN, check=False).returncode != 0:
                    self._run("-F", CHAIN)
                for rule in wanted:
                    self._run(*rule)
                changed = True
            if not self.has_jump():
                self._run("-I", DOCKER_USER, "1", *JUMP)
                changed = True
            self._applied = list(sources)
            if changed:
                log.info("published-port firewall: %s allows %s", CHAIN, ", ".join([LOOPBACK, *sources]))
            return changed

    def remove(self) -> bool:
        """Remove the jump and the chain; returns whether there was anything to remove."""
        with self._lock:
            self._applied = None
            found = False
            while self.has_jump():
                self._run("-D", DOCKER_USER, *JUMP)
                found = True
            if self._run("-S", CHAIN, check=False).returncode == 0:
                self._run("-F", CHAIN)
                self._run("-X", CHAIN)
                found = True
            return found


def sync(firewall: PortFirewall, api: Any) -> bool:
    """Blocking: :meth:`PortFirewall.ensure` with the addresses of the swarm's nodes now. A failure is logged
    (once per message), not raised: a deployment goes on without the rule, and the operator is told why."""
    try:
        return firewall.ensure(node_addresses(api.nodes() or []))
    except Exception as exc:  # iptables missing, a refused change, the engine not answering
        message = str(exc)
        if message not in _warned:
            _warned.add(message)
            log.warning("published-port firewall not applied: %s", message)
        return False


def switch_off(firewall: PortFirewall) -> None:
    """Blocking: the setting is off: remove a rule an earlier run added (no iptables: nothing to remove)."""
    if shutil.which(firewall.iptables) is None:
        return
    try:
        if firewall.remove():
            log.info("published-port firewall removed (port_firewall = false)")
    except FirewallError as exc:
        log.warning("removing the published-port firewall failed: %s", exc)


_warned: set[str] = set()
