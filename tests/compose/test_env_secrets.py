"""Compose ``secrets:`` whose value comes from the stack's environment (``environment: VAR``): accepted without a
repository, carried as ``env:<VAR>`` (never the value), refused naming the variable when the stack does not set
it; a secret with neither source is still refused. The deployer writes the
value to the stack's content-addressed files like a file secret (see tests/test_stacks_api.py for file secrets)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rivetr_core.compose import ComposeError, FileMountSpec, load_compose
from rivetr_core.compose.model import ENV_SOURCE
from rivetr_core.stacks.deployer import StackDeployer

COMPOSE = """
services:
  app:
    image: localhost/rivetr-test/busybox:latest
    secrets:
      - api_token
      - source: api_token
        target: /etc/token
secrets:
  api_token:
    environment: API_TOKEN
"""


def _load(text: str, env: dict[str, str]) -> Any:
    return load_compose(textwrap.dedent(text), env=env)


def test_a_secret_from_the_environment_needs_no_repository_and_never_holds_the_value() -> None:
    project = _load(COMPOSE, {"API_TOKEN": "tok-123"})
    assert project.services["app"].files == [
        FileMountSpec("secret", "api_token", f"{ENV_SOURCE}API_TOKEN", "/run/secrets/api_token"),
        FileMountSpec("secret", "api_token", f"{ENV_SOURCE}API_TOKEN", "/etc/token"),
    ]
    assert "tok-123" not in repr(project.services["app"])


def test_an_unset_variable_is_refused_naming_it() -> None:
    with pytest.raises(ComposeError) as caught:
        _load(COMPOSE, {})
    assert "the stack's environment has no variable 'API_TOKEN'" in str(caught.value.details)


def test_other_sources_are_still_refused() -> None:
    no_source = COMPOSE.replace("    environment: API_TOKEN\n", "    name: elsewhere\n")
    with pytest.raises(ComposeError) as caught:
        _load(no_source, {"API_TOKEN": "x"})
    assert "needs a 'file:' or an 'environment:'" in str(caught.value.details)
    config = (
        COMPOSE.replace("secrets:\n      - api_token", "configs:\n      - api_token")
        .replace("      - source: api_token\n        target: /etc/token\n", "")
        .replace("secrets:\n  api_token:", "configs:\n  api_token:")
    )
    # A config from the environment is accepted since configs became swarm configs (tests/compose/test_file_modes.py).
    assert _load(config, {"API_TOKEN": "x"}).services["app"].files[0].kind == "config"


def test_the_deployer_writes_the_value_like_a_file_secret(tmp_path: Path) -> None:
    project = _load(COMPOSE, {"API_TOKEN": "tok-123"})
    deployer = StackDeployer.__new__(StackDeployer)
    deployer.svc = SimpleNamespace(
        ctx=SimpleNamespace(config=SimpleNamespace(server=SimpleNamespace(data_dir=tmp_path)))
    )  # type: ignore[assignment]
    deployer.plan = SimpleNamespace(stack=SimpleNamespace(id="stk1"), env={"API_TOKEN": "tok-123"})  # type: ignore[assignment]
    files = deployer._persist_files(project)
    written = Path(files["secret:api_token"])
    assert (
        written.read_text() == "tok-123"
        and written.parent == tmp_path.resolve() / "stacks" / "stk1" / "files"
    )
    assert oct(written.stat().st_mode & 0o777) == oct(0o444)
