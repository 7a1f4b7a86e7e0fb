"""An app's builder and health check, chosen by name: what the API accepts and how it is stored.

``builder`` is ``"auto"`` (every installed builder's ``detect()`` in priority order) or the name of an installed
builder, which is then the only one asked. ``health_check`` is ``{"kind": <name>, ...options}``:

* ``http`` — ``path``, ``status`` (expected; null: any 2xx/3xx);
* ``tcp`` — connect to the app port; no options of its own;
* ``command`` — ``command``: an argv list run inside the container with the runtime's exec, healthy on exit 0;
* any other installed health check — free-form JSON options handed to it as :attr:`HealthTarget.options`
  (``path``/``status`` too, when given).

Every kind also takes ``timeout`` (seconds per attempt), ``retries`` (attempts) and ``interval`` (longest pause).

Storage keeps the fields apps had before selection existed: ``path``/``status``/``timeout``/``retries``/
``interval`` live in the ``healthcheck_*`` columns (so the old API fields keep working and map onto the
same values); the ``health_check`` JSON column holds the kind and the other options. Pure functions, no Quart:
the API, the CLI paths and the pipeline share them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from rivetr_core.contract import unavailable_reason

BUILTIN_KINDS = ("http", "tcp", "command")
AUTO_BUILDER = "auto"
DEFAULT_HEALTH_CHECK: dict[str, Any] = {"kind": "http"}

#: Option of ``health_check`` → the App column that stores it.
COLUMN_OF = {
    "path": "healthcheck_path",
    "status": "healthcheck_status",
    "timeout": "healthcheck_timeout",
    "retries": "healthcheck_retries",
    "interval": "healthcheck_interval",
}
_COMMON = ("timeout", "retries", "interval")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_OPTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_OPTIONS_BYTES = 8192
MAX_COMMAND_ARGS = 64
MAX_COMMAND_BYTES = 8192


class SelectionError(ValueError):
    """A builder or health check the app cannot use. ``field`` is the API field, ``available`` the installed
    names when the problem is an unknown name."""

    def __init__(self, field: str, message: str, available: Collection[str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.available = sorted(available) if available is not None else None


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{what} must be a registered name: 1-100 of letters, digits, '.', '_', '-'")
    return value


def _number(value: Any, key: str, *, integer: bool, low: float, high: float, low_open: bool) -> Any:
    if integer and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integer, and pydantic's int fields, take 3.0 as 3
    ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type:
        raise ValueError(f"{key}: must be {'a whole number' if integer else 'a number'}")
    if (value <= low if low_open else value < low) or value > high:
        raise ValueError(
            f"{key}: must be {'more than' if low_open else 'at least'} {low:g} and at most {high:g}"
        )
    return value


def _command(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise ValueError('command: must be a non-empty list of strings, e.g. ["sh", "-c", "test -f /ready"]')
    if len(value) > MAX_COMMAND_ARGS or sum(len(a) for a in value) > MAX_COMMAND_BYTES:
        raise ValueError(f"command: at most {MAX_COMMAND_ARGS} arguments and {MAX_COMMAND_BYTES} characters")
    if not value[0].strip() or any("\x00" in a for a in value):
        raise ValueError("command: the program must not be empty and no argument may contain NUL")
    return list(value)


def parse_health_check(value: Any) -> dict[str, Any]:
    """Check the shape of a ``health_check`` object (the installed names are checked by
    :func:`check_installed`); returns it normalised. Raises ``ValueError`` with a message naming the option."""
    if not isinstance(value, Mapping):
        raise ValueError('must be an object like {"kind": "http", "path": "/health"}')
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise ValueError(
            'kind: required, the name of a health check ("http", "tcp", "command" or a plugin\'s)'
        )
    check_name(kind, "kind")
    out: dict[str, Any] = {"kind": kind}
    for key, option in value.items():
        if key == "kind":
            continue
        if not isinstance(key, str) or not _OPTION.match(key):
            raise ValueError(f"{key!r}: option names are letters, digits and '_'")
        if key == "timeout":
            out[key] = _number(option, key, integer=False, low=0, high=120, low_open=True)
        elif key == "retries":
            out[key] = _number(option, key, integer=True, low=1, high=1000, low_open=False)
        elif key == "interval":
            out[key] = _number(option, key, integer=False, low=0, high=60, low_open=True)
        elif key in ("path", "status") and kind in ("tcp", "command"):
            raise ValueError(f"{key}: the {kind} check takes no {key} (only http and plugin checks do)")
        elif key == "path":
            if (
                not isinstance(option, str)
                or not option.startswith("/")
                or len(option) > 500
                or any(ch.isspace() or ord(ch) < 32 for ch in option)
            ):
                raise ValueError("path: must be a URL path starting with '/' and without spaces")
            out[key] = option
        elif key == "status":
            if option is not None:
                _number(option, key, integer=True, low=100, high=599, low_open=False)
            out[key] = option
        elif key == "command" and kind == "command":
            out[key] = _command(option)
        elif kind in BUILTIN_KINDS:
            allowed = {"http": "path, status", "tcp": "none", "command": "command"}[kind]
            raise ValueError(
                f"{key}: not an option of the {kind} check (its options: {allowed}; every check: "
                "timeout, retries, interval)"
            )
        else:
            out[key] = option
    if kind == "command" and "command" not in out:
        raise ValueError('command: required for the command check, e.g. ["sh", "-c", "test -f /ready"]')
    extra = {k: v for k, v in out.items() if k != "kind" and k not in COLUMN_OF}
    try:
        size = len(json.dumps(extra))
    except (TypeError, ValueError):
        raise ValueError("options must be JSON values") from None
    if size > MAX_OPTIONS_BYTES:
        raise ValueError(f"options must be at most {MAX_OPTIONS_BYTES} bytes of JSON")
    return out


def check_installed(
    builder: str | None,
    health_kind: str | None,
    builders: Mapping[str, object],
    health_checks: Collection[str],
) -> None:
    """Raise :class:`SelectionError` (listing what is installed) for a name no plugin registered, and for a
    builder that is installed but cannot run here (``builders``: name → registration, see
    :func:`rivetr_core.contract.unavailable_reason`)."""
    if builder is not None and builder != AUTO_BUILDER:
        if builder not in builders:
            raise SelectionError(
                "builder",
                f"no builder named {builder!r} is installed (available: "
                f"{', '.join([AUTO_BUILDER, *sorted(builders)])})",
                [AUTO_BUILDER, *builders],
            )
        reason = unavailable_reason(builders[builder])
        if reason:
            raise SelectionError("builder", f"the {builder} builder is unavailable: {reason}", None)
    if health_kind is not None and health_kind not in health_checks:
        raise SelectionError(
            "health_check.kind",
            f"no health check named {health_kind!r} is installed (available: "
            f"{', '.join(sorted(health_checks)) or 'none'})",
            health_checks,
        )


def split_health_check(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(columns, stored)``: the options kept in the ``healthcheck_*`` columns, and the JSON of the rest."""
    columns = {COLUMN_OF[k]: v for k, v in spec.items() if k in COLUMN_OF}
    stored = {k: v for k, v in spec.items() if k not in COLUMN_OF}
    return columns, stored


def merge_legacy(fields: dict[str, Any]) -> None:
    """Fold an API body's ``health_check`` into ``fields`` as column values plus the stored JSON, in place.

    The old top-level fields (``healthcheck_path`` ...) and ``health_check``'s options set the same columns;
    when a body gives both, ``health_check``'s option wins (one rule a JSON Schema can state)."""
    spec = fields.pop("health_check", None)
    if spec is None:
        return
    columns, stored = split_health_check(spec)
    fields.update(columns)
    fields["health_check"] = stored


def health_check_json(app: Any) -> dict[str, Any]:
    """The app's ``health_check`` as the API shows it: the kind, its options and the common settings."""
    stored = dict(app.health_check or DEFAULT_HEALTH_CHECK)
    kind = stored.get("kind", "http")
    out: dict[str, Any] = {"kind": kind}
    if kind not in ("tcp", "command"):
        out["path"], out["status"] = app.healthcheck_path, app.healthcheck_status
    out.update({k: v for k, v in stored.items() if k != "kind"})
    out.update(
        timeout=app.healthcheck_timeout, retries=app.healthcheck_retries, interval=app.healthcheck_interval
    )
    return out


def health_options(app: Any) -> dict[str, Any]:
    """The kind-specific options a check receives (:attr:`HealthTarget.options`)."""
    return {k: v for k, v in health_check_json(app).items() if k not in ("kind", *_COMMON)}


def health_kind(app: Any) -> str:
    return str((app.health_check or DEFAULT_HEALTH_CHECK).get("kind", "http"))
