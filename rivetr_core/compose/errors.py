"""The one error a compose file can cause: :class:`ComposeError` (HTTP 422, code ``invalid_compose``).

``details`` is a list of problems, each ``{"field": "services.web.ports[0]", "message": ...}`` plus
``service``, ``line``, ``column`` and ``variable`` where they apply, so the dashboard can point at the line and
the CLI can print every problem at once instead of one per attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rivetr_core.contract.errors import ValidationFailed

# How many problems the one-line message names; the rest are only in ``details``.
_MESSAGE_NAMES = 3


def problem(field: str | None, message: str, *, service: str | None = None, **extra: Any) -> dict[str, Any]:
    """One ``details`` entry. ``service`` is derived from a ``services.<name>...`` field when not given."""
    entry: dict[str, Any] = {"field": field, "message": message}
    if service is None and field and field.startswith("services."):
        service = field.split(".", 2)[1].split("[", 1)[0]
    if service is not None:
        entry["service"] = service
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


class ComposeError(ValidationFailed):
    """A compose file Rivetr cannot accept: bad YAML, a schema violation, an unsupported key, a semantic
    error (unknown dependency, cycle, port clash, bind outside the allowed roots...)."""

    code = "invalid_compose"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message, details=details if details is not None else [], code=code)

    @classmethod
    def of(cls, problems: Sequence[dict[str, Any]], *, prefix: str = "invalid compose file") -> ComposeError:
        """One error carrying every problem; its message names the first few."""
        named = [f"{p['field']}: {p['message']}" if p.get("field") else p["message"] for p in problems]
        text = "; ".join(named[:_MESSAGE_NAMES])
        if len(named) > _MESSAGE_NAMES:
            text += f" (and {len(named) - _MESSAGE_NAMES} more)"
        return cls(f"{prefix}: {text}" if prefix else text, details=list(problems))

    @classmethod
    def one(cls, field: str | None, message: str, **extra: Any) -> ComposeError:
        return cls.of([problem(field, message, **extra)])
