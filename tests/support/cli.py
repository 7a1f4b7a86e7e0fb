"""What the CLI tests share: a ``rivetr serve`` per test module (or the API served in a thread of the test process)
and the environment that points the CLI at it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.proxy import free_port
from tests.support.server import ServerProcess, make_config, start_server


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


@contextmanager
def api_in_thread(data_dir: Path, seed: Callable[[Any], Awaitable[None]]) -> Iterator[tuple[str, Any]]:
    """The real API of a fresh app on ``data_dir``, served by Hypercorn on a loopback socket in a thread of the test
    process; ``seed(accounts)`` runs before serving (users, tokens). Yields the URL and the app."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from rivetr_core.app import create_app

    app = create_app(make_config(data_dir))
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    async def main() -> None:
        @app.before_serving
        async def _seed() -> None:
            await seed(app.extensions["rivetr_ctx"].services.accounts)
            ready.set()

        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the API did not start"
    yield f"http://127.0.0.1:{port}", app
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)


@contextmanager
def cli_on_runtime(tmp_path: Path, runtime: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The API in a thread (:func:`api_in_thread`, no seed) deploying on ``runtime`` (a FakeRuntime), and the CLI
    pointed at it as the admin. Yields the URL and ``run(*args)``, the CLI's result (its exceptions raised)."""
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.server import AUTH

    async def no_seed(_accounts: Any) -> None:
        return None

    with api_in_thread(tmp_path / "data", no_seed) as (url, app):
        app.extensions["rivetr_ctx"]._runtime = runtime
        env = {
            "RIVETR_URL": url,
            "RIVETR_TOKEN": AUTH["Authorization"].split()[1],
            "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"),
        }

        def run(*args: str) -> Any:
            return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

        yield url, run
