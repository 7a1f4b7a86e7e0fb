"""The steps of a rolling update of a replicated app (issue 23), as pure logic the rollout and its tests share.

An app with ``N`` replicas is replaced ``max_surge`` new containers at a time while at least
``N - max_unavailable`` containers keep serving (Kubernetes' Deployment semantics):

* a *start* step starts up to ``max_surge`` new replicas beyond ``N`` in total, health-gates each and adds them
  to the routes;
* a *stop* step takes old replicas out of the routes, drains and stops them, as many as keep
  ``N - max_unavailable`` serving; once all ``N`` new ones serve, every old one left goes.

Both settings are clamped to ``N`` here (as Kubernetes does): a value above the replica count means "all of
them", so a scale below it (``POST /api/apps/{id}/scale``) never makes a plan impossible nor rewrites the
settings, and the API accepts it. The API refuses negative values and both at 0 (:func:`check_settings`).
No imports beyond the standard library: the apps service validates with it on every settings edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_MAX_SURGE, DEFAULT_MAX_UNAVAILABLE = 1, 0


@dataclass(frozen=True)
class Step:
    """``start`` ``count`` new replicas, or ``stop`` ``count`` old ones; ``old``/``new``: serving after it."""

    action: Literal["start", "stop"]
    count: int
    old: int
    new: int


def check_settings(max_surge: Any, max_unavailable: Any, replicas: int) -> None:
    """Raise ``ValueError(field, message)`` for settings no rollout can follow: each an integer of at least 0,
    and not both 0 (nothing could start nor stop). A value above ``replicas`` counts as ``replicas``."""
    for field, value in (("max_surge", max_surge), ("max_unavailable", max_unavailable)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(field, "must be an integer of at least 0")
    if max_surge == 0 and max_unavailable == 0:
        raise ValueError(
            "max_surge", "max_surge and max_unavailable cannot both be 0 (the rollout could not move)"
        )


def next_step(replicas: int, old: int, new: int, max_surge: int, max_unavailable: int) -> Step | None:
    """The next step from ``old`` old and ``new`` new replicas serving, or None when the rollout is done.

    Starting comes first (it never lowers capacity); stopping takes as many old ones as the floor allows, and
    all of them once the ``N`` new ones serve."""
    surge, unavailable = min(max_surge, replicas), min(max_unavailable, replicas)
    if surge == 0 and unavailable == 0:
        surge = 1  # refused by the API; a plan must still end
    if new < replicas:
        start = min(replicas - new, replicas + surge - old - new)
        if start > 0:
            return Step("start", start, old, new + start)
    if old == 0:
        return None
    stop = old if new >= replicas else min(old, old + new - (replicas - unavailable))
    if stop <= 0:
        raise AssertionError(f"rollout stuck at old={old} new={new} (N={replicas}, {surge}/{unavailable})")
    return Step("stop", stop, old - stop, new)


def plan(replicas: int, old: int, max_surge: int, max_unavailable: int) -> list[Step]:
    """Every step of a rollout from ``old`` serving replicas to ``replicas`` new ones (when all go well)."""
    steps: list[Step] = []
    new = 0
    while (step := next_step(replicas, old, new, max_surge, max_unavailable)) is not None:
        steps.append(step)
        old, new = step.old, step.new
    return steps


def describe(steps: list[Step]) -> str:
    """One line for the deployment log: ``start 1, stop 1, start 1, ...``."""
    return ", ".join(f"{s.action} {s.count}" for s in steps) or "nothing to do"


def check_app_fields(fields: dict[str, Any], old: Any = None) -> None:
    """The apps service's check of a create or update (``old``: the app before it, None for a create): the
    rollout settings together with the replica count they are bounded by, as ``ValidationFailed`` naming the
    field. Nothing to check when none of the three is given."""
    if old is not None and not {"replicas", "max_surge", "max_unavailable"} & fields.keys():
        return
    from rivetr_core.contract.errors import ValidationFailed

    def value(key: str, default: int) -> Any:
        return fields.get(key, getattr(old, key, default) if old is not None else default)

    try:
        check_settings(
            value("max_surge", DEFAULT_MAX_SURGE),
            value("max_unavailable", DEFAULT_MAX_UNAVAILABLE),
            value("replicas", 1),
        )
    except ValueError as exc:
        field, message = exc.args
        raise ValidationFailed.on(field, message) from None
