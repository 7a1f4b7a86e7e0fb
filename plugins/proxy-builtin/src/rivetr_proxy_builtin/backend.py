"""The control plane's handle on the proxy process: :class:`BuiltinProxy` implements ``ProxyBackend``.

The proxy runs as its own process tree (master + workers, see :mod:`.server`) in its own session, so it
survives the control plane being killed or restarted. :meth:`BuiltinProxy.start` connects to the proxy of
this state dir if one runs, and starts one otherwise; :meth:`BuiltinProxy.stop` only detaches (the proxy
keeps serving); :meth:`BuiltinProxy.shutdown` really stops it.

Route authority: the control plane is the source of truth. This object mirrors every route it was given;
whenever it (re)connects to a proxy (after a control-plane restart, or a proxy restart) it re-sends that full
table atomically. A fresh instance that was given no routes yet does not wipe the proxy's table at
``start()``: the proxy keeps serving its persisted routes until :meth:`replace_routes` (or ``set_route``)
says otherwise, so a control-plane restart never blanks live traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rivetr_core.contract import (
    PluginContext,
    ProxyError,
    Route,
    RouteStatus,
    UpstreamStatus,
)

from .control import ControlClient, ControlError
from .route_rules import clean_rules
from .routing import normalize_domain, normalize_prefix, route_key, split_address
from .settings import ProxySettings
from .tlsfiles import ensure_fallback_cert, fallback_exists


class BuiltinProxy:
    """``ProxyBackend`` for Rivetr's own data plane. State lives in ``state_dir`` (``<data_dir>/proxy``)."""

    name = "builtin"

    def __init__(
        self,
        settings: ProxySettings,
        state_dir: Path,
        *,
        logger: logging.Logger | None = None,
        python: str | None = None,
        spawn_timeout: float = 20.0,
        keep_running: bool = True,
    ) -> None:
        self.settings = settings
        #: False: stop() shuts the proxy down instead of detaching (tests, single-process setups).
        self.keep_running = keep_running
        self.state_dir = Path(state_dir)
        self.logger = logger or logging.getLogger("rivetr.proxy.builtin")
        self.python = python or sys.executable
        self.spawn_timeout = spawn_timeout
        self._client: ControlClient | None = None
        self._lock = asyncio.Lock()
        self._routes: dict[str, Route] = {}
        self._acme: dict[str, str] = {}
        self._authoritative = False  # True once this instance was told the route table
        self._proc: subprocess.Popen[bytes] | None = None
        self._stale: list[subprocess.Popen[bytes]] = []
        self.pid: int | None = None
        #: The HTTP port the proxy listens on (useful when ``proxy_port`` is 0), known after start().
        self.port: int | None = None
        #: The HTTPS port (None when no HTTPS listener could be opened), known after start().
        self.https_port: int | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> BuiltinProxy:
        from .plugin import BuiltinProxyConfig

        own = ctx.settings_as(BuiltinProxyConfig, "proxy-builtin")
        return cls(
            ProxySettings.from_config(ctx.config, own),
            Path(ctx.data_dir) / "proxy",
            logger=ctx.logger,
            keep_running=own.keep_running,
        )

    @property
    def control_path(self) -> Path:
        return self.state_dir / "control.sock"

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Connect to this state dir's running proxy, or start one; then push the route table if known."""
        async with self._lock:
            await self._ensure()

    async def stop(self) -> None:
        """Detach from the proxy. It keeps serving the last routes (the data plane outlives the control
        plane); call :meth:`shutdown` to stop it. With ``keep_running=False``
        (``[plugins.proxy-builtin] keep_running = false``) stop() shuts it down instead."""
        if not self.keep_running:
            await self.shutdown()
            return
        async with self._lock:
            if self._client is not None:
                await self._client.close()
                self._client = None
            self._reap()

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop the proxy process (in-flight requests get up to the drain timeout)."""
        limit = timeout if timeout is not None else self.settings.drain_timeout + 5
        async with self._lock:
            pid = self.pid or master_pid(self.state_dir)
            client = self._client
            if client is None or not client.connected:
                client = ControlClient(str(self.control_path))
                with contextlib.suppress(OSError, TimeoutError):
                    await client.connect()
            if client.connected:
                with contextlib.suppress(Exception):
                    await client.call("shutdown", _timeout=5)
                await client.close()
            self._client = None
            deadline = time.monotonic() + limit
            while pid and self._running(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls another process
                await asyncio.sleep(0.05)
            if pid and self._running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
                await asyncio.sleep(0.05)
                self._running(pid)
            self._reap()
            self.pid = None

    async def restart(self) -> dict[str, Any]:
        """Replace the running master by a new one with this instance's settings (how changed settings are
        applied) without closing the ports: the new master inherits the listening sockets, the old one drains
        (see :mod:`.handover`). Starts the proxy when none runs. ``{"previous_pid", "pid", "restarted"}``."""
        from .handover import request_restart

        return await request_restart(self)

    async def status(self) -> dict[str, Any]:
        try:
            st = await self._call("status", spawn=False)
        except (ProxyError, ConnectionError, OSError) as exc:
            return {"ok": False, "workers": 0, "pid": None, "error": str(exc)}
        # {"ok", "pid", "port", "workers", "workers_ready", "routes", "uptime", "route_stats", ...}
        return st

    async def access_log(
        self, domain: str | None = None, tail: int = 100, after: str | None = None
    ) -> dict[str, Any]:
        """Recent access-log lines (see :mod:`.accesslog_read`), read in a thread."""
        from .accesslog_read import answer

        return await asyncio.to_thread(answer, self.settings, self.state_dir, domain, tail, after)

    # --------------------------------------------------------------------------------------------- routes
    async def set_route(self, route: Route) -> None:
        clean = _clean_route(route)
        self._routes[route_key(clean.domain, clean.path_prefix)] = clean
        self._authoritative = True
        await self._call("set_route", route=_route_dict(clean))

    async def remove_route(self, domain: str, path_prefix: str = "/") -> None:
        d = normalize_domain(domain)
        self._routes.pop(route_key(d, path_prefix), None)
        self._authoritative = True
        await self._call("remove_route", domain=d, path_prefix=path_prefix)

    async def replace_routes(self, routes: list[Route]) -> None:
        """Atomically make ``routes`` the whole table (routes not listed are removed). Core calls this
        after start() with the routes from its database."""
        clean = [_clean_route(r) for r in routes]
        self._routes = {route_key(r.domain, r.path_prefix): r for r in clean}
        self._authoritative = True
        await self._call("replace_routes", routes=[_route_dict(r) for r in clean])

    async def routes(self) -> list[RouteStatus]:
        data = await self._call("routes")
        return [
            RouteStatus(
                domain=r["domain"],
                upstreams=[UpstreamStatus(**u) for u in r["upstreams"]],
                https_redirect=r["https_redirect"],
                hsts=r["hsts"],
                has_certificate=r["has_certificate"],
                path_prefix=r.get("path_prefix", "/"),
            )
            for r in data
        ]

    async def wait_drained(self, upstream: str, timeout: float) -> bool:
        split_address(upstream)
        return bool(
            await self._call("wait_drained", _timeout=timeout + 10, upstream=upstream, timeout=timeout)
        )

    # ---------------------------------------------------------------------------------------- TLS / ACME
    async def set_certificate(self, domain: str, cert_pem: str, key_pem: str) -> None:
        """Serve this certificate (chain PEM + key PEM) for ``domain`` (exact or ``*.example.com``) on the
        HTTPS port, chosen by SNI; stored 0600 in ``state_dir/certs``. Raises ProxyError if the pair does
        not load. Takes effect for new handshakes at once (renewals too)."""
        await self._call("set_cert", domain=normalize_domain(domain), cert_pem=cert_pem, key_pem=key_pem)

    async def remove_certificate(self, domain: str) -> None:
        await self._call("remove_cert", domain=normalize_domain(domain))

    async def set_acme_challenge(self, token: str, key_authorization: str) -> None:
        """Answer ``GET /.well-known/acme-challenge/<token>`` on the HTTP port, before any app route."""
        self._acme[token] = key_authorization
        await self._call("set_acme", token=token, key_authorization=key_authorization)

    async def remove_acme_challenge(self, token: str) -> None:
        self._acme.pop(token, None)
        await self._call("remove_acme", token=token)

    # ------------------------------------------------------------------------------------------ internals
    async def _call(self, cmd: str, *, _timeout: float = 15.0, spawn: bool = True, **args: Any) -> Any:
        """Send one command; on a lost connection reconnect (restarting the proxy if it died) and retry
        once. Every command is idempotent, so the retry is safe."""
        for attempt in range(2):
            async with self._lock:
                if self._client is None or not self._client.connected:
                    if not spawn:
                        await self._connect_existing()
                    else:
                        await self._ensure()
                client = self._client
            assert client is not None
            try:
                return await client.call(cmd, _timeout=_timeout, **args)
            except ControlError as exc:
                raise ProxyError(f"proxy refused {cmd}: {exc}") from None
            except (ConnectionError, OSError, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await client.close()
                if attempt == 1:
                    raise ProxyError(f"proxy control channel failed during {cmd}: {exc}") from None
        raise AssertionError("unreachable")

    async def _connect_existing(self) -> None:
        if self._client is not None:
            await self._client.close()  # a dead connection from before
            self._client = None
        client = ControlClient(str(self.control_path))
        try:
            await client.connect()
            st = await client.call("status", _timeout=5)
        except (OSError, TimeoutError, ConnectionError, ControlError):
            await client.close()
            self._client = None
            raise ProxyError(f"no proxy answers on {self.control_path}") from None
        self._client = client
        self.pid = st.get("pid")
        self.port = st.get("port")
        self.https_port = st.get("https_port")
        self._check_settings(st)
        await self._sync()

    async def _ensure(self) -> None:
        if self._client is not None and self._client.connected:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(ProxyError):
            await self._connect_existing()
            return
        # Only one control plane may spawn at a time; the proxy's own flock is the final guard.
        lock_fd = await asyncio.to_thread(_flock, self.state_dir / "spawn.lock")
        try:
            with contextlib.suppress(ProxyError):
                await self._connect_existing()
                return
            await self._spawn()
        finally:
            os.close(lock_fd)

    async def _make_fallback_cert(self, certs: Path) -> None:
        """Create the self-signed fallback certificate (first start only) in a child process: cryptography's
        ~7 MB would otherwise stay resident in the control plane for nothing, and the proxy processes must
        never import it. In-process if the child fails, so the error is reported the usual way."""
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rivetr_proxy_builtin.tlsfiles",
            str(certs),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if await child.wait() != 0 or not fallback_exists(certs):
            await asyncio.to_thread(ensure_fallback_cert, certs)

    async def _spawn(self) -> None:
        certs = self.state_dir / "certs"
        if self.settings.https_port is not None and not fallback_exists(certs):
            await self._make_fallback_cert(certs)
        self._reap()
        if self._proc is not None:
            self._stale.append(self._proc)  # still running (should not be): keep it referenced
        log_path = self.state_dir / "proxy.log"
        cmd = [
            self.python,
            "-m",
            "rivetr_proxy_builtin.server",
            "--state-dir",
            str(self.state_dir),
            "--settings",
            self.settings.to_json(),
        ]
        with open(log_path, "ab") as log:
            # Own session: a kill -9 (or Ctrl-C) of the control plane must not reach the data plane.
            # Popen only forks/execs (no waiting); asyncio's subprocess API can't start a new session.
            self._proc = subprocess.Popen(  # noqa: ASYNC220
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
            )
        self.logger.info("started proxy pid %s (state dir %s)", self._proc.pid, self.state_dir)
        deadline = time.monotonic() + self.spawn_timeout
        while True:
            if self._proc.poll() is not None:
                if self._proc.returncode == 3:  # another proxy got the state dir first: use it
                    await asyncio.sleep(0.2)
                    await self._connect_existing()
                    return
                raise ProxyError(
                    f"proxy exited with code {self._proc.returncode}: {_tail(log_path)}",
                    details={"log": str(log_path)},
                )
            if self.control_path.exists():
                with contextlib.suppress(ProxyError):
                    await self._connect_existing()
                    return
            if time.monotonic() > deadline:
                self._proc.kill()
                raise ProxyError(f"proxy did not start within {self.spawn_timeout:g}s: {_tail(log_path)}")
            await asyncio.sleep(0.05)

    async def _sync(self) -> None:
        """After (re)connecting, make the proxy's table equal to ours (if this instance knows the table)."""
        assert self._client is not None
        if self._authoritative:
            await self._client.call("replace_routes", routes=[_route_dict(r) for r in self._routes.values()])
        for token, key_auth in self._acme.items():
            await self._client.call("set_acme", token=token, key_authorization=key_auth)

    def _check_settings(self, st: dict[str, Any]) -> None:
        running = st.get("settings") or {}
        wanted = asdict(self.settings)
        diff = sorted(k for k, v in wanted.items() if k in running and running[k] != v and k != "port")
        if self.settings.port and st.get("port") != self.settings.port:
            diff.append("port")
        if diff:
            self.logger.warning(
                "the running proxy (pid %s) uses different settings for %s; restart it to apply them",
                st.get("pid"),
                ", ".join(diff),
            )

    def _running(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # our child: poll() also reaps it
        # Not our child: once the master exits its pid may go to any new process (a build's runtime, say),
        # which must never be waited for, let alone killed.
        return _alive(pid) and _is_master_of(pid, self.state_dir)

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None


def _flock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def master_pid(state_dir: Path) -> int | None:
    """The pid of the proxy master serving ``state_dir``, from its ``proxy.pid``; None when the file is absent
    or stale. A master killed with ``kill -9`` leaves the file behind, and the kernel hands its pid to the next
    process: only a live process running ``rivetr_proxy_builtin.server`` on this state dir counts."""
    try:
        pid = int((state_dir / "proxy.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and _is_master_of(pid, state_dir) else None


def _is_master_of(pid: int, state_dir: Path) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc/self").exists()  # no procfs to ask (not Linux): trust the pid file
    if b"rivetr_proxy_builtin.server" not in args or b"--state-dir" not in args[:-1]:
        return False
    served = Path(os.fsdecode(args[args.index(b"--state-dir") + 1]))
    return served.resolve() == state_dir.resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, parent has not reaped it yet) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_bytes()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""


def _clean_route(route: Route) -> Route:
    for a in route.upstreams:
        try:
            split_address(a)
        except ValueError as exc:
            raise ProxyError(str(exc)) from None
    try:
        domain = normalize_domain(route.domain)
        prefix = normalize_prefix(route.path_prefix)
        clean_rules(asdict(route))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProxyError(f"invalid route {route.domain}{route.path_prefix}: {exc}") from None
    # replace(): every field travels, including ones added after this function was written.
    return replace(route, domain=domain, path_prefix=prefix, upstreams=list(route.upstreams))


def _route_dict(route: Route) -> dict[str, Any]:
    return asdict(route)
