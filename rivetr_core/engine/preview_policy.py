"""What a pull request's preview takes from the ``rivetr.toml`` of the PR's head (issue 24's preview policy).

A preview app applies its head's file like a deployment applies the app's, within the rules of :data:`POLICY`:
a fork's code is untrusted, so its file may not reach outside the preview app (the server's volumes and
binds, the project's services, scheduled containers, backup destinations, another source) nor raise the
preview's limits above the base app's (or the ``[previews] fork_build_*`` caps); and no preview takes the
file's routing, since a preview is served at its own ``pr-<n>`` preview domain. What a rule leaves out is
logged and the rest applies: a file written for production still deploys its previews.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rivetr_core.config import PreviewsConfig, RuntimeConfig
    from rivetr_core.models.apps import App

Rule = Literal["apply", "drop", "cap"]

#: By key of the file: (same-repository PR, fork's PR, why). ``apply``: as the app's own deployment does;
#: ``drop``: ignored, with a log line; ``cap``: applied unless it raises the base app's value (or a fork build
#: cap). A key not listed applies for both. docs/config-as-code.md shows this table (docs/gen_iac.py).
POLICY: dict[str, tuple[Rule, Rule, str]] = {
    "domains": ("drop", "drop", "a preview is served at its own pr-<n> preview domain"),
    "route_settings": ("drop", "drop", "settings of the app's domains, which a preview does not have"),
    "auto_domain": ("drop", "drop", "a preview gets no generated name either"),
    "hsts": ("drop", "drop", "preview hosts come and go"),
    "git_settings": ("drop", "drop", "a preview follows its pull request: no pushes, no previews of its own"),
    "volumes": ("apply", "drop", "engine volumes and directories of the server"),
    "links": ("apply", "drop", "the project's databases and caches"),
    "tasks": ("apply", "drop", "scheduled containers outside the deployment"),
    "backups": ("apply", "drop", "the server's backup destinations and their credentials"),
    "source": ("apply", "drop", "a fork's preview builds the pull request's head, nothing else"),
    "git_url": ("apply", "drop", "the preview app clones the fork's repository"),
    "branch": ("apply", "drop", "the preview app clones the pull request's branch"),
    "git_token_user": ("apply", "drop", "a fork's preview clones without the app's credentials"),
    "cpu_limit": ("apply", "cap", "not above the base app's, nor [previews] fork_build_cpu_limit"),
    "memory_limit": ("apply", "cap", "not above the base app's, nor [previews] fork_build_memory_limit"),
    "pids_limit": ("apply", "cap", "not above the base app's"),
    "log_max_size": ("apply", "cap", "not above the base app's"),
    "log_max_files": ("apply", "cap", "not above the base app's"),
    "replicas": ("apply", "cap", "not above the base app's"),
}

_LIMIT_OF = {  # a capped key -> the HostLimits attribute it sets (replicas: the app's own count)
    "cpu_limit": "cpu",
    "memory_limit": "memory",
    "pids_limit": "pids",
    "log_max_size": "log_max_size",
    "log_max_files": "log_max_files",
}


@dataclass
class Filtered:
    """The file's keys a preview applies (``kept``) and the log lines of those it ignores."""

    kept: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _ceiling(value: float | int | None) -> float:
    """A limit's value where None and 0 (no limit) are the highest."""
    return math.inf if not value else float(value)


def _raises(
    key: str, value: Any, preview: App, base: App, runtime: RuntimeConfig, previews: PreviewsConfig
) -> bool:
    """Whether ``key = value`` lifts the preview above the base app's effective limit or a fork build cap."""
    if key == "replicas":
        return int(value) > base.replicas
    from .limits import effective_limits

    # A plain copy of the five limit fields: the preview app is a session's row, never edited here.
    candidate = SimpleNamespace(**{**{name: getattr(preview, name) for name in _LIMIT_OF}, key: value})
    attr = _LIMIT_OF[key]
    wanted = _ceiling(getattr(effective_limits(candidate, runtime), attr))  # type: ignore[arg-type]
    allowed = _ceiling(getattr(effective_limits(base, runtime), attr))
    caps = {"cpu": previews.fork_build_cpu_limit, "memory": previews.fork_build_memory_limit}
    return wanted > min(allowed, _ceiling(caps.get(attr)))


def filter_for_preview(
    document: dict[str, Any],
    *,
    fork: bool,
    preview: App,
    base: App,
    runtime: RuntimeConfig,
    previews: PreviewsConfig,
    prefix: str = "rivetr.toml",
) -> Filtered:
    """``document`` (the file's set keys) less what :data:`POLICY` keeps from a preview."""
    out = Filtered(kept={})
    who = "a fork's preview" if fork else "a pull request's preview"
    for key, value in document.items():
        same, forked, _why = POLICY.get(key, ("apply", "apply", ""))
        rule = forked if fork else same
        if rule == "cap" and not _raises(key, value, preview, base, runtime, previews):
            rule = "apply"
        if rule == "apply":
            out.kept[key] = value
            continue
        out.ignored.append(key)
        out.lines.append(f"{prefix}: {key} ignored for {who} (preview policy)")
    return out
