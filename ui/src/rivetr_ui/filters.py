"""Jinja filters: relative times, durations, sizes, the step list of a deployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rivetr_core.readmodels import isoformat, redact

from .blueprint import bp

PIPELINE_STEPS = ("clone", "build", "release", "start", "health", "switch", "drain", "post_deploy")
ROLLBACK_STEPS = ("release", "start", "health", "switch", "drain", "post_deploy")
#: Steps that run only when the app has the command: shown once a deployment reached them.
OPTIONAL_STEPS = ("release", "post_deploy")
ACTIVE = ("queued", "cloning", "building", "starting", "health_checking", "switching")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.app_template_filter("ago")
def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - _aware(value)).total_seconds())
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@bp.app_template_filter("iso")
def iso(value: datetime | None) -> str:
    return isoformat(value) or ""


@bp.app_template_filter("duration")
def duration(ms: Any) -> str:
    if ms is None:
        return ""
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {int(ms % 60_000 / 1000)} s"


@bp.app_template_filter("size")
def size_text(value: Any) -> str:
    """Bytes as the short size an input accepts back (``1g``, ``512m``, ``64k``); None → ``""``, 0 → ``0``."""
    if value is None:
        return ""
    value = int(value)
    for unit, factor in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if value and value % factor == 0:
            return f"{value // factor}{unit}"
    return str(value)


@bp.app_template_filter("bytes")
def human_bytes(value: Any) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def step_view(dep: Any) -> list[dict[str, Any]]:
    """Each pipeline step of a deployment: state (done / current / failed / pending) and duration.

    The pipeline records when each step started and finished, not whether it failed: when the deployment
    failed (or was cancelled), the last step that started is the one that stopped it.
    """
    steps = dep.steps or {}
    names = [
        n
        for n in (ROLLBACK_STEPS if dep.rollback_of else PIPELINE_STEPS)
        if n not in OPTIONAL_STEPS or n in steps
    ]
    started = [n for n in names if (steps.get(n) or {}).get("started_at")]
    culprit = started[-1] if started and dep.status in ("failed", "cancelled") else None
    out = []
    for name in names:
        info = steps.get(name) or {}
        if name == culprit:
            state = "failed"
        elif info.get("finished_at"):
            state = "done"
        elif info.get("started_at"):
            state = "current" if dep.status in ACTIVE else "failed"
        else:
            state = "pending"
        out.append({"name": name, "state": state, "duration_ms": info.get("duration_ms")})
    return out


bp.add_app_template_global(step_view, "step_view")


@bp.app_template_filter("redact")
def redact_url(value: str | None) -> str:
    """Git URLs may embed ``user:password@``: never render that part."""
    return redact(value or "")


@bp.app_template_filter("who")
def who(principal: str | None) -> str:
    """A principal as the audit log names it (``user:alice``, ``token:alice/ci``, ``admin``), for people."""
    if not principal:
        return ""
    kind, _, name = principal.partition(":")
    if kind == "user" and name:
        return name
    if kind == "token" and name:
        owner, _, token = name.rpartition("/")
        return f"token {token} ({owner})" if owner else f"token {token}"
    return "the admin token" if principal == "admin" else principal
