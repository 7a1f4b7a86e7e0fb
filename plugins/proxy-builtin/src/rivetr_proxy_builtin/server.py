"""The proxy master process: ``python -m rivetr_proxy_builtin.server --state-dir DIR --settings JSON``.

It owns everything that must outlive the control plane:

* the listening sockets (one per worker, all bound to the same port with ``SO_REUSEPORT`` so the kernel
  spreads connections; created here so a restarted worker gets the same socket back and no port race),
* the worker processes (spawned with the socket fd inherited; respawned if one dies),
* the route table, persisted atomically to ``DIR/state.json`` on every change and loaded at start, so a
  restarted proxy serves the last known routes before the control plane is back,
* the control socket ``DIR/control.sock`` (JSON lines, see :mod:`.control`) the control plane drives,
* upstream health probes (one prober for all workers; workers get the unhealthy set in state snapshots),
* drain tracking: ``wait_drained`` polls every worker's per-upstream in-flight counts,
* per-route request counters: a ``status`` call asks every worker for its counters and answers their sum plus
  a base holding the last counts reported by workers that have since died (a respawned worker starts at
  0), so ``route_stats`` never goes backwards while the master lives.

A state change is acknowledged to the control plane only after every worker has applied it, so once
``set_route`` returns no new request can reach a removed upstream.

Files in DIR: ``proxy.pid``, ``proxy.lock`` (flock held while running: one master per state dir),
``control.sock``, ``state.json``, ``proxy.json`` (pid, port, workers), ``certs/``, ``proxy.log`` (written by
whoever started the process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import handover
from .health import HealthTracker
from .outlier import merge_reports
from .route_metrics import fold_counts, latency_report
from .route_rules import clean_rules
from .routing import (
    LOAD_BALANCERS,
    normalize_domain,
    normalize_prefix,
    route_key,
    route_key_of,
    split_address,
)
from .settings import ProxySettings
from .tlsfiles import FALLBACK, cert_basename, covering_cert, domain_of, ensure_fallback_cert, write_private

STATE_VERSION = 1


def _claim_port(family: int, host: str, port: int) -> int:
    """Check that nothing listens on ``host:port`` before the workers bind it with ``SO_REUSEPORT`` (port 0: pick
    one nothing uses). The kernel lets a second ``SO_REUSEPORT`` listener of the same user join a busy port and
    then splits connections between the two: another proxy on :80 would silently answer half of the requests
    (our routes missing there). A plain bind fails with EADDRINUSE in that case instead."""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are not listeners
        probe.bind((host, port))
        return int(probe.getsockname()[1])
    finally:
        probe.close()


class WorkerHandle:
    """The master's side of one worker: its process, control pipe and pending acknowledgements."""

    def __init__(self, index: int, listen: socket.socket, tls: socket.socket | None) -> None:
        self.index = index
        self.listen = listen
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.ready = asyncio.Event()  # it has the route table: state updates go to it
        #: it accepts connections: it acknowledged its first table after opening its listeners (a new master
        #: of a restart reports ready only then, so the old workers never stop before these accept)
        self.serving = asyncio.Event()
        self.first_seq = -1
        self.waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader_task: asyncio.Task[None] | None = None
        self.pid: int | None = None
        self.gen = 0  # incremented per spawned process: a late answer of a dead one is not taken as new
        self.counts: dict[str, list[int]] = {}  # route counters this process last reported

    async def send(self, msg: dict[str, Any], seq: int, timeout: float = 5.0) -> dict[str, Any] | None:
        if self.writer is None or not self.ready.is_set():
            return None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[seq] = fut
        try:
            self.writer.write((json.dumps({**msg, "seq": seq}) + "\n").encode())
            return await asyncio.wait_for(fut, timeout)
        except (TimeoutError, ConnectionError, OSError):
            return None
        finally:
            self.waiters.pop(seq, None)


class Master:
    def __init__(self, settings: ProxySettings, state_dir: Path) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.routes: dict[str, dict[str, Any]] = {}
        self.acme: dict[str, str] = {}
        self.certs: dict[str, int] = {}  # domain → version (crt mtime): workers reload changed ones
        self.https_port = 0  # 0: no HTTPS listener
        self.workers: list[WorkerHandle] = []
        self.port = 0
        self.seq = 0
        self.state_lock = asyncio.Lock()
        self.health = HealthTracker(settings, self._on_health_change)
        self.stopping = asyncio.Event()
        self.started = time.time()
        self.route_base: dict[str, list[int]] = {}  # counters of workers that died (last reported)
        self.route_latency: dict[str, Any] = {}  # latency histograms as of the last route_stats()
        self.control_server: asyncio.AbstractServer | None = None
        # Restart by handover (see .handover): what the previous master passed, and whether we are passing on.
        self.inherited: handover.Inherited | None = None
        self.lock_fd = -1
        self.handing_over = False
        self.control_conns: set[asyncio.StreamWriter] = set()

    # ----------------------------------------------------------------------------------------- persistence
    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            print(f"rivetr-proxy: ignoring unreadable {self.state_file}: {exc}", file=sys.stderr)
            return
        for r in data.get("routes", []):
            self.routes[route_key_of(r)] = r
        self.acme = dict(data.get("acme", {}))
        certs_dir = self.state_dir / "certs"
        if certs_dir.is_dir():
            for crt in certs_dir.glob("*.crt"):
                base = crt.name[: -len(".crt")]
                if base != FALLBACK and (certs_dir / f"{base}.key").exists():
                    self.certs[domain_of(base)] = crt.stat().st_mtime_ns

    def persist(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        data = {"version": STATE_VERSION, "routes": list(self.routes.values()), "acme": self.acme}
        # Owner-only: routes carry basic-auth password hashes (and ACME key authorizations).
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            os.fchmod(fh.fileno(), 0o600)  # a .tmp left by an older version keeps its mode otherwise
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_file)  # atomic: a crash leaves the old or the new table, never half

    def snapshot(self) -> dict[str, Any]:
        return {
            "op": "state",
            "routes": list(self.routes.values()),
            "unhealthy": sorted(self.health.unhealthy()),
            "acme": self.acme,
            "certs": self.certs,
            "tls_port": self.https_port,  # https_redirect only when a listener exists
        }

    async def broadcast(self) -> bool:
        """Send the current snapshot to every worker; True once all of them applied it."""
        async with self.state_lock:
            self.seq += 1
            msg = self.snapshot()
            results = await asyncio.gather(*(w.send(msg, self.seq) for w in self.workers))
            return all(r is not None for r in results)

    async def change(self) -> None:
        self.persist()
        self.health.set_targets(self._health_targets())
        await self.broadcast()

    def _health_targets(self) -> dict[str, str]:
        targets: dict[str, str] = {}
        h2c: set[str] = set()  # gRPC servers: probed with the HTTP/2 preface, not an HTTP/1.1 GET
        for r in self.routes.values():
            for addr in r["upstreams"]:
                targets.setdefault(addr, r["domain"].replace("*.", "health."))
            if r.get("upstream_protocol") == "h2c":
                h2c.update(r["upstreams"])
        self.health.h2c = h2c
        return targets

    async def _on_health_change(self) -> None:
        await self.broadcast()

    # --------------------------------------------------------------------------------------------- workers
    def _listen(self, port: int, count: int | None = None, claim: bool = True) -> list[socket.socket]:
        s = self.settings
        family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
        if claim:
            port = _claim_port(family, s.host, port)
        socks = []
        for _ in range(s.workers if count is None else count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((s.host, port))
            sock.listen(4096)
            sock.set_inheritable(True)
            port = sock.getsockname()[1]  # port 0: every worker joins the port the first one got
            socks.append(sock)
        return socks

    def make_sockets(self) -> None:
        s = self.settings
        plain = handover.reuse_or_listen(self, s.port, False, self._listen)
        self.port = plain[0].getsockname()[1]
        tls: list[socket.socket | None] = [None] * s.workers
        if s.https_port is not None and s.https_port >= 0:
            try:
                ensure_fallback_cert(self.state_dir / "certs")
                tls = list(handover.reuse_or_listen(self, s.https_port, True, self._listen))
                self.https_port = tls[0].getsockname()[1]  # type: ignore[union-attr]
            except Exception as exc:  # HTTPS failing must not take plain HTTP down with it
                print(f"rivetr-proxy: no HTTPS listener on port {s.https_port}: {exc}", file=sys.stderr)
        self.workers = [WorkerHandle(i, plain[i], tls[i]) for i in range(s.workers)]

    async def spawn(self, handle: WorkerHandle) -> None:
        # The previous process (if any) is gone: keep its last reported counters in the base.
        self._fold(self.route_base, handle.counts)
        handle.counts = {}
        handle.gen += 1
        parent, child = socket.socketpair()
        child.set_inheritable(True)
        cmd = [
            sys.executable,
            "-m",
            "rivetr_proxy_builtin.worker",
            "--listen-fd",
            str(handle.listen.fileno()),
            "--ctl-fd",
            str(child.fileno()),
            "--settings",
            self.settings.to_json(),
            "--index",
            str(handle.index),
            "--state-dir",
            str(self.state_dir),
        ]
        fds = [handle.listen.fileno(), child.fileno()]
        if handle.tls is not None:
            cmd += ["--tls-fd", str(handle.tls.fileno())]
            fds.append(handle.tls.fileno())
        handle.ready.clear()
        handle.serving.clear()
        # Popen only forks/execs; asyncio's subprocess transport would add pipes the worker doesn't need.
        handle.proc = subprocess.Popen(cmd, pass_fds=fds)  # noqa: ASYNC220
        child.close()
        handle.pid = handle.proc.pid
        handle.reader, handle.writer = await asyncio.open_connection(sock=parent)
        handle.reader_task = asyncio.create_task(self._read_worker(handle))
        await asyncio.wait_for(handle.serving.wait(), 30)

    async def _read_worker(self, handle: WorkerHandle) -> None:
        assert handle.reader is not None
        while True:
            try:
                line = await handle.reader.readline()
            except (ConnectionError, OSError):
                line = b""
            if not line:
                break
            msg = json.loads(line)
            if msg.get("op") == "ready":
                # The current table first: the worker opens its listeners once it has it (an empty table
                # would answer 404) and then acknowledges it, which is when it serves. Nobody waits on that
                # ack's seq (a waiter would only hold a "worker gone" error no one retrieves).
                self.seq += 1
                assert handle.writer is not None
                handle.writer.write((json.dumps({**self.snapshot(), "seq": self.seq}) + "\n").encode())
                handle.first_seq = self.seq
                handle.ready.set()
                continue
            if msg.get("seq") == handle.first_seq:
                handle.serving.set()
                continue
            fut = handle.waiters.pop(msg.get("seq"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        handle.ready.clear()
        handle.serving.clear()
        for fut in handle.waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError("worker gone"))
        handle.waiters.clear()

    async def watch_workers(self) -> None:
        """Respawn a worker that died (a crash must not leave the port half served); exit when the state
        dir is deleted (an orphan of a removed installation or test run must not serve forever)."""
        while not self.stopping.is_set():
            await asyncio.sleep(0.5)
            if not (self.state_dir / "proxy.lock").exists():
                print(f"rivetr-proxy: {self.state_dir} is gone; exiting", file=sys.stderr)
                self.stopping.set()
                return
            for h in self.workers:
                if h.proc is not None and h.proc.poll() is not None and not self.stopping.is_set():
                    print(
                        f"rivetr-proxy: worker {h.index} exited ({h.proc.returncode}); restarting",
                        file=sys.stderr,
                    )
                    with contextlib.suppress(Exception):
                        await self.spawn(h)

    async def worker_stats(self) -> list[dict[str, Any]]:
        async with self.state_lock:
            self.seq += 1
            seq = self.seq
        res = await asyncio.gather(*(w.send({"op": "stats"}, seq) for w in self.workers))
        return [r for r in res if r is not None]

    async def route_stats(self) -> dict[str, dict[str, int]]:
        """``{domain: {"requests", "upstream_errors"}}`` since the master started, over all workers."""
        async with self.state_lock:
            self.seq += 1
            seq = self.seq
        gens = [w.gen for w in self.workers]
        # A worker that does not answer in time (busy, restarting) counts with what it last reported.
        res = await asyncio.gather(*(w.send({"op": "stats", "routes": True}, seq, 1.0) for w in self.workers))
        for w, gen, r in zip(self.workers, gens, res, strict=True):
            if r is not None and w.gen == gen and isinstance(r.get("routes"), dict):
                w.counts = r["routes"]
        total: dict[str, list[int]] = {}
        self._fold(total, self.route_base)
        for w in self.workers:
            self._fold(total, w.counts)
        self.route_latency = latency_report(total)
        return {d: {"requests": c[0], "upstream_errors": c[1]} for d, c in sorted(total.items())}

    @staticmethod
    def _fold(into: dict[str, list[int]], counts: dict[str, list[int]]) -> None:
        fold_counts(into, counts)  # [requests, upstream_errors, latency histogram] (see .route_metrics)

    async def active_counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for r in await self.worker_stats():
            for addr, n in r.get("active", {}).items():
                total[addr] = total.get(addr, 0) + n
        return total

    # --------------------------------------------------------------------------------------------- control
    async def handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: set[asyncio.Task[None]] = set()
        self.control_conns.add(writer)  # closed at a handover: clients reconnect to the new master
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                # Each request runs on its own so a long wait_drained doesn't block route changes.
                task = asyncio.create_task(self._answer(line, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (ConnectionError, OSError):
            pass
        finally:
            self.control_conns.discard(writer)
            writer.close()

    async def _answer(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            result = await self.command(req.get("cmd", ""), req)
            resp = {"id": rid, "ok": True, "result": result}
        except (KeyError, ValueError, TypeError) as exc:
            resp = {"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:
            resp = {"id": rid, "ok": False, "error": f"internal error: {exc!r}"}
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.write((json.dumps(resp) + "\n").encode())
            await writer.drain()

    async def command(self, cmd: str, req: dict[str, Any]) -> Any:
        if cmd == "status":
            stats = await self.route_stats()
            return {**self.status(), "route_stats": stats, "route_latency": self.route_latency}
        if cmd == "replace_routes":
            routes = [self._clean_route(r) for r in req["routes"]]
            self.routes = {route_key_of(r): r for r in routes}
            await self.change()
            return None
        if cmd == "set_route":
            r = self._clean_route(req["route"])
            before = self.routes.get(route_key_of(r), {}).get("upstreams", ())
            # An address new to this route was health-checked by the deploy that routes to it: it starts
            # healthy even if the address was down under another route (an engine reuses a stopped
            # container's IP; the old verdict would keep the new container out for health_threshold probes).
            self.health.forget(set(r["upstreams"]) - set(before))
            self.routes[route_key_of(r)] = r
            await self.change()
            return None
        if cmd == "remove_route":
            domain, prefix = normalize_domain(req["domain"]), normalize_prefix(req.get("path_prefix"))
            self.routes.pop(route_key(domain, prefix), None)
            await self.change()
            return None
        if cmd == "routes":
            return await self.route_status()
        if cmd == "wait_drained":
            return await self.wait_drained(str(req["upstream"]), float(req.get("timeout", 30)))
        if cmd == "set_acme":
            self.acme[str(req["token"])] = str(req["key_authorization"])
            await self.change()
            return None
        if cmd == "remove_acme":
            self.acme.pop(str(req["token"]), None)
            await self.change()
            return None
        if cmd == "set_cert":
            self._write_cert(normalize_domain(req["domain"]), str(req["cert_pem"]), str(req["key_pem"]))
            await self.broadcast()  # certificates live in certs/, not in state.json or the health targets
            return None
        if cmd == "remove_cert":
            self._remove_cert(normalize_domain(req["domain"]))
            await self.broadcast()
            return None
        if cmd == "shutdown":
            asyncio.get_running_loop().call_later(0.05, self.stopping.set)
            return None
        if cmd == "restart":
            return await handover.restart(self, self.lock_fd, req.get("settings"))
        if cmd == "reload":  # the master we replaced persisted changes while we started
            self.load()
            await self.change()
            return None
        raise ValueError(f"unknown command {cmd!r}")

    @staticmethod
    def _clean_route(r: dict[str, Any]) -> dict[str, Any]:
        ups = [str(a) for a in r["upstreams"]]
        for a in ups:
            split_address(a)
        return {
            "domain": normalize_domain(str(r["domain"])),
            "upstreams": ups,
            "https_redirect": bool(r.get("https_redirect", False)),
            "hsts": bool(r.get("hsts", False)),
            "app_id": r.get("app_id"),
            "compression": r.get("compression") is not False,  # response compression (see .compress)
            **_balancer(r),  # only when not the default, like the rule keys
            **clean_rules(r),  # path prefix, redirects, basic auth: only the keys a route uses
        }

    def _write_cert(self, domain: str, cert_pem: str, key_pem: str) -> None:
        d = self.state_dir / "certs"
        d.mkdir(mode=0o700, exist_ok=True)
        base = cert_basename(domain)
        # Check the pair loads before any worker sees it: a bad upload must not break handshakes.
        check_crt, check_key = d / f"{base}.check.crt", d / f"{base}.check.key"
        write_private(check_crt, cert_pem)
        write_private(check_key, key_pem)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(check_crt, check_key)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"certificate and key for {domain} do not load: {exc}") from None
        finally:
            for path in (check_crt, check_key):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        write_private(d / f"{base}.key", key_pem)
        write_private(d / f"{base}.crt", cert_pem)
        self.certs[domain] = (d / f"{base}.crt").stat().st_mtime_ns

    def _remove_cert(self, domain: str) -> None:
        base = cert_basename(domain)
        for suffix in (".crt", ".key"):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / "certs" / f"{base}{suffix}").unlink()
        self.certs.pop(domain, None)

    def status(self) -> dict[str, Any]:
        return {
            "ok": all(w.serving.is_set() for w in self.workers),
            "pid": os.getpid(),
            "port": self.port,
            "https_port": self.https_port or None,
            "host": self.settings.host,
            "workers": len(self.workers),
            "workers_ready": sum(1 for w in self.workers if w.serving.is_set()),
            "worker_pids": [w.pid for w in self.workers],
            "routes": len(self.routes),
            "uptime": round(time.time() - self.started, 3),
            "state_dir": str(self.state_dir),
            "settings": asdict(self.settings),
            "version": handover.VERSION,
        }

    async def route_status(self) -> list[dict[str, Any]]:
        active = await self.active_counts()
        outliers = merge_reports(await self.worker_stats())  # passive health, per address over all workers
        out = []
        for r in self.routes.values():
            ups = []
            for addr in r["upstreams"]:
                h = self.health.state(addr)
                ups.append(
                    {
                        "address": addr,
                        "healthy": h.healthy if h else True,
                        "active_requests": active.get(addr, 0),
                        "detail": h.detail if h else "",
                        **outliers.get(addr, {"ejections": 0, "ejected_until": None}),
                    }
                )
            out.append(
                {**r, "upstreams": ups, "has_certificate": covering_cert(r["domain"], self.certs) is not None}
            )
        return out

    async def wait_drained(self, upstream: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not (await self.active_counts()).get(upstream):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.make_sockets()
        for h in self.workers:
            await self.spawn(h)
        self.health.set_targets(self._health_targets())
        sock_path = self.state_dir / "control.sock"
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        self.control_server = await asyncio.start_unix_server(self.handle_control, path=str(sock_path))
        os.chmod(sock_path, 0o600)
        info = {
            "pid": os.getpid(),
            "port": self.port,
            "https_port": self.https_port or None,
            "host": self.settings.host,
            "workers": len(self.workers),
        }
        (self.state_dir / "proxy.json").write_text(json.dumps(info))
        (self.state_dir / "proxy.pid").write_text(f"{os.getpid()}\n")
        if self.inherited is not None:
            self.inherited.close_unused(self.workers)
            self.inherited.say_ready()
        print(
            f"rivetr-proxy: pid {os.getpid()} serving {self.settings.host}:{self.port} "
            f"with {len(self.workers)} worker(s)",
            file=sys.stderr,
            flush=True,
        )
        watcher = asyncio.create_task(self.watch_workers())
        prober = asyncio.create_task(self.health.run())
        await self.stopping.wait()
        watcher.cancel()
        prober.cancel()
        self.control_server.close()
        for conn in list(self.control_conns):
            conn.close()
        if handover.owns_files(self):
            with contextlib.suppress(FileNotFoundError):
                sock_path.unlink()
        await self.stop_workers()
        for name in ("proxy.pid", "proxy.json") if handover.owns_files(self) else ():
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()

    async def stop_workers(self) -> None:
        for h in self.workers:
            if h.proc is not None and h.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    h.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout + 2
        for h in self.workers:
            if h.proc is None:
                continue
            while h.proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a process
                await asyncio.sleep(0.05)
            if h.proc.poll() is None:
                h.proc.kill()
                h.proc.wait()


def _balancer(r: dict[str, Any]) -> dict[str, str]:
    """The route dict's ``load_balancer`` key when it is not the default (so a plain route's dict, and the
    state file, stay as they were); ``ValueError`` for a value the workers would not know."""
    mode = r.get("load_balancer") or "round_robin"
    if mode not in LOAD_BALANCERS:
        raise ValueError(f"load_balancer must be round_robin or least_conn, got {mode!r}")
    return {} if mode == "round_robin" else {"load_balancer": mode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rivetr_proxy_builtin.server", description="Rivetr's proxy data plane.")
    ap.add_argument("--state-dir", required=True, type=Path)
    ap.add_argument("--settings", default="{}", help="ProxySettings as JSON")
    ap.add_argument("--inherit", help="sockets and lock from the master this one replaces (see .handover)")
    args = ap.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    settings = ProxySettings.from_json(args.settings)
    inherited = handover.Inherited.from_json(args.inherit) if args.inherit else None
    lock = handover.take_lock(state_dir / "proxy.lock", inherited)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"rivetr-proxy: another proxy already runs for {state_dir}", file=sys.stderr)
        return 3
    master = Master(settings, state_dir)
    master.inherited, master.lock_fd = inherited, lock.fileno()
    master.load()
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(master.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
