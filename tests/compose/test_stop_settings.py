"""Compose ``init``, ``stop_signal`` and ``stop_grace_period``: parsed (signals by name, short name or number;
durations in compose's ``1m30s`` form), bad values refused naming the field, carried into the RunSpec, and a
service naming none of them keeps the config hash it had before they were supported (no recreation on upgrade).
What the engines do with them: the runtime contract (rivetr_core/testing/contract.py, stop settings) and
plugins/runtime-swarm/tests/test_servicespec.py."""

from __future__ import annotations

import pytest

from rivetr_core.compose import load_compose
from rivetr_core.compose.model import ServiceSpec
from rivetr_core.stacks.runspec import run_spec
from tests.compose import refused_fields, stack_context


def _service(extra: str) -> ServiceSpec:
    text = f"services:\n  a:\n    image: x\n    command: [sh, -c, 'exec httpd']\n    restart: always\n{extra}"
    return load_compose(text, env={}).services["a"]


def test_they_are_parsed_and_a_signal_is_kept_by_its_full_name() -> None:
    spec = _service("    init: true\n    stop_signal: QUIT\n    stop_grace_period: 1m30s\n")
    assert (spec.init, spec.stop_signal, spec.stop_grace_period) == (True, "SIGQUIT", 90.0)
    assert _service("    stop_signal: SIGINT\n").stop_signal == "SIGINT"
    assert _service('    stop_signal: "15"\n').stop_signal == "SIGTERM"
    assert _service("    stop_grace_period: 500ms\n").stop_grace_period == 0.5
    assert (_service("").init, _service("").stop_signal, _service("").stop_grace_period) == (
        False,
        None,
        None,
    )


def test_without_them_the_config_hash_is_the_one_it_was() -> None:
    # Computed before the three keys existed (at 0da0cd2): an upgrade must not recreate the service.
    assert _service("").config_hash("sha256:abc") == (
        "eae7f97d1071a0b57101c4e4b32f13a46746387caa7ac9a346f7ccbc1f9184a3"
    )
    hashes = {
        _service(extra).config_hash("sha256:abc")
        for extra in ("", "    init: true\n", "    stop_signal: QUIT\n", "    stop_grace_period: 3s\n")
    }
    assert len(hashes) == 4  # each one changes what runs: the service is recreated


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    stop_signal: SIGNOPE\n", "services.a.stop_signal"),
        ("    stop_signal: 99\n", "services.a.stop_signal"),
        ("    stop_grace_period: soon\n", "services.a.stop_grace_period"),
        ("    stop_grace_period: -5s\n", "services.a.stop_grace_period"),
    ],
)
def test_bad_values_are_refused_naming_the_field(extra: str, field: str) -> None:
    assert refused_fields(lambda: _service(extra)) == [field]


def test_init_must_be_a_boolean() -> None:
    assert refused_fields(lambda: _service("    init: sometimes\n")) == ["services.a.init"]


def test_they_reach_the_run_spec() -> None:
    ctx = stack_context()
    spec = _service("    init: true\n    stop_signal: SIGUSR1\n    stop_grace_period: 2s\n")
    run = run_spec(ctx, spec, image="x", replica=0, config_hash="h", routed_port=None)
    assert (run.init, run.stop_signal, run.stop_timeout) == (True, "SIGUSR1", 2.0)
    plain = run_spec(ctx, _service(""), image="x", replica=0, config_hash="h", routed_port=None)
    assert (plain.init, plain.stop_signal, plain.stop_timeout) == (False, None, None)
