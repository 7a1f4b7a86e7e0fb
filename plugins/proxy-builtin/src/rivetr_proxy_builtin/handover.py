"""Restart without closing the ports: the running master hands its listening sockets to a new master.

``restart {settings?}`` on the control socket (``BuiltinProxy.restart``, ``rivetr proxy restart``,
``POST /api/proxy/restart``):

1. The old master starts a new master (``python -m rivetr_proxy_builtin.server … --inherit JSON``) in its own
   session, passing by fd inheritance its listening sockets (HTTP and HTTPS, one per worker), the open
   ``proxy.lock`` (an flock belongs to the open file, so the lock is never free in between and no third
   proxy can start) and a pipe on which the new master says ``ready``.
2. The new master loads ``state.json`` and ``certs/``, starts its workers on the inherited sockets (they
   accept from the same kernel queues as the old workers: no connection is refused or reset), takes over
   ``control.sock``, ``proxy.pid`` and ``proxy.json`` and writes ``ready``.
3. The old master stops taking control commands (a command still arriving gets its connection closed: the
   control plane's client reconnects to the new master and retries), tells the new master to ``reload`` the
   persisted state (whatever changed while it was starting), then stops its workers gracefully: they stop
   accepting and finish in-flight requests for up to ``drain_timeout``, and it exits.

Settings given with ``restart`` replace the running ones (that is how changed ``[proxy]`` settings are
applied). Sockets are inherited only when host and ports are unchanged; extra workers bind new
``SO_REUSEPORT`` sockets on the same port. If the new master fails to start, the old one keeps serving and
the command fails with the new master's exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .control import ControlClient
from .settings import ProxySettings

if TYPE_CHECKING:
    from .server import Master

#: The proxy's version, in ``status`` (what a restart would be running).
VERSION = __version__

_restarting = False  # one master per process: True while its restart waits for the new master

#: How long the new master may take to report ready (it spawns every worker first).
READY_TIMEOUT = 40.0


@dataclass
class Inherited:
    """What a new master got from the one it replaces (``--inherit``)."""

    host: str
    port: int
    https_port: int  # 0: none
    plain: list[socket.socket] = field(default_factory=list)
    tls: list[socket.socket] = field(default_factory=list)
    lock_fd: int = -1
    ready_fd: int = -1

    @classmethod
    def from_json(cls, text: str) -> Inherited:
        d = json.loads(text)
        return cls(
            host=d["host"],
            port=int(d["port"]),
            https_port=int(d.get("https_port") or 0),
            plain=[socket.socket(fileno=fd) for fd in d.get("plain", [])],
            tls=[socket.socket(fileno=fd) for fd in d.get("tls", [])],
            lock_fd=int(d.get("lock", -1)),
            ready_fd=int(d.get("ready", -1)),
        )

    def sockets_for(self, host: str, port: int, https: bool) -> list[socket.socket]:
        """The inherited listening sockets usable for ``host:port`` (port 0: whatever port they have)."""
        want = self.https_port if https else self.port
        socks = self.tls if https else self.plain
        if host != self.host or not want or port not in (0, want):
            return []
        return socks

    def close_unused(self, workers: Any) -> None:
        """Close the inherited sockets the new master's workers do not serve (fewer workers now): the old
        workers keep theirs open until they exit, so the kernel keeps using them meanwhile."""
        used = {s.fileno() for w in workers for s in (w.listen, w.tls) if s is not None}
        for s in (*self.plain, *self.tls):
            if s.fileno() >= 0 and s.fileno() not in used:
                s.close()

    def say_ready(self) -> None:
        if self.ready_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.ready_fd, b"ready\n")
                os.close(self.ready_fd)
            self.ready_fd = -1


def reuse_or_listen(master: Master, port: int, https: bool, bind: Any) -> list[socket.socket]:
    """The master's sockets for one listener: the inherited ones (up to ``workers``), plus new
    ``SO_REUSEPORT`` ones bound by ``bind(port, n)`` on the same port when there are more workers."""
    inh: Inherited | None = getattr(master, "inherited", None)
    n = master.settings.workers
    socks = inh.sockets_for(master.settings.host, port, https)[:n] if inh is not None else []
    if socks:
        port = socks[0].getsockname()[1]
    if len(socks) < n:
        # Extra workers join the inherited sockets' port; a fresh listener first checks the port is free.
        socks = socks + bind(port, n - len(socks), not socks)
    return socks


async def restart(master: Master, lock_fd: int, settings: dict[str, Any] | None) -> dict[str, Any]:
    """Start the replacing master with the sockets and the lock; once it is ready, stop taking commands,
    let it reload what changed meanwhile and begin draining. Returns the new master's pid."""
    global _restarting
    if master.handing_over or _restarting:
        raise ValueError("a restart is already in progress")
    _restarting = True  # a second new master would share our lock: one restart at a time
    try:
        return await _restart(master, lock_fd, settings)
    finally:
        _restarting = False


async def _restart(master: Master, lock_fd: int, settings: dict[str, Any] | None) -> dict[str, Any]:
    new_settings = ProxySettings.from_mapping({**master.settings.__dict__, **(settings or {})})
    plain = [w.listen for w in master.workers]
    tls = [w.tls for w in master.workers if w.tls is not None]
    read_end, write_end = os.pipe()
    inherit = {
        "host": master.settings.host,
        "port": master.port,
        "https_port": master.https_port,
        "plain": [s.fileno() for s in plain],
        "tls": [s.fileno() for s in tls],
        "lock": lock_fd,
        "ready": write_end,
    }
    fds = [*inherit["plain"], *inherit["tls"], lock_fd, write_end]  # type: ignore[misc]
    cmd = [
        sys.executable,
        "-m",
        "rivetr_proxy_builtin.server",
        "--state-dir",
        str(master.state_dir),
        "--settings",
        new_settings.to_json(),
        "--inherit",
        json.dumps(inherit),
    ]
    log = open(master.state_dir / "proxy.log", "ab")  # handed to the child, closed below
    try:
        # Own session, like the first master: the old one exits soon and must take nothing with it.
        proc = subprocess.Popen(  # noqa: ASYNC220 - fork/exec only
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=fds, start_new_session=True
        )
    finally:
        log.close()
        os.close(write_end)
    try:
        ok = await asyncio.wait_for(_read_ready(read_end, proc), READY_TIMEOUT)
    except TimeoutError:
        ok = False
    finally:
        os.close(read_end)
    if not ok:
        if proc.poll() is None:
            proc.kill()
        await asyncio.to_thread(proc.wait)
        await _reclaim_files(master)
        raise ValueError(
            f"the new proxy master did not start (exit code {proc.returncode}); "
            f"the running one keeps serving: see {master.state_dir / 'proxy.log'}"
        )
    master.handing_over = True
    # After this, the new master reads what the old one persisted last (routes, ACME answers, certificates).
    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(_finish(master, proc)))
    return {"pid": proc.pid, "previous_pid": os.getpid()}


async def _reclaim_files(master: Master) -> None:
    """After a failed handover: the dead new master may have replaced ``control.sock`` (and ``proxy.pid``)
    before it failed; listen on the path again and rewrite the pid so the control plane still finds us."""
    sock_path = master.state_dir / "control.sock"
    if master.control_server is not None:
        master.control_server.close()  # existing connections stay open (and keep working)
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    master.control_server = await asyncio.start_unix_server(master.handle_control, path=str(sock_path))
    os.chmod(sock_path, 0o600)
    (master.state_dir / "proxy.pid").write_text(f"{os.getpid()}\n")


async def _read_ready(fd: int, proc: subprocess.Popen[bytes]) -> bool:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bool] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not got.done():
            got.set_result(data.startswith(b"ready"))

    loop.add_reader(fd, readable)
    try:
        return await got
    finally:
        loop.remove_reader(fd)
        del proc


async def _finish(master: Master, proc: subprocess.Popen[bytes]) -> None:
    # The restart's own answer goes out first; then no more commands here: a client whose connection closes
    # reconnects through control.sock, which is the new master's now, and retries (every command is idempotent).
    await asyncio.sleep(0.05)
    if master.control_server is not None:
        master.control_server.close()
    for conn in list(master.control_conns):
        conn.close()
    # Commands already read were persisted in their first step (before any await): reload sees them.
    await asyncio.sleep(0)
    client = ControlClient(str(master.state_dir / "control.sock"))
    try:
        await client.connect()
        await client.call("reload", _timeout=10)
    except Exception as exc:  # the new master has the state of its start: still better than stopping twice
        print(f"rivetr-proxy: could not ask pid {proc.pid} to reload: {exc}", file=sys.stderr)
    finally:
        await client.close()
    print(f"rivetr-proxy: pid {proc.pid} took over; draining and exiting", file=sys.stderr, flush=True)
    master.stopping.set()


def owns_files(master: Master) -> bool:
    """False once handed over: ``proxy.pid``, ``proxy.json`` and ``control.sock`` are the new master's."""
    return not master.handing_over


def take_lock(path: Path, inherited: Inherited | None) -> Any:
    """The open ``proxy.lock``: the inherited one (already locked, shared with the old master), else a new one
    (the caller flocks it)."""
    if inherited is not None and inherited.lock_fd >= 0:
        return os.fdopen(inherited.lock_fd, "a+")
    return open(path, "a+")  # held for the master's lifetime


async def request_restart(proxy: Any) -> dict[str, Any]:
    """The control plane's side (``BuiltinProxy.restart``): ask the running master to hand over to a new one
    with ``proxy.settings``, then wait until the new master answers. Starts a proxy when none runs.
    Returns ``{"previous_pid", "pid", "restarted"}``."""
    from dataclasses import asdict

    from .backend import master_pid

    old = master_pid(proxy.state_dir)
    if old is None:
        await proxy.start()
        return {"previous_pid": None, "pid": proxy.pid, "restarted": False}
    res = await proxy._call(
        "restart", _timeout=READY_TIMEOUT + 10, spawn=False, settings=asdict(proxy.settings)
    )
    new = int(res["pid"])
    deadline = asyncio.get_running_loop().time() + 10
    # The old master closes its control connections ~50 ms after answering; the next call reconnects (and
    # re-sends the route table) through control.sock, which the new master already owns.
    while True:
        with contextlib.suppress(Exception):
            if (await proxy._call("status", spawn=False)).get("pid") == new:
                break
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the new proxy master (pid {new}) does not answer")
        await asyncio.sleep(0.05)
    return {"previous_pid": old, "pid": new, "restarted": True}
