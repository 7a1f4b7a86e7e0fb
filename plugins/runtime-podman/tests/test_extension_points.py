"""PodmanRuntime changes DockerRuntime only through the public extension points the docker runtime documents, so
the docker runtime's internals (anything with a leading underscore) can change without breaking podman."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

from rivetr_runtime_docker.runtime import DockerRuntime
from rivetr_runtime_podman.runtime import PodmanRuntime

from rivetr_core.contract import ContainerRuntime

#: Every runtime's identity and plugin factory, not engine behaviour.
NOT_EXTENSION_POINTS = {"name", "from_context"}


def overrides() -> Iterator[tuple[str, Any]]:
    """What PodmanRuntime redefines of DockerRuntime (its constructor aside)."""
    for name, value in vars(PodmanRuntime).items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if hasattr(DockerRuntime, name):
            yield name, value


def documented_as_extension_point(name: str) -> bool:
    owner = next(klass for klass in DockerRuntime.__mro__ if name in vars(klass))
    value = vars(owner)[name]
    if inspect.isfunction(value):
        return "Extension point" in (inspect.getdoc(value) or "")
    # A class attribute: its `#:` comment block right above the assignment.
    lines = inspect.getsource(owner).splitlines()
    at = next(i for i, line in enumerate(lines) if re.match(rf"\s+{name}\b.*=", line))
    comment = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("#:"):
            break
        comment.append(line)
    return "Extension point" in " ".join(comment)


def test_podman_overrides_something() -> None:
    # Guards the two tests below against passing vacuously (e.g. if the subclass relation were lost).
    names = {name for name, _ in overrides()}
    assert {"normalize_image", "log_config", "STEP_RE", "create_client"} <= names


def test_podman_overrides_no_private_method_of_the_docker_runtime() -> None:
    private = sorted(name for name, _ in overrides() if name.startswith("_"))
    assert private == [], f"PodmanRuntime overrides docker runtime internals: {private}"


def test_every_override_is_a_documented_extension_point() -> None:
    undocumented = sorted(
        name
        for name, _ in overrides()
        if name not in NOT_EXTENSION_POINTS and not documented_as_extension_point(name)
    )
    assert undocumented == [], f"not documented as extension points in the docker runtime: {undocumented}"


def test_the_runtime_protocol_is_unchanged_by_the_split() -> None:
    # Other parts of Rivetr (health checks, the terminal) call these by name and signature.
    for name in (n for n in dir(ContainerRuntime) if not n.startswith("_")):
        for runtime in (DockerRuntime, PodmanRuntime):
            protocol = inspect.signature(getattr(ContainerRuntime, name))
            actual = inspect.signature(getattr(runtime, name))
            assert list(actual.parameters) == list(protocol.parameters), (runtime.__name__, name)
            assert [p.default for p in actual.parameters.values()] == [
                p.default for p in protocol.parameters.values()
            ], (runtime.__name__, name)
