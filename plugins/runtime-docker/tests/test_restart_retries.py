"""Compose ``max_attempts`` on dockerd/podman: the engine's ``on-failure`` MaximumRetryCount (no engine)."""

from __future__ import annotations

from pathlib import Path

import docker
from rivetr_runtime_docker.runspec import restart_retries
from rivetr_runtime_docker.runtime import DockerRuntime

from rivetr_core.contract import RunSpec


def test_on_failure_takes_max_attempts_as_its_retry_count() -> None:
    spec = RunSpec(image="x", name="a", restart_policy="on-failure", restart_max_attempts=3)
    assert restart_retries(spec) == 3
    assert restart_retries(RunSpec(image="x", name="a", restart_policy="on-failure")) == 0  # no limit


def test_other_policies_get_no_limit_since_the_engine_refuses_one() -> None:
    for policy in ("always", "unless-stopped"):
        spec = RunSpec(image="x", name="a", restart_policy=policy, restart_max_attempts=3)  # type: ignore[arg-type]
        assert restart_retries(spec) == 0


def test_the_host_config_carries_the_limit(tmp_path: Path) -> None:
    """What ``containers.create`` sends (no engine: the API client only shapes the body)."""
    runtime = DockerRuntime(f"unix://{tmp_path}/docker.sock")
    api = docker.APIClient(base_url=runtime.base_url, version="1.41")
    spec = RunSpec(image="x", name="a", restart_policy="on-failure", restart_max_attempts=5)
    assert runtime._host_config(api, spec)["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
