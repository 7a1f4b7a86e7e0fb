"""The engine as a single-node swarm manager, for this plugin's test modules."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rivetr_runtime_swarm import firewall

from tests.e2e.conftest import E2E_ENV, Rivetr, shutdown_proxy, start_rivetr
from tests.support.engines import EngineEnv


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def swarm_engine(engine_env: EngineEnv) -> Iterator[EngineEnv]:
    """The engine as a single-node swarm manager: initialised here when it is not in a swarm (and left again
    at the end only then); one already in a swarm is used as it is. Module scope, not session: the engine tests
    run in one process, and the ones after this module should find the engine as they would without it (no
    swarm, no docker_gwbridge holding one of its address pools)."""
    state = _docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    had_gwbridge = _docker("network", "inspect", "docker_gwbridge").returncode == 0
    initialised = False
    if state == "inactive":
        # Loopback only: the swarm's control port must not listen on every interface of a test machine.
        done = _docker("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
        assert done.returncode == 0, done.stderr
        initialised = True
    elif state != "active":
        pytest.skip(f"the engine's swarm state is {state!r}: neither inactive nor an active manager")
    yield engine_env
    if initialised:
        _docker("swarm", "leave", "--force")
        # The published-port rule a `rivetr serve` on the swarm added (port_firewall defaults to on) outlives it
        # by design; the engine is left as it was found.
        firewall.switch_off(firewall.PortFirewall())
        if not had_gwbridge:  # swarm made it; it holds one of the engine's few address pools
            # Refused for a moment after the leave, while the ingress sandbox's endpoint is being removed.
            for _ in range(50):
                if _docker("network", "rm", "docker_gwbridge").returncode == 0:
                    break
                time.sleep(0.2)


def _listed(kind: str, label: str) -> list[str]:
    return _docker(kind, "ls", "-q", "--filter", f"label={label}").stdout.split()


@pytest.fixture
def swarm_rivetr(swarm_engine: EngineEnv, tmp_path: Path) -> Iterator[Rivetr]:
    """A real `rivetr serve` with the swarm runtime on the swarm engine; at the end its services (and their
    containers) and swarm secrets are removed, whatever the test left."""
    env = {
        **E2E_ENV,
        "RIVETR_RUNTIME__RUNTIME_TYPE": "swarm",
        "RIVETR_PLUGINS__RUNTIME_SWARM__SOCKET": swarm_engine.docker_socket,
    }
    # The e2e helpers start an engine's server; the env makes it select the swarm runtime on that engine.
    rivetr = start_rivetr("docker", tmp_path / "rivetr", **env)  # type: ignore[arg-type]
    try:
        yield rivetr
    finally:
        label = f"rivetr.instance={rivetr.instance_id()}"
        rivetr.server.stop(timeout=15)
        services = _listed("service", label)
        if services:
            _docker("service", "rm", *services)
            for _ in range(100):  # their containers go a moment later
                if not rivetr.containers():
                    break
                time.sleep(0.1)
        for secret in _listed("secret", label):
            _docker("secret", "rm", secret)
        for config in _listed("config", label):
            _docker("config", "rm", config)
        rivetr.cleanup()
        shutdown_proxy(rivetr.server.data_dir)
