"""The engine as a single-node swarm manager, for this plugin's test modules."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from rivetr_runtime_swarm import firewall

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
