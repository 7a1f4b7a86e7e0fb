"""The steps of a rolling update of replicas (rivetr_core.engine.rollout_plan): pure logic, no engine."""

from __future__ import annotations

import pytest

from rivetr_core.contract.errors import ValidationFailed
from rivetr_core.engine.rollout_plan import Step, check_app_fields, check_settings, describe, plan


def walk(replicas: int, old: int, surge: int, unavailable: int) -> list[tuple[int, int]]:
    """(old, new) serving after each step, checking the invariants of every step on the way."""
    states = []
    serving_old, new = old, 0
    for step in plan(replicas, old, surge, unavailable):
        if step.action == "start":
            assert step.new - new == step.count and step.old == serving_old
            # never more than replicas + max_surge containers (nor more than already ran, when over)
            assert step.old + step.new <= max(replicas + min(surge, replicas), serving_old + new)
        else:
            assert serving_old - step.old == step.count and step.new == new
            if step.new < replicas:  # before all new ones serve: the floor holds (unless it never held)
                floor = replicas - min(unavailable, replicas)
                assert step.old + step.new >= min(floor, serving_old + new)
        serving_old, new = step.old, step.new
        states.append((serving_old, new))
    assert (serving_old, new) == (0, replicas)
    return states


def test_surge_one_unavailable_zero_replaces_one_at_a_time() -> None:
    steps = plan(3, 3, 1, 0)
    assert steps == [
        Step("start", 1, 3, 1),
        Step("stop", 1, 2, 1),
        Step("start", 1, 2, 2),
        Step("stop", 1, 1, 2),
        Step("start", 1, 1, 3),
        Step("stop", 1, 0, 3),
    ]
    assert describe(steps) == "start 1, stop 1, start 1, stop 1, start 1, stop 1"


def test_unavailable_only_stops_before_it_starts() -> None:
    assert plan(3, 3, 0, 1) == [
        Step("stop", 1, 2, 0),
        Step("start", 1, 2, 1),
        Step("stop", 1, 1, 1),
        Step("start", 1, 1, 2),
        Step("stop", 1, 0, 2),
        Step("start", 1, 0, 3),
    ]


def test_big_surge_starts_all_then_stops_all() -> None:
    assert plan(3, 3, 3, 0) == [Step("start", 3, 3, 3), Step("stop", 3, 0, 3)]


def test_surge_and_unavailable_together() -> None:
    assert plan(4, 4, 2, 1)[:2] == [Step("start", 2, 4, 2), Step("stop", 3, 1, 2)]


@pytest.mark.parametrize("replicas", [1, 2, 3, 5, 20])
@pytest.mark.parametrize("old", [1, 2, 3, 7])
@pytest.mark.parametrize(("surge", "unavailable"), [(1, 0), (0, 1), (2, 0), (1, 1), (3, 2), (20, 0), (0, 20)])
def test_every_plan_ends_with_all_new_and_keeps_its_bounds(
    replicas: int, old: int, surge: int, unavailable: int
) -> None:
    walk(replicas, old, surge, unavailable)


def test_scaling_up_and_down_during_a_rollout() -> None:
    assert walk(3, 1, 1, 0)[0] == (1, 3)  # one old: 3 new fit under 3 + 1
    assert walk(2, 5, 1, 0)[0] == (2, 0)  # more old than allowed: stop down to the floor first


def test_settings_checks_name_the_field() -> None:
    check_settings(1, 0, 1)
    check_settings(0, 3, 3)
    with pytest.raises(ValueError, match="both be 0"):
        check_settings(0, 0, 3)
    check_settings(4, 9, 3)  # above the replicas counts as the replicas
    assert plan(3, 3, 4, 9) == plan(3, 3, 3, 3)
    with pytest.raises(ValueError) as info:
        check_settings(1, -1, 3)
    assert info.value.args[0] == "max_unavailable"
    with pytest.raises(ValueError):
        check_settings(True, 0, 3)


def test_app_fields_combine_with_the_stored_app() -> None:
    class Old:
        replicas, max_surge, max_unavailable = 3, 2, 0

    check_app_fields({"name": "x"}, Old())  # nothing to check
    check_app_fields({"replicas": 1}, Old())  # above the replicas counts as the replicas
    with pytest.raises(ValidationFailed) as info:
        check_app_fields({"max_surge": 0}, Old())  # with the stored max_unavailable 0: both 0
    assert info.value.details[0]["field"] == "max_surge"
    with pytest.raises(ValidationFailed):
        check_app_fields({"max_surge": 0})  # a new app: max_unavailable defaults to 0
    check_app_fields({"max_surge": 2})
