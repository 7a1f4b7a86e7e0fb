"""A second Docker node on this machine, for multi-node swarm tests.

The node is a second ``dockerd`` with its own data root, exec root, pid file and API socket, running in its own
network namespace joined to the host by a veth pair on a small subnet of its own (``10.251.0.1`` on the host's
end, ``10.251.0.2`` in the namespace). To the swarm it is another machine:

* the manager (this machine's engine) advertises the host end of the veth, the only address of the host the
  namespace can reach, and the node joins as a worker advertising its end (see :func:`swarm_over_veth`);
* a task's host-mode port is bound in the namespace, so the host reaches it at ``10.251.0.2:<port>`` through
  the veth, as the proxy reaches a task on another server;
* the registry ``scripts/engines.sh`` runs listens on the host's loopback (``127.0.0.1:5000``, a plain-HTTP
  registry for dockerd because it is loopback). The node pulls the same references the manager pushed
  (``127.0.0.1:5000/...@sha256:...``): a forwarder listens on ``127.0.0.1:5000`` inside the namespace and
  connects to the host's registry (:class:`LoopbackForwarder`).

Only the network namespace is the node's own: the daemon runs with the host's mounts (``ip netns exec`` would
mount a fresh ``/sys`` without the cgroup hierarchies dockerd needs: "Devices cgroup isn't mounted") and in a
UTS namespace of its own, so its hostname (the node's name in ``docker node ls``) differs from the manager's.
Its iptables rules are the namespace's own, so ``--iptables`` stays on (its host-mode ports need its NAT rules).

Needs root and ``ip netns``; :func:`missing` says what is missing. Everything is undone by :meth:`SecondNode.stop`
(a leftover of a killed run is removed by the next :meth:`SecondNode.start`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: The namespace, the veth ends and the subnet: fixed names so a killed run's leftovers are found and removed.
NETNS = "rivetr-node2"
HOST_IF, NODE_IF = "rvnode2h", "rvnode2n"
HOST_ADDR, NODE_ADDR, PREFIX = "10.251.0.1", "10.251.0.2", 24
#: The second node's name in the swarm.
HOSTNAME = "rivetr-node2"
DATA_ROOT = Path("/var/lib/rivetr-node2")
RUN_DIR = Path("/run/rivetr-node2")
SOCKET = RUN_DIR / "docker.sock"
#: A bridge subnet of its own for the node's docker0 (only its namespace sees it; one apart from the host's
#: keeps `ip addr` readable).
BRIDGE_IP = "172.30.0.1/24"
CLONE_NEWNET = 0x40000000


def _run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def missing() -> str | None:
    """Why a second node cannot run here (not root, no ``ip netns``, no ``nsenter``/``dockerd``), else None."""
    if os.geteuid() != 0:
        return "a second dockerd in a network namespace needs root"
    for tool in ("ip", "nsenter", "unshare", "dockerd", "docker"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if _run("ip", "netns", "list", check=False).returncode != 0:
        return "`ip netns` does not work here"
    return None


class LoopbackForwarder:
    """Listens on ``127.0.0.1:<port>`` inside a network namespace and forwards each connection to the same
    port on the host's loopback. The listening socket is made by a thread that enters the namespace
    (``setns`` applies to the calling thread only) and comes back: a socket stays in the namespace it was made
    in, and the connections to the host are made from this process's own namespace."""

    def __init__(self, netns: str, port: int) -> None:
        self.port = port
        self._listener = self._listen_in(f"/run/netns/{netns}", port)
        self._closed = False
        threading.Thread(target=self._serve, name=f"netns-forward-{port}", daemon=True).start()

    @staticmethod
    def _listen_in(netns_path: str, port: int) -> socket.socket:
        libc = ctypes.CDLL(None, use_errno=True)
        made: list[socket.socket | BaseException] = []

        def make() -> None:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(target, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({netns_path})")
                try:
                    listener = socket.socket()
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    listener.bind(("127.0.0.1", port))
                    listener.listen(64)
                    made.append(listener)
                finally:
                    if libc.setns(own, CLONE_NEWNET) != 0:  # the thread ends anyway; said for the record
                        made.append(OSError(ctypes.get_errno(), "setns back"))
            except BaseException as exc:
                made.append(exc)
            finally:
                os.close(own)
                os.close(target)

        # A thread of its own: the namespace switch must never touch a thread that does anything else.
        worker = threading.Thread(target=make, name="netns-listen")
        worker.start()
        worker.join()
        for item in made:
            if isinstance(item, BaseException):
                raise item
        return made[0]  # type: ignore[return-value]

    def _serve(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()


@dataclass
class SecondNode:
    """The namespace, veth pair, daemon and registry forwarder of the second node."""

    registry_port: int = 5000
    log_path: Path = RUN_DIR.parent / "rivetr-node2.log"
    process: subprocess.Popen[bytes] | None = None
    forwarder: LoopbackForwarder | None = None
    node_id: str = ""
    cleanups: list[str] = field(default_factory=list)

    @property
    def docker_host(self) -> str:
        return f"unix://{SOCKET}"

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this node's engine."""
        return _run("docker", "-H", self.docker_host, *args, check=check, timeout=timeout)

    def start(self) -> None:
        """Make the namespace and veth pair and start the daemon (not yet in a swarm: see :meth:`join`)."""
        remove_leftovers()
        _run("ip", "netns", "add", NETNS)
        _run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NODE_IF)
        _run("ip", "link", "set", NODE_IF, "netns", NETNS)
        _run("ip", "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", HOST_IF)
        _run("ip", "link", "set", HOST_IF, "up")
        inside = ("ip", "netns", "exec", NETNS, "ip")
        _run(*inside, "addr", "add", f"{NODE_ADDR}/{PREFIX}", "dev", NODE_IF)
        _run(*inside, "link", "set", NODE_IF, "up")
        _run(*inside, "link", "set", "lo", "up")
        _run(*inside, "route", "add", "default", "via", HOST_ADDR)
        self.forwarder = LoopbackForwarder(NETNS, self.registry_port)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        DATA_ROOT.mkdir(parents=True, exist_ok=True)
        daemon = (
            f"hostname {HOSTNAME} && exec dockerd --data-root {DATA_ROOT} --exec-root {RUN_DIR / 'exec'}"
            f" --pidfile {RUN_DIR / 'docker.pid'} --host unix://{SOCKET} --bip {BRIDGE_IP}"
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{NETNS}", "unshare", "--uts", "sh", "-c", daemon],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while self.docker("version", check=False, timeout=10).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the second dockerd did not answer; its log:\n{self.log_tail()}")
            time.sleep(0.3)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def join(self, token: str) -> str:
        """Join the swarm whose manager listens on :data:`HOST_ADDR` as a worker; returns its node id."""
        self.docker(
            "swarm", "join", "--token", token, "--advertise-addr", NODE_ADDR,
            "--listen-addr", f"{NODE_ADDR}:2377", f"{HOST_ADDR}:2377",
        )  # fmt: skip
        self.node_id = self.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        return self.node_id

    def stop(self) -> None:
        """Leave the swarm (and remove the node on the manager), stop the daemon, remove everything."""
        if self.node_id:
            self.docker("swarm", "leave", "--force", check=False)
            _run("docker", "node", "rm", "--force", self.node_id, check=False)
            self.node_id = ""
        if self.process is not None:
            stop_daemon(self.process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(30)
            self.process = None
        if self.forwarder is not None:
            self.forwarder.close()
            self.forwarder = None
        remove_leftovers()


def stop_daemon(pid: int) -> None:
    """SIGTERM the daemon (it stops its containers and its containerd), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def remove_leftovers() -> None:
    """Whatever a second node left: its daemon (by its pid file), its processes in the namespace, the
    namespace and veth pair, its mounts, exec root and data root."""
    pidfile = RUN_DIR / "docker.pid"
    with contextlib.suppress(OSError, ValueError):
        stop_daemon(int(pidfile.read_text().strip()))
    if Path(f"/run/netns/{NETNS}").exists():
        # Anything still running in the namespace (a shim of a killed daemon) would keep it alive.
        pids = _run("ip", "netns", "pids", NETNS, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _run("ip", "netns", "del", NETNS, check=False)
    _run("ip", "link", "del", HOST_IF, check=False)  # gone with the namespace's end, unless that failed
    for root in (RUN_DIR, DATA_ROOT):
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """Unmount what the daemon left mounted under ``root`` (overlay layers, netns files), deepest first."""
    prefix = f"{root}/"
    with contextlib.suppress(OSError):
        targets = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if len(line.split()) > 4
        ]
        for target in sorted((t for t in targets if t.startswith(prefix) or t == str(root)), reverse=True):
            _run("umount", "-l", target, check=False)


def _manager_docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run("docker", *args, check=check)


@contextlib.contextmanager
def swarm_over_veth() -> Iterator[SecondNode]:
    """A two-node swarm for one test module: this machine's engine becomes the manager, advertising the host's
    end of the veth, and the second node joins as a worker. At the end the worker leaves and is removed, the
    manager leaves its swarm (and its ``docker_gwbridge`` goes when the swarm made it), so the engine is again
    what the single-node fixture (tests/conftest.py ``swarm_engine``) expects: not in a swarm.

    An engine already in a swarm is not touched: that is an error naming it (a single-node swarm advertises
    loopback, which the second node cannot reach)."""
    state, _, address = (
        _manager_docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}")
        .stdout.strip()
        .partition(" ")
    )
    if state == "active" and address == HOST_ADDR:  # this module's own swarm, left by a run that was killed
        remove_leftovers()
        _manager_docker("swarm", "leave", "--force")
        state = "inactive"
    if state != "inactive":
        raise RuntimeError(
            f"the engine's swarm state is {state!r}: a two-node test needs it outside any swarm"
        )
    had_gwbridge = _manager_docker("network", "inspect", "docker_gwbridge", check=False).returncode == 0
    node = SecondNode()
    initialised = False
    try:
        node.start()
        _manager_docker(
            "swarm", "init", "--advertise-addr", HOST_ADDR, "--listen-addr", f"{HOST_ADDR}:2377"
        )  # fmt: skip
        initialised = True
        node.join(_manager_docker("swarm", "join-token", "-q", "worker").stdout.strip())
        yield node
    finally:
        node.stop()
        if initialised:
            _manager_docker("swarm", "leave", "--force", check=False)
            if not had_gwbridge:
                # Refused for a moment after the leave, while the ingress sandbox's endpoint goes.
                for _ in range(50):
                    if _manager_docker("network", "rm", "docker_gwbridge", check=False).returncode == 0:
                        break
                    time.sleep(0.2)
