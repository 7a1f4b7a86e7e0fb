"""``rivetr proxy status | stop | restart``: operator control of the proxy on this machine.

The proxy outlives ``rivetr serve`` by design (it keeps serving the apps while the control plane restarts or is
stopped), so these commands do not go through the API: they read the same configuration as ``rivetr serve``
(``--config`` / ``$RIVETR_CONFIG``) and talk to the proxy of its data dir directly (the built-in proxy's
``<data_dir>/proxy/control.sock``), whether or not the server runs. Run them as the user the server runs as.
From elsewhere, ``GET /api/proxy`` and ``POST /api/proxy/restart`` do the same through a running server.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

config_option = click.option(
    "--config",
    "config_path",
    envvar="RIVETR_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML config file of the server (default: $RIVETR_CONFIG, else built-in defaults).",
)
json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON (GET /api/proxy's shape).")


@click.group("proxy")
def proxy() -> None:
    """The proxy on this machine: status, graceful stop and restart (it keeps running after `rivetr serve`
    exits)."""


def _backend(config_path: str | None) -> Any:
    from rivetr_core.contract import PluginContext
    from rivetr_core.plugins import PluginError

    from .main import _load, _manager

    cfg = _load(config_path)
    if not cfg.proxy.enabled:
        click.echo("the proxy is off in this configuration ([proxy] enabled = false)", err=True)
        sys.exit(2)
    try:
        manager = _manager(cfg)
        manager.configure(cfg)
        registration = manager.select(manager.proxy_backends(), cfg.proxy.backend, "proxy backend")
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return registration.factory(PluginContext(config=cfg, data_dir=cfg.server.data_dir))


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + (f"{h}h " if d or h else "") + f"{m}m {s}s"


def _print_status(st: dict[str, Any]) -> None:
    if not st["running"]:
        click.echo(f"not running ({st['error']})")
        return
    ports = f"{st['host'] or '*'}:{st['port']}" + (f", HTTPS {st['https_port']}" if st["https_port"] else "")
    click.echo(f"running      pid {st['pid']} ({st['backend']} {st['version'] or ''})".rstrip())
    click.echo(f"uptime       {_uptime(st['uptime'])}")
    click.echo(f"workers      {st['workers_ready']}/{st['workers']} ready (pids {st['worker_pids'] or '-'})")
    click.echo(f"listening    {ports}")
    click.echo(f"routes       {st['routes']}")


@proxy.command("status")
@config_option
@json_flag
def status(config_path: str | None, as_json: bool) -> None:
    """Whether the proxy runs, its pid, uptime, workers, ports, routes and version. Exits 1 when it does not
    run."""
    from rivetr_core.proxyops import proxy_status

    st = _run(proxy_status(_backend(config_path)))
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        _print_status(st)
    sys.exit(0 if st["running"] else 1)


@proxy.command("stop")
@config_option
def stop(config_path: str | None) -> None:
    """Stop the proxy gracefully: it stops accepting connections, finishes in-flight requests (up to
    ``drain_timeout``) and exits. The apps are unreachable until `rivetr serve` (or `rivetr proxy restart`)
    starts it again."""
    from rivetr_core.proxyops import proxy_status

    backend = _backend(config_path)

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        before = await proxy_status(backend)
        if before["running"]:
            shutdown = getattr(backend, "shutdown", None)
            if shutdown is None:
                click.echo(f"error: the {backend.name!r} proxy backend cannot be stopped from here", err=True)
                sys.exit(2)
            await shutdown()
        return before, await proxy_status(backend)

    before, after = _run(go())
    if not before["running"]:
        click.echo("the proxy is not running")
        return
    if after["running"]:
        click.echo(f"error: the proxy (pid {after['pid']}) still runs", err=True)
        sys.exit(1)
    click.echo(f"stopped the proxy (pid {before['pid']}); in-flight requests were allowed to finish")


@proxy.command("restart")
@config_option
@json_flag
def restart(config_path: str | None, as_json: bool) -> None:
    """Restart the proxy with the configuration's current settings without closing its ports: a new master
    takes the listening sockets over (no connection is refused) and the old one drains and exits. Starts the
    proxy when it does not run."""
    from rivetr_core.contract.errors import RivetrError
    from rivetr_core.proxyops import restart_proxy

    try:
        res = _run(restart_proxy(_backend(config_path)))
    except RivetrError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    if res["restarted"]:
        click.echo(f"restarted the proxy: pid {res['previous_pid']} -> {res['pid']} (ports kept open)")
    else:
        click.echo(f"the proxy was not running: started it (pid {res['pid']})")
    _print_status(res["status"])


def _add_logs() -> None:
    from .proxy_logs_cmd import logs  # the access log, over the API (see docs/proxy-access-logs.md)

    proxy.add_command(logs)


_add_logs()


def _attach_logs() -> None:
    # `rivetr proxy logs` reads the access log through the API (a running server), unlike the commands above.
    from .proxy_logs_cmd import logs

    proxy.add_command(logs)


_attach_logs()
