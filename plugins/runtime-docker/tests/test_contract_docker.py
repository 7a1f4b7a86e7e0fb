"""The ContainerRuntime contract (rivetr_core.testing.contract) against the real dockerd, run the way a
third-party runtime package runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pytest
from rivetr_runtime_docker.runtime import DockerRuntime

from rivetr_core.testing.contract import RuntimeContract
from tests.support.engines import EngineEnv


@pytest.fixture(scope="session")
def rivetr_runtime_factory(engine_env: EngineEnv) -> Callable[[], DockerRuntime]:
    return lambda: DockerRuntime(engine_env.docker_socket)


@pytest.fixture(scope="session")
def rivetr_base_image(engine_env: EngineEnv) -> str:
    return engine_env.base_image


@pytest.fixture(scope="session")
def rivetr_pull_image(engine_env: EngineEnv) -> str | None:
    # The official name, served by the local Docker Hub mirror scripts/engines.sh runs (no outside registry).
    return "docker.io/library/redis:7" if engine_env.registry else None


@pytest.mark.docker
class TestDockerContract(RuntimeContract):
    stream_thread_name = "rivetr-docker-stream"

    async def raw_inspect(
        self, runtime: Any, kind: Literal["container", "image"], ref: str
    ) -> dict[str, Any] | None:
        api = runtime._api()
        inspect = api.inspect_container if kind == "container" else api.inspect_image
        return await runtime._call(lambda: inspect(ref))  # type: ignore[no-any-return]

    def build_steps(self, runtime: Any, lines: list[str]) -> list[tuple[int, int]] | None:
        return [(step[0], step[1]) for line in lines if (step := runtime.build_step(line))]
