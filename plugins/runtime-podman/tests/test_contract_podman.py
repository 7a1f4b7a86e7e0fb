"""The shared ContainerRuntime contract (tests/support/runtime_contract.py) against real podman."""

import pytest

from tests.support.runtime_contract import RuntimeContract


@pytest.mark.podman
class TestPodmanContract(RuntimeContract):
    engine = "podman"
