"""Operator control of the proxy through whatever backend is selected: its status in one shape, and a restart.

The API (``GET /api/proxy``, ``POST /api/proxy/restart``), the dashboard's Server page and ``rivetr proxy`` read
the same shape. Core never imports a plugin: a backend's ``status()`` is a dict whose known keys are picked
here, and ``restart()``/``shutdown()`` are optional methods (the built-in proxy has both; a backend without them
answers ``not_supported``).
"""

from __future__ import annotations

from typing import Any

from rivetr_core.contract.errors import Conflict

#: The status keys every consumer may rely on (None when a backend does not say).
STATUS_KEYS = (
    "pid",
    "uptime",
    "workers",
    "workers_ready",
    "worker_pids",
    "host",
    "port",
    "https_port",
    "routes",
)


def status_of(proxy: Any, raw: dict[str, Any] | None, *, enabled: bool = True) -> dict[str, Any]:
    """The common shape of a backend's ``status()`` answer (``raw``); ``proxy`` None: the proxy is off."""
    if not enabled or proxy is None:
        return {"enabled": False, "backend": None, "running": False, "version": None, "error": None} | {
            k: None for k in STATUS_KEYS
        }
    raw = raw or {}
    out = {k: raw.get(k) for k in STATUS_KEYS}
    if out["worker_pids"] is not None:
        out["worker_pids"] = [p for p in out["worker_pids"] if isinstance(p, int)]
    running = raw.get("pid") is not None and not raw.get("error")
    return {
        "enabled": True,
        "backend": getattr(proxy, "name", None),
        "running": running,
        "version": raw.get("version"),
        "error": raw.get("error") or (None if running else "the proxy does not answer"),
        **out,
    }


async def proxy_status(proxy: Any, *, enabled: bool = True) -> dict[str, Any]:
    if not enabled or proxy is None:
        return status_of(None, None, enabled=False)
    try:
        raw = await proxy.status()
    except Exception as exc:  # a status page must show a broken proxy, not fail with it
        raw = {"error": str(exc)}
    return status_of(proxy, raw)


async def restart_proxy(proxy: Any) -> dict[str, Any]:
    """Restart the proxy gracefully (the built-in one hands its ports to a new master: no connection is
    refused). ``Conflict`` ``proxy_disabled`` / ``not_supported``; the backend's ``ProxyError`` (502) when the
    new proxy does not start (the running one keeps serving)."""
    if proxy is None:
        raise Conflict("the proxy is off ([proxy] enabled = false)", code="proxy_disabled")
    restart = getattr(proxy, "restart", None)
    if restart is None:
        raise Conflict(
            f"the {getattr(proxy, 'name', '?')!r} proxy backend cannot be restarted", code="not_supported"
        )
    from rivetr_core.contract.errors import ProxyError

    try:
        result = await restart()
    except ProxyError:
        raise
    except Exception as exc:  # the new master did not start: the old one keeps serving, say why
        raise ProxyError(f"the proxy was not restarted: {exc}") from None
    return {
        "restarted": bool(result.get("restarted")),
        "previous_pid": result.get("previous_pid"),
        "pid": result.get("pid"),
        "status": await proxy_status(proxy),
    }


def outlives_notice(app: Any) -> str | None:
    """What ``rivetr serve`` says at start and exit: the proxy keeps serving after it exits, and how to stop
    it. None when there is no proxy, or it is set to stop with the server (``keep_running = false``)."""
    ctx = app.extensions.get("rivetr_ctx")
    proxy = getattr(ctx, "proxy", None)
    if proxy is None or getattr(proxy, "keep_running", True) is False:
        return None
    pid = getattr(proxy, "pid", None)
    who = f"the proxy (pid {pid})" if pid else "the proxy"
    return (
        f"{who} keeps serving the apps after Rivetr stops; "
        "`rivetr proxy status` shows it, `rivetr proxy stop` stops it"
    )
