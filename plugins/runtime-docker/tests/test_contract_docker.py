"""The shared ContainerRuntime contract (tests/support/runtime_contract.py) against the real dockerd."""

import pytest

from tests.support.runtime_contract import RuntimeContract


@pytest.mark.docker
class TestDockerContract(RuntimeContract):
    engine = "docker"
