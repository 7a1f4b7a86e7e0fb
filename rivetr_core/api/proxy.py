"""``/api/proxy``: the proxy's process status and a graceful restart (operator control; the proxy outlives
``rivetr serve`` by design). Thin handlers over :mod:`rivetr_core.proxyops`."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import tag, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.proxyops import proxy_status, restart_proxy

bp = Blueprint("proxy_api", __name__, url_prefix="/api/proxy")


class ProxyOut(ApiModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="False with [proxy] enabled = false (every other field is then null).")
    backend: str | None = Field(description="The proxy backend ([proxy] backend), e.g. builtin.")
    running: bool = Field(description="A proxy process answers on its control socket.")
    version: str | None = Field(description="The running proxy's version.")
    error: str | None = Field(description="Why the proxy does not answer, when it does not.")
    pid: int | None = Field(description="Process id of the proxy master.")
    uptime: float | None = Field(description="Seconds since the running master started.")
    workers: int | None = Field(description="Worker processes.")
    workers_ready: int | None = Field(description="Workers serving traffic.")
    worker_pids: list[int] | None
    host: str | None = Field(description="Listening address.")
    port: int | None = Field(description="HTTP port.")
    https_port: int | None = Field(description="HTTPS port (null: no HTTPS listener).")
    routes: int | None = Field(description="Routes in the running proxy's table.")


class ProxyRestartOut(ApiModel):
    model_config = ConfigDict(extra="forbid")

    restarted: bool = Field(description="False when no proxy ran: one was started instead.")
    previous_pid: int | None
    pid: int | None
    status: ProxyOut


def _ctx() -> Any:
    return rivetr()


@bp.get("")
@tag(["proxy"])
@validate_response(ProxyOut)
async def get_proxy() -> dict[str, Any]:
    """The proxy process: pid, uptime, workers, ports, number of routes and version. It keeps running while
    ``rivetr serve`` is stopped (``rivetr proxy stop`` stops it)."""
    ctx = _ctx()
    return await proxy_status(ctx.proxy, enabled=ctx.config.proxy.enabled)


@bp.post("/restart")
@tag(["proxy"])
@responds(502)
@validate_response(ProxyRestartOut)
async def restart() -> dict[str, Any]:
    """Restart the proxy gracefully with the server's current ``[proxy]`` settings: a new master takes the
    listening sockets over (no connection is refused), the old one finishes in-flight requests (up to
    ``drain_timeout``) and exits. 409 ``proxy_disabled`` when the proxy is off, ``not_supported`` for a backend
    that cannot restart; 502 when the new proxy does not start (the running one keeps serving)."""
    return await restart_proxy(_ctx().proxy)
