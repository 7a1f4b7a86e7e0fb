"""What the CLI tests share: a ``rivetr serve`` per test module and the environment that points the CLI at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server


def module_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """The body of a module-scoped ``server`` fixture: ``yield from module_server(tmp_path_factory, "cli")``."""
    proc = start_server(tmp_path_factory.mktemp(name) / "data", env)
    yield proc
    proc.stop()


def cli_env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    """The CLI's environment for ``server``: its URL and token, and a login file of the test's own."""
    return {
        "RIVETR_URL": server.url,
        "RIVETR_TOKEN": server.token,
        "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"),
    }
