"""Compose ``deploy.restart_policy`` on swarm: the service's ``RestartPolicy`` (no engine)."""

from __future__ import annotations

import rivetr_runtime_swarm.servicespec as ss

from rivetr_core.contract import RunSpec


def test_delay_max_attempts_and_window_reach_the_restart_policy_in_nanoseconds() -> None:
    spec = RunSpec(
        image="x",
        name="a",
        restart_policy="on-failure",
        restart_max_attempts=3,
        restart_delay=5.0,
        restart_window=90.0,
    )
    policy = ss.service_spec(spec, "sha256:abc", replicas=1)["TaskTemplate"]["RestartPolicy"]
    assert policy == {
        "Condition": "on-failure",
        "Delay": 5_000_000_000,
        "MaxAttempts": 3,
        "Window": 90_000_000_000,
    }


def test_without_them_the_policy_is_the_one_it_was() -> None:
    policy = ss.restart_policy(RunSpec(image="x", name="a", restart_policy="always"))
    assert policy == {"Condition": "any", "Delay": 1_000_000_000}
