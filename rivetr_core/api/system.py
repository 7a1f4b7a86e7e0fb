"""Resource history for the dashboard graphs and the CLI.

* ``GET /api/apps/{id}/metrics?range=1h`` — the app's containers (CPU %, memory, network), summed per app.
* ``GET /api/system/metrics?range=1h`` — the host (CPU %, memory, disk of the data dir, network) plus the latest
  sample.
* ``POST /api/system/cleanup`` — run the cleanup now (old images, dangling images this instance built, old
  build logs) and return its report; ``GET /api/system/cleanup`` — the last report and the cleanup settings (to
  change them: :mod:`rivetr_core.api.cleanup_settings`).
* ``GET /api/system/status`` — engine, proxy, database (with its size) and plugins, from the health check.
* ``GET /api/system/disk-usage`` — disk used per app, service and stack (images, volumes, build logs).
* ``GET /api/apps/{id}/logs?tail=100&since=&until=&q=&download=1`` — the last lines of the app's running
  container, searched (the CLI's ``rivetr logs``; following is the WebSocket ``/api/apps/{id}/logs/stream``;
  the filters are :mod:`rivetr_core.services.app_logs`).

The metrics endpoints read what the sampler stored (``[metrics] sample_interval``); they never call the container engine.
``range`` is ``<n>m|h|d`` (15m, 1h, 6h, 24h, 7d, 30d…); points are averaged into at most ``points`` buckets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.db.engine import isoformat
from rivetr_core.history.query import RANGE_PATTERN, parse_range
from rivetr_core.openapi import also_returns, responds
from rivetr_core.services import app_logs as logs_service
from rivetr_core.services.app_logs import MAX_LINES, MAX_QUERY, parse_log_time

bp = Blueprint("system_api", __name__)

Number = int | float  # kept as sampled: an int stays an int


class RangeQuery(ApiModel):
    range: str = Field(
        "1h",
        description="Time span: 15m, 1h, 6h, 24h, 7d, 30d (any <n>m|h|d up to 366d).",
        json_schema_extra={"pattern": RANGE_PATTERN},
    )
    points: int = Field(300, ge=2, le=2000, description="Maximum number of points returned.")

    @field_validator("range")
    @classmethod
    def _range(cls, v: str) -> str:
        parse_range(v)
        return v


class _Out(ApiModel):
    # Built from the sampler's dicts: a key they add that a model lacks fails loudly instead of vanishing.
    model_config = ConfigDict(extra="forbid")


class AppPoint(_Out):
    ts: str | None = Field(description="Start of the bucket (UTC).")
    cpu_percent: Number = Field(description="Average over the bucket; 100 = one CPU.")
    memory_used: Number = Field(description="Bytes, averaged.")
    memory_limit: Number = Field(description="Bytes (the last sample's); 0: unlimited.")
    net_rx: Number = Field(description="Bytes received since the container started (the last sample's).")
    net_tx: Number
    containers: Number = Field(description="Running containers of the app.")


class HostPoint(_Out):
    ts: str | None = Field(description="Start of the bucket (UTC).")
    cpu_percent: Number
    memory_used: Number = Field(description="Bytes, averaged.")
    memory_limit: Number = Field(description="Bytes of memory of the host.")
    net_rx: Number = Field(
        description="Bytes received by the host's interfaces since boot (the last sample's; a rate is the "
        "difference between two points over their time apart; 0 in samples taken before it was recorded)."
    )
    net_tx: Number = Field(description="Bytes sent; as net_rx.")
    disk_percent: Number | None = Field(description="Used space of the data dir's disk; null: not measured.")


class AppSample(_Out):
    """The app's last sample, summed over its running containers."""

    cpu_percent: Number
    memory_used: Number
    memory_limit: Number
    net_rx: Number
    net_tx: Number
    containers: Number


class NamedAppSample(AppSample):
    name: str


class HostSample(_Out):
    cpu_percent: Number
    memory_used_bytes: Number
    memory_total_bytes: Number
    disk_used_percent: Number
    disk_used_bytes: Number | None = Field(None, description="Of the data dir's disk (absent where unknown).")
    disk_total_bytes: Number | None = None
    net_rx_bytes: Number | None = Field(
        None,
        description="Received by the host's interfaces since boot (loopback, the engines' bridges and veth "
        "pairs left out; absent where unknown).",
    )
    net_tx_bytes: Number | None = None
    load1: Number | None = Field(None, description="One-minute load average (absent where unknown).")


class AppMetricsOut(_Out):
    app_id: str
    range: str
    points: list[AppPoint]
    latest: AppSample | None = Field(description="The last sample; null when no container of the app ran.")


class SystemMetricsOut(_Out):
    range: str
    points: list[HostPoint]
    latest: HostSample | None = Field(description="The last sample; null before the first.")
    apps: dict[str, NamedAppSample] = Field(description="The last sample of each app, by app id.")


class ContainerLogLineOut(_Out):
    ts: str | None
    stream: str = Field(description="stdout or stderr.")
    line: str


class CleanupReport(_Out):
    reason: str = Field(description="What started it: api, scheduled, disk...")
    images_removed: list[str] = Field(description="Old images of apps, past [cleanup] keep_images.")
    pruned_images: int = Field(description="Dangling images this instance built.")
    space_reclaimed: int = Field(description="Bytes the prune freed.")
    build_logs_removed: int
    prune_skipped: str | None = Field(description="Why the prune was skipped (a deployment ran); else null.")
    errors: list[str]
    seconds: float


class CleanupSettings(_Out):
    """The cleanup settings in effect: the config file's ``[cleanup]`` (or ``RIVETR_CLEANUP__*``) with the values
    stored from the dashboard, CLI or API over it (``GET /api/system/cleanup/settings`` says which is which)."""

    keep_images: int = Field(description="Images kept per app for rollback.")
    build_log_retention_days: int
    interval_minutes: int = Field(description="Minutes between runs.")
    disk_warning_percent: int = Field(description="Disk use that raises a disk_warning event.")
    disk_critical_percent: int = Field(description="Disk use that makes the cleanup run at once.")
    prune_build_cache: bool = Field(description="Also empty the engine's whole build cache.")
    audit_retention_days: int


class LastCleanupOut(_Out):
    report: CleanupReport | None = Field(description="Null before the first run.")
    settings: CleanupSettings


class RuntimeStatus(_Out):
    state: str = Field(description="ok, unavailable.")
    name: str = Field(
        description="The engine (docker, podman...; [runtime] runtime_type when none answered)."
    )
    version: str | None = Field(description="The engine's version; null when it does not answer.")
    error: str | None = Field(description="Why it is unavailable; else null.")


class ProxyStatus(_Out):
    state: str = Field(description="ok, unavailable, disabled ([proxy] enabled = false).")
    host: str | None = Field(description="The address it listens on; null when the backend does not say.")
    ports: list[int] = Field(description="The ports it listens on (HTTP, then HTTPS when enabled).")
    routes: int | None = Field(description="Routes it serves.")
    workers: int | None = Field(description="Worker processes.")
    workers_ready: int | None
    uptime: float | None = Field(description="Seconds since it started.")
    error: str | None


class DatabaseStatus(_Out):
    state: str = Field(description="ok, unavailable.")
    backend: str = Field(description="sqlite or postgresql.")
    size_bytes: int | None = Field(
        description="On disk (SQLite: the file with its write-ahead log); null when unknown."
    )


class PluginState(_Out):
    name: str
    status: str = Field(description="ok, disabled, failed (see error).")
    error: str | None = None


class SystemStatusOut(_Out):
    status: str = Field(description="ok, or degraded when a component is not usable (as /health).")
    version: str = Field(description="Rivetr's version.")
    runtime: RuntimeStatus
    proxy: ProxyStatus
    database: DatabaseStatus
    plugins: list[PluginState]


class UsagePart(_Out):
    count: int = Field(description="Images, volumes, or build-log lines.")
    bytes: int | None = Field(description="Their size; null when the engine cannot tell.")


class OwnerDiskUsage(_Out):
    id: str
    name: str
    images: UsagePart | None = Field(
        description="Images Rivetr built for it (each image's size counts the layers it shares with others, "
        "as `docker images` does); null for a managed service (pulled, shared images) or without an engine."
    )
    volumes: UsagePart | None = Field(description="Its engine volumes; null without an engine.")
    build_logs: UsagePart | None = Field(
        description="Apps: stored build-log lines and their characters; null for services and stacks."
    )
    total_bytes: int = Field(description="What is known of the above, summed.")


class DiskUsageOut(_Out):
    engine: str | None = Field(description="The container engine measured; null when none answered.")
    image_sizes: bool = Field(
        description="False: the runtime does not report image sizes (images counted, their bytes null)."
    )
    apps: list[OwnerDiskUsage] = Field(description="Biggest first.")
    services: list[OwnerDiskUsage]
    stacks: list[OwnerDiskUsage]
    total_bytes: int
    errors: list[str] = Field(description="What could not be measured, and why.")


def _dump(model: type[BaseModel], data: Any) -> dict[str, Any]:
    # exclude_unset: a key the sampler left out (load1 where unknown) stays out rather than becoming null.
    return model.model_validate(data).model_dump(mode="json", exclude_unset=True)


@bp.get("/api/apps/<app_id>/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
@document_response(AppMetricsOut)
async def app_metrics(app_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """The app's containers over time (CPU %, memory, network), summed per app, and its last sample; 404 for
    an unknown app."""
    data = await rivetr().services.system.app_metrics(
        app_id, parse_range(query_args.range), query_args.points
    )
    return _dump(AppMetricsOut, {**data, "range": query_args.range})


@bp.get("/api/system/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
@document_response(SystemMetricsOut)
async def system_metrics(query_args: RangeQuery) -> dict[str, Any]:
    """The host over time (CPU %, memory, disk of the data dir, network counters), its last sample and
    every app's."""
    data = await rivetr().services.system.host_metrics(parse_range(query_args.range), query_args.points)
    return _dump(SystemMetricsOut, {**data, "range": query_args.range})


class AppLogsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    tail: int = Field(
        100, ge=0, le=MAX_LINES, description=f"The last N matching lines, newest last (at most {MAX_LINES})."
    )
    since: str | None = Field(
        None,
        max_length=64,
        description="Lines at or after this time: RFC 3339 with a zone (2026-01-31T12:00:00Z) or a duration "
        "ago (30s, 10m, 2h, 7d).",
    )
    until: str | None = Field(None, max_length=64, description="Lines at or before this time; as `since`.")
    q: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_QUERY,
        description=f"Only lines containing this text, case-insensitive (searches the newest {MAX_LINES} lines).",
    )
    download: bool = Field(
        False, description="Answer text/plain as a file (`<time> <stream> <line>` per line) instead of JSON."
    )
    replica: int = Field(
        0,
        ge=0,
        le=19,
        description="Which replica's container (0, the default: the deployment's own; see GET "
        "/api/apps/{id}/replicas); 404 for one that does not run.",
    )

    @field_validator("since")
    @classmethod
    def _since(cls, v: str | None) -> str | None:
        if v is not None:
            parse_log_time(v)
        return v

    @field_validator("until")
    @classmethod
    def _until(cls, v: str | None, info: ValidationInfo) -> str | None:
        # `since` is declared first, so it is validated (or refused, and then absent here) already.
        if v is None:
            return v
        until, since = parse_log_time(v), info.data.get("since")
        if since is not None and until < parse_log_time(since):
            raise ValueError("must not be before since")
        return v


@bp.get("/api/apps/<app_id>/logs")
@responds(409, 503)
@tag(["apps"])
@validate_querystring(AppLogsQuery)
@document_response(list[ContainerLogLineOut])
@also_returns("text/plain", "With ?download=1: the lines as a file, `<time> <stream> <line>` each.")
async def app_logs(app_id: str, query_args: AppLogsQuery) -> list[dict[str, Any]] | Response:
    """The app's running container's output: the last ``tail`` lines, optionally within ``since``..``until``
    and containing ``q``; ``?download=1`` answers them as a text file. 404 unknown app, 409 ``no_container``:
    nothing runs, 422 a bad time or window."""
    ctx = rivetr()
    args = query_args
    entries = await logs_service.app_logs(
        ctx,
        app_id,
        since=parse_log_time(args.since) if args.since else None,
        until=parse_log_time(args.until) if args.until else None,
        q=args.q,
        tail=args.tail,
        replica=args.replica,
    )
    if args.download:
        app, _domains = await ctx.services.apps.get(app_id)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Response(
            logs_service.as_text(entries),
            mimetype="text/plain",
            headers={"Content-Disposition": f'attachment; filename="{app.name}-{stamp}.log"'},
        )
    return [
        ContainerLogLineOut(ts=isoformat(entry.ts), stream=entry.stream, line=entry.line).model_dump()
        for entry in entries
    ]


@bp.post("/api/system/cleanup")
@responds(503)
@tag(["system"])
@document_response(CleanupReport)
async def run_cleanup() -> dict[str, Any]:
    """Run the cleanup now and return its report. Keeps ``[cleanup] keep_images`` per app; ``pruned_images``
    counts the dangling images this instance built (other programs' are never touched; the engine's build
    cache only with ``[cleanup] prune_build_cache``). The prune is skipped while a deployment runs
    (``prune_skipped`` says so, null otherwise)."""
    return _dump(CleanupReport, await rivetr().services.system.cleanup_now())


@bp.get("/api/system/cleanup")
@tag(["system"])
@document_response(LastCleanupOut)
async def last_cleanup() -> dict[str, Any]:
    """The report of the last cleanup run (``report`` null before the first) and the settings it runs with (the
    config file's ``[cleanup]`` with the values stored over it: ``/api/system/cleanup/settings``)."""
    system = rivetr().services.system
    return _dump(LastCleanupOut, {"report": system.last_cleanup(), "settings": system.cleanup_settings()})


@bp.get("/api/system/status")
@tag(["system"])
@document_response(SystemStatusOut)
async def system_status() -> dict[str, Any]:
    """The server's components: the container engine (name, version, reachable), the proxy (listening
    address and ports, routes, workers), the database (backend, size on disk) and every plugin's state. Read
    from the shared health check (``/health``), so it never probes more often than that."""
    return _dump(SystemStatusOut, await rivetr().services.system.status())


@bp.get("/api/system/disk-usage")
@tag(["system"])
@document_response(DiskUsageOut)
async def disk_usage() -> dict[str, Any]:
    """Disk used per app (its images, volumes and build logs), managed service (volumes) and compose stack
    (built images, volumes), biggest first; only the caller's team's. Measured through the container engine
    at each call (one image listing, one volume listing per owner): a page's load, not a monitor's poll."""
    return _dump(DiskUsageOut, await rivetr().services.system.disk_usage())
