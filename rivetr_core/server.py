"""``rivetr serve``: self-checks, then the app on Hypercorn with graceful shutdown on SIGTERM/SIGINT.

We bind the listening socket ourselves (and hand Hypercorn ``fd://``) so a busy port produces a clear message
before anything starts, and port 0 works: the real address is logged and written to ``<data_dir>/api.addr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .config import RivetrConfig
from .secrets import ensure_private_dir

log = logging.getLogger("rivetr.server")


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_data_dir(data_dir: Path, report: CheckReport) -> None:
    try:
        ensure_private_dir(data_dir)  # 0700: database, key and admin token live here
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        report.errors.append(f"data dir {data_dir} is not writable: {exc.strerror or exc}")


def check_disk(data_dir: Path, min_free_mb: int, report: CheckReport) -> None:
    try:
        free_mb = shutil.disk_usage(data_dir).free // (1024 * 1024)
    except OSError:
        return
    if free_mb < min_free_mb:
        report.warnings.append(
            f"only {free_mb} MB free on the data dir's disk (warning below {min_free_mb} MB)"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"error: API port {port} on {host} is already in use; stop the other process or set "
                "[server] api_port (RIVETR_SERVER__API_PORT)"
            ) from None
        if exc.errno == errno.EACCES:
            raise SystemExit(
                f"error: no permission to listen on {host}:{port} (ports < 1024 need root)"
            ) from None
        raise SystemExit(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def announce_admin_token(config: RivetrConfig) -> None:
    """Tell the operator about a newly generated admin token. The token itself goes to a terminal only (never
    through the logger, and never into a redirected stderr that ends up in a log file or a journal); otherwise
    the log names the file that holds it."""
    from .auth import TOKEN_FILE

    token_path = config.server.data_dir / TOKEN_FILE
    if sys.stderr.isatty():
        print(
            f"Generated the admin API token (stored in {token_path}, mode 0600):\n  {token_path.read_text().strip()}\n"
            "It is also the setup token that first-run setup (/setup) asks for.",
            file=sys.stderr,
            flush=True,
        )
    else:
        log.warning(
            "generated the admin API token; it is in %s (mode 0600): first-run setup (/setup) asks for it",
            token_path,
        )


async def log_setup_hint(app: object, config: RivetrConfig) -> None:
    """While no dashboard account exists, say how to create one (the setup page asks for the admin token)."""
    from .accounts.setup import setup_token_file
    from .context import RivetrContext

    ctx: RivetrContext = app.extensions["rivetr_ctx"]  # type: ignore[attr-defined]
    try:
        required = await ctx.services["accounts"].setup_required()
    except Exception:  # a hint only: never let it break start-up
        return
    if required:
        where = setup_token_file(config) or "[auth] admin_token of the configuration"
        log.info(
            "no dashboard account yet: open /setup and enter the admin token (from %s) to create one", where
        )


async def check_engine(app: object) -> None:
    """Warn (not fail) when no engine answers: the API is useful before the first deployment."""
    from .context import RivetrContext
    from .contract import RuntimeUnavailable

    ctx: RivetrContext = app.extensions["rivetr_ctx"]  # type: ignore[attr-defined]
    try:
        runtime = await ctx.runtime()
        info = await asyncio.wait_for(runtime.info(), 5)
        log.info("container runtime: %s %s", info.name, info.version)
    except (RuntimeUnavailable, Exception) as exc:
        log.warning("no container engine available yet: %s", exc)


def tune_malloc() -> None:
    """glibc only: cap malloc arenas (the engine SDK's thread pool would otherwise give each thread its own
    64 MB-reserving arena, inflating idle RSS) — a no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def release_free_memory() -> None:
    """Hand memory freed after start-up (migrations, schema building) back to the OS (glibc only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def start_pending_migrations(
    data_dir: Path, database_url: str | None = None
) -> subprocess.Popen[bytes] | None:
    """When the database is not at every head (first start, after an upgrade), migrate it in a child process
    (``rivetr_core.db.upgrade``) while this one imports the rest, so Alembic never occupies the server's
    memory; None when there is nothing to migrate. If the child fails, start-up migrates in-process and
    reports the error the usual way. On PostgreSQL (``database_url``) the child always starts: reading the heads
    needs a driver this process has not imported yet, and the child exits at once when they are current."""
    import os

    from .dbfile import DB_FILE, SCHEMA_HEADS, recorded_heads

    if database_url is None and recorded_heads(data_dir / DB_FILE) == SCHEMA_HEADS:
        return None
    # The URL may hold a password: the environment, not the command line, which ps shows to everyone.
    env = None if database_url is None else {**os.environ, "RIVETR_DATABASE__URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "rivetr_core.db.upgrade", str(data_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve(config: RivetrConfig) -> int:
    from .logsetup import setup_logging

    setup_logging(config.logging.level, config.logging.format)
    tune_malloc()
    report = CheckReport()
    data_dir = config.server.data_dir
    check_data_dir(data_dir, report)
    check_disk(data_dir, config.server.min_free_disk_mb, report)
    for warning in [*config.deprecations(), *report.warnings]:
        log.warning("%s", warning)
    if report.errors:
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    from .datalock import hold_server_lock

    hold_server_lock(data_dir)  # `rivetr backup restore` refuses a data dir a live server holds
    sock = bind_socket(config.server.effective_api_host, config.server.api_port)
    url = config.database.url
    migration = start_pending_migrations(data_dir, url.get_secret_value() if url else None)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional
        pass
    try:
        return asyncio.run(_serve(config, sock, migration))
    finally:
        # Hypercorn adopts the fd and closes it itself; closing again would hit EBADF.
        with contextlib.suppress(OSError):
            sock.close()


async def _serve(
    config: RivetrConfig, sock: socket.socket, migration: subprocess.Popen[bytes] | None = None
) -> int:
    from ._hypercorn_import import load_hypercorn

    load_hypercorn()  # before anything imports hypercorn's protocols: HTTP/2 loads on first use
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.utils import LifespanFailureError

    from .app import create_app
    from .config import ConfigError
    from .plugins import PluginError
    from .routing import api_upstream
    from .secrets import SecretError

    try:
        app = create_app(config)
    except (PluginError, SecretError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if migration is not None and await asyncio.to_thread(migration.wait) != 0:
            log.warning("migrating in a child process failed; migrating in-process instead")
    if app.extensions["rivetr_admin_token_generated"]:
        announce_admin_token(config)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    hc = HypercornConfig()
    hc.bind = [f"fd://{sock.fileno()}"]
    hc.graceful_timeout = config.server.shutdown_timeout
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.keep_alive_timeout = 75
    host, port = sock.getsockname()[:2]
    addr_file = config.server.data_dir / "api.addr"
    # Where the proxy reaches the API for [server] dashboard_domain (a wildcard bind answers on loopback too).
    app.extensions["rivetr_api_address"] = api_upstream(host, port)

    async def _announce() -> None:
        # before_serving has run once the app answers; announce only then so "ready" means ready.
        await app.extensions["rivetr_ready"].wait()
        addr_file.write_text(f"{host}:{port}\n")
        log.info(
            "Rivetr ready: API and dashboard on http://%s:%d%s",
            host if host != "0.0.0.0" else "127.0.0.1",
            port,
            f" and https://{config.server.dashboard_domain} through the proxy"
            if config.server.dashboard_domain and config.proxy.enabled
            else "",
        )
        await log_setup_hint(app, config)
        _proxy_notice(app)
        await check_engine(app)
        import gc

        gc.collect()
        release_free_memory()

    ready = asyncio.Event()
    app.extensions["rivetr_ready"] = ready

    @app.before_serving
    async def _mark_ready() -> None:
        ready.set()

    announcer = asyncio.create_task(_announce())
    try:
        await hypercorn_serve(app, hc, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    except LifespanFailureError as exc:
        # e.g. a corrupt database: Database.startup() checks integrity before anything writes to it.
        print(f"error: start-up failed: {exc}", file=sys.stderr)
        return 2
    finally:
        announcer.cancel()
        try:
            addr_file.unlink()
        except OSError:
            pass
    log.info("Rivetr stopped")
    _proxy_notice(app)
    return 0


def _proxy_notice(app: object) -> None:
    from .proxyops import outlives_notice

    notice = outlives_notice(app)
    if notice:
        log.info("%s", notice)
