"""Compose ``deploy.restart_policy`` ``max_attempts``, ``delay`` and ``window``: parsed (durations in compose's
``5s`` form), bad values refused naming the field, carried into the RunSpec, and the deployer's warning when the
runtime has no delay/window (docker, podman). The engines' mappings: plugins/runtime-docker/tests/
test_restart_retries.py and plugins/runtime-swarm/tests/test_restart_policy_spec.py."""

from __future__ import annotations

from typing import Any

import pytest

from rivetr_core.compose import load_compose
from rivetr_core.compose.model import ComposeProject, ServiceSpec
from rivetr_core.stacks.restart_limits import ignored_restart_timing
from rivetr_core.stacks.runspec import run_spec
from rivetr_core.testing.fake_runtime import FakeRuntime
from tests.compose import refused_fields, stack_context


def _service(policy: str) -> ServiceSpec:
    text = f"services:\n  a:\n    image: x\n    deploy: {{restart_policy: {policy}}}\n"
    return load_compose(text, env={}).services["a"]


def test_max_attempts_delay_and_window_are_parsed() -> None:
    spec = _service("{condition: on-failure, max_attempts: 3, delay: 5s, window: 1m30s}")
    assert spec.restart == "on-failure"
    assert (spec.restart_max_attempts, spec.restart_delay, spec.restart_window) == (3, 5.0, 90.0)
    assert _service("{max_attempts: 0, delay: 500ms}").restart_delay == 0.5


def test_without_them_nothing_is_set_and_the_config_hash_is_the_one_it_was() -> None:
    spec = _service("{condition: any}")
    assert (spec.restart_max_attempts, spec.restart_delay, spec.restart_window) == (None, None, None)
    # A service that names none of them must not be recreated by the upgrade that added them.
    before = ServiceSpec(name="a", image="x", restart="always")
    assert spec.config_hash() == before.config_hash()
    limited = _service("{condition: any, max_attempts: 2}")
    assert limited.config_hash() != spec.config_hash()


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ("{max_attempts: -1}", "services.a.deploy.restart_policy.max_attempts"),
        ("{delay: soon}", "services.a.deploy.restart_policy.delay"),
        ("{window: 5x}", "services.a.deploy.restart_policy.window"),
    ],
)
def test_bad_values_are_refused_naming_the_field(policy: str, field: str) -> None:
    assert refused_fields(lambda: _service(policy)) == [field]


def test_they_reach_the_run_spec() -> None:
    spec = _service("{condition: on-failure, max_attempts: 4, delay: 2s, window: 10s}")
    ctx = stack_context()
    run = run_spec(ctx, spec, image="x", replica=0, config_hash="h", routed_port=None)
    assert run.restart_policy == "on-failure"
    assert (run.restart_max_attempts, run.restart_delay, run.restart_window) == (4, 2.0, 10.0)


class _Cluster(FakeRuntime):
    """What core recognises as a cluster runtime (swarm): it has the node methods."""

    async def nodes(self) -> list[Any]:
        return []

    async def update_node(self, node_id: str, **changes: Any) -> Any:
        raise NotImplementedError


def test_the_deployer_warns_when_the_engine_has_no_delay_or_window() -> None:
    project = ComposeProject(
        services={
            "a": _service("{delay: 5s, window: 1m}"),
            "b": _service("{condition: on-failure, max_attempts: 3}"),
        }
    )
    assert ignored_restart_timing(FakeRuntime(), project) == [  # type: ignore[arg-type]
        "[a] deploy.restart_policy delay and window ignored: this engine has no equivalent (docs/compose.md)"
    ]
    assert ignored_restart_timing(_Cluster(), project) == []  # type: ignore[arg-type]
