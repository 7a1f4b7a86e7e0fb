"""``rivetr certs show NAME`` for a name an uploaded wildcard certificate serves: the wildcard, saying which name
it serves; ``certs list`` and ``certs show *.…`` name the routed domains it serves (against a real ``rivetr
serve``, the proxy off)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.certs import self_signed
from tests.support.cli import cli_env
from tests.support.server import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("cli-certs-wildcard") / "data", timeout=90
    )  # slow when loaded
    yield proc
    proc.stop()


def test_show_a_name_served_by_a_wildcard(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    cert, key = self_signed("*.wild.cli.test")
    (tmp_path / "w.crt").write_text(cert)
    (tmp_path / "w.key").write_text(key)
    args = [
        "certs",
        "upload",
        "*.wild.cli.test",
        "--cert",
        str(tmp_path / "w.crt"),
        "--key",
        str(tmp_path / "w.key"),
    ]
    up = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert up.exit_code == 0, up.output
    shown = CliRunner().invoke(cli, ["certs", "show", "a.wild.cli.test"], env=env, catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "*.wild.cli.test" in shown.output and "a.wild.cli.test (by this wildcard)" in shown.output
    own = CliRunner().invoke(cli, ["certs", "show", "*.wild.cli.test"], env=env, catch_exceptions=False)
    assert "by this wildcard" not in own.output
    deeper = CliRunner().invoke(cli, ["certs", "show", "x.y.wild.cli.test"], env=env)
    assert deeper.exit_code != 0


def test_list_and_show_name_the_routed_domains_a_wildcard_serves(
    server: ServerProcess, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path)
    cert, key = self_signed("*.serves.cli.test")
    (tmp_path / "s.crt").write_text(cert)
    (tmp_path / "s.key").write_text(key)
    for domain in ("app.serves.cli.test", "api.serves.cli.test"):
        added = CliRunner().invoke(cli, ["routes", "add", domain, "127.0.0.1:9"], env=env)
        assert added.exit_code == 0, added.output
    args = [
        "certs",
        "upload",
        "*.serves.cli.test",
        "--cert",
        str(tmp_path / "s.crt"),
        "--key",
        str(tmp_path / "s.key"),
    ]
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    listed = CliRunner().invoke(cli, ["certs", "list"], env=env, catch_exceptions=False)
    assert "*.serves.cli.test (serves 2)" in listed.output, listed.output
    shown = CliRunner().invoke(cli, ["certs", "show", "*.serves.cli.test"], env=env, catch_exceptions=False)
    line = next(ln for ln in shown.output.splitlines() if ln.startswith("serves"))
    assert line.split(None, 1)[1].strip() == "api.serves.cli.test, app.serves.cli.test", shown.output
