"""runtime_type selection (pure logic: fake runtimes, no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivetr_core.config import RivetrConfig
from rivetr_core.contract import ContainerRuntimeRegistration, PluginContext, RuntimeUnavailable
from rivetr_core.plugins import PluginError
from rivetr_core.runtime_select import select_runtime
from rivetr_core.testing import FakeRuntime


def engine(name: str, answers: bool | str, base_url: str | None = None) -> FakeRuntime:
    """A runtime whose ping answers True/False, raises ("raise") or never returns ("hang")."""
    runtime = FakeRuntime(name, reachable=answers is True, base_url=base_url)
    if answers == "raise":
        runtime.failures["ping"] = OSError("boom")
    elif answers == "hang":
        runtime.delays["ping"] = 60
    return runtime


@pytest.fixture
def ctx(tmp_path: Path) -> PluginContext:
    return PluginContext(config=RivetrConfig(), data_dir=tmp_path)


def registry(**runtimes: tuple[int, FakeRuntime | Exception]) -> dict[str, ContainerRuntimeRegistration]:
    def factory_for(made: FakeRuntime | Exception):  # type: ignore[no-untyped-def]
        def factory(ctx: PluginContext) -> FakeRuntime:
            if isinstance(made, Exception):
                raise made
            return made

        return factory

    return {
        name: ContainerRuntimeRegistration(name=name, factory=factory_for(made), auto_priority=priority)  # type: ignore[arg-type]
        for name, (priority, made) in runtimes.items()
    }


async def test_auto_prefers_docker_when_it_answers(ctx: PluginContext) -> None:
    docker, podman = engine("docker", True), engine("podman", True)
    chosen = await select_runtime(registry(podman=(20, podman), docker=(10, docker)), ctx, "auto")
    assert chosen is docker
    assert podman.pinged == 0  # not even built/pinged once docker answered


async def test_auto_falls_back_to_podman_and_closes_the_silent_one(ctx: PluginContext) -> None:
    docker, podman = engine("docker", False, "unix:///var/run/docker.sock"), engine("podman", True)
    chosen = await select_runtime(registry(docker=(10, docker), podman=(20, podman)), ctx, "auto")
    assert chosen is podman
    assert docker.closed and not podman.closed


async def test_auto_error_lists_everything_tried(ctx: PluginContext) -> None:
    regs = registry(
        docker=(10, engine("docker", False, "unix:///var/run/docker.sock")),
        podman=(20, engine("podman", "raise", "unix:///run/podman/podman.sock")),
        broken=(30, ValueError("bad settings")),
        slow=(40, engine("slow", "hang")),
    )
    with pytest.raises(RuntimeUnavailable) as caught:
        await select_runtime(regs, ctx, "auto", ping_timeout=0.1)
    message = caught.value.message
    assert "docker at unix:///var/run/docker.sock: does not answer" in message
    assert "podman at unix:///run/podman/podman.sock: ping failed (boom)" in message
    assert "broken: could not be created (bad settings)" in message
    assert "slow: no answer within 0 s" in message
    assert message.index("docker") < message.index("podman") < message.index("broken")
    assert len(caught.value.details["tried"]) == 4


async def test_auto_without_plugins(ctx: PluginContext) -> None:
    with pytest.raises(RuntimeUnavailable, match="no container runtime plugin"):
        await select_runtime({}, ctx, "auto")


async def test_explicit_name_is_taken_even_when_silent(ctx: PluginContext) -> None:
    podman = engine("podman", False)
    chosen = await select_runtime(
        registry(docker=(10, engine("docker", True)), podman=(20, podman)), ctx, "podman"
    )
    assert chosen is podman and podman.pinged == 0


async def test_unknown_name_lists_available(ctx: PluginContext) -> None:
    with pytest.raises(PluginError, match=r"unknown container runtime 'lxc' \(available: docker, podman\)"):
        await select_runtime(
            registry(docker=(10, engine("docker", True)), podman=(20, engine("podman", True))),
            ctx,
            "lxc",
        )


async def test_real_plugins_register_with_expected_priorities() -> None:
    from rivetr_runtime_docker import plugin as docker_plugin
    from rivetr_runtime_podman import plugin as podman_plugin

    (docker,) = docker_plugin.rivetr_container_runtimes()
    (podman,) = podman_plugin.rivetr_container_runtimes()
    assert (docker.name, docker.auto_priority) == ("docker", 10)
    assert (podman.name, podman.auto_priority) == ("podman", 20)
