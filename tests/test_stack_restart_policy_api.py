"""Compose ``deploy.restart_policy`` limits through the API on the FAKE runtime: a bad one is a 422 naming the
field, a good one reaches the engine's RunSpec, and on a runtime without delay/window (docker, podman; the fake is
one) the deployment log says they are ignored. Parsing: tests/compose/test_restart_policy_limits.py."""

from __future__ import annotations

from typing import Any

from rivetr_core.testing import FakeRuntime
from tests.test_stacks_api import BUSYBOX, api, wait_deployment

__all__ = ["api"]  # the fixture, reused

COMPOSE = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["httpd", "-f", "-p", "8080"]
    deploy:
      restart_policy: {{condition: on-failure, max_attempts: 3, delay: 5s, window: 2m}}
"""


async def test_a_bad_delay_is_a_422_naming_the_field(api: Any) -> None:
    code, body = await api.post(
        "/api/compose/validate", json={"compose": COMPOSE.replace("delay: 5s", "delay: 5 seconds")}
    )
    assert code == 422 and body["error"]["code"] == "invalid_compose", body
    assert [d["field"] for d in body["error"]["details"]] == ["services.web.deploy.restart_policy.delay"]


async def test_the_limits_reach_the_engine_and_the_log_says_what_is_ignored(
    api: Any, fake_runtime: FakeRuntime
) -> None:
    code, stack = await api.post("/api/stacks", json={"name": "shop", "compose": COMPOSE})
    assert code == 201, stack
    code, dep = await api.post(f"/api/stacks/{stack['id']}/deploy")
    dep = await wait_deployment(api, dep["id"])
    assert dep["status"] == "running", dep
    [run] = fake_runtime.runs
    assert (run.restart_policy, run.restart_max_attempts, run.restart_delay, run.restart_window) == (
        "on-failure",
        3,
        5.0,
        120.0,
    )
    code, lines = await api.get(f"/api/deployments/{dep['id']}/logs")
    assert code == 200
    assert any(
        "[web] deploy.restart_policy delay and window ignored: this engine has no equivalent" in x["line"]
        for x in lines
    ), lines
