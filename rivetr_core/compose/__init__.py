"""Compose stacks, the file side: parse, interpolate, validate and normalise a compose file into plain
dataclasses (:class:`ComposeProject`, :class:`ServiceSpec`), with no database and no engine.

Importing this package is cheap: PyYAML and jsonschema are imported only when a file is loaded, so nothing
here weighs on the control plane's idle memory until a stack is created, validated or deployed.
"""

from rivetr_core.compose.errors import ComposeError
from rivetr_core.compose.loader import load_compose, referenced_variables
from rivetr_core.compose.model import (
    BuildSpecC,
    ComposeProject,
    DependsOn,
    FileMountSpec,
    HealthSpec,
    MountSpec,
    PortSpec,
    ServiceSpec,
)

__all__ = [
    "BuildSpecC",
    "ComposeError",
    "ComposeProject",
    "DependsOn",
    "FileMountSpec",
    "HealthSpec",
    "MountSpec",
    "PortSpec",
    "ServiceSpec",
    "load_compose",
    "referenced_variables",
]
