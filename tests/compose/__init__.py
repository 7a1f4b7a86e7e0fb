"""Compose loader tests, and what several of them share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def refused_fields(load: Callable[[], Any]) -> list[str]:
    """The fields ``load()`` refuses, with the 422 a compose problem must carry."""
    from rivetr_core.compose import ComposeError

    with pytest.raises(ComposeError) as caught:
        load()
    assert caught.value.status == 422
    return [d["field"] for d in caught.value.details]


def stack_context() -> Any:
    """A stack deployment's context for turning a service into its RunSpec (``stacks.runspec.run_spec``)."""
    from rivetr_core.stacks.runspec import StackContext

    return StackContext(
        stack_id="s1",
        stack="st",
        deployment_id="d1",
        instance="i",
        project_network=None,
        networks={"default": "n"},
    )
