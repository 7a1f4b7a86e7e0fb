"""The CLI never takes a secret from argv (issue 14 hole 10): anything on the command line is readable by every
local user (``ps``, ``/proc/<pid>/cmdline``) and lands in shell history. Tokens come from ``$RIVETR_TOKEN``, the
login file, ``--token-file`` or a hidden prompt/stdin; secret env values from a hidden prompt, stdin or a file.
Non-secret ``KEY=VALUE`` pairs still work on the command line (a port number or a feature flag is not a
secret; ``--secret`` is the line)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess

#: Value-taking options whose names sound secret but whose values are not (an S3 access key is the key's id,
#: shown by the API like a user name; the secret key itself is read from a prompt, stdin or that file; an SSH key's
#: id names a key the server holds; `certs upload --key` is the path of the key file).
NOT_SECRET = {
    "--token-file",
    "--git-token-user",
    "--from-file",
    "--access-key",
    "--secret-key-file",
    "--ssh-key-id",
    "--key",
}
SECRETISH = re.compile(r"token|password|passwd|secret|key|credential", re.I)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-secrets")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def _commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), group
    if isinstance(group, click.Group):
        # Through list_commands/get_command: the top group loads its operator commands lazily (not in .commands).
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None:
                yield from _commands(sub, (*path, name))


def test_no_option_takes_a_secret_value() -> None:
    """Every option of every command: a value-taking option with a secret-sounding name is either known not to
    be secret or refuses any value with a pointer to the safe way."""
    offenders = []
    walked = dict(_commands(cli))
    assert {"apps create", "env set", "login", "backup destinations add"} <= set(walked), sorted(walked)
    for name, command in walked.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.count:
                continue
            opts = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            if any(o in NOT_SECRET for o in opts) or not any(SECRETISH.search(o) for o in opts):
                continue
            if not getattr(param, "refuses_values", False):
                offenders.append(f"rivetr {name} {'/'.join(opts)}")
    assert not offenders, f"options that take a secret on the command line: {offenders}"


def test_token_on_the_command_line_is_refused(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    result = run(["apps", "list", "--token", server.token], env)
    assert result.exit_code == 2
    assert "RIVETR_TOKEN" in result.stderr and "--token-file" in result.stderr, result.stderr
    token_file = tmp_path / "token"
    token_file.write_text(server.token + "\n")
    no_env = {k: v for k, v in env.items() if k != "RIVETR_TOKEN"}
    result = run(["apps", "list", "--json", "--token-file", str(token_file)], no_env)
    assert result.exit_code == 0, result.output
    result = run(["login", "--url", server.url, "--token", server.token], no_env)
    assert result.exit_code == 2 and "RIVETR_TOKEN" in result.stderr
    result = run(["login", "--url", server.url, "--token-file", str(token_file)], no_env)
    assert result.exit_code == 0, result.output
    assert json.loads(Path(env["RIVETR_LOGIN_FILE"]).read_text())["token"] == server.token


def test_secret_env_values_never_come_from_argv(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as api:
        created = api.post("/api/apps", json={"name": "secret-app", "git_url": "git://127.0.0.1:9/x.git"})
        assert created.status_code == 201, created.text
    refused = run(["env", "set", "secret-app", "--secret", "API_KEY=s3cret"], env)
    assert refused.exit_code == 2 and "--secret" in refused.stderr and "stdin" in refused.stderr
    # KEY alone: the value from stdin (a pipe) or a hidden prompt (a terminal).
    assert run(["env", "set", "secret-app", "--secret", "API_KEY"], env, input="s3cret\n").exit_code == 0
    dotenv = tmp_path / "secrets.env"
    dotenv.write_text("# production\nDB_URL=postgres://u:p@db/x\n\nSIGNING=abc=def\n")
    result = run(["env", "set", "secret-app", "--secret", "--from-file", str(dotenv)], env)
    assert result.exit_code == 0, result.output
    assert run(["env", "set", "secret-app", "DEBUG=0"], env).exit_code == 0  # not secret: argv is fine
    rows = json.loads(run(["env", "list", "secret-app", "--json", "--reveal"], env).stdout)
    values = {r["key"]: (r["value"], r["is_secret"]) for r in rows}
    assert values == {
        "API_KEY": ("s3cret", True),
        "DB_URL": ("postgres://u:p@db/x", True),
        "SIGNING": ("abc=def", True),
        "DEBUG": ("0", False),
    }
    empty = run(["env", "set", "secret-app", "--secret", "OTHER"], env, input="")
    assert empty.exit_code == 2 and "OTHER" in empty.stderr


@pytest.mark.parametrize(
    "url",
    ["https://ghp_secret123@github.com/o/r.git", "https://oauth2:glpat-secret@gitlab.example/o/r.git"],
)
def test_git_url_with_credentials_is_refused(server: ServerProcess, env: dict[str, str], url: str) -> None:
    """A token tucked into the repository URL would be argv too: refused before anything is sent, with the
    safe way named; the same URL without credentials and the token on stdin works."""
    result = run(["apps", "create", "leaky", "--git", url], env)
    assert result.exit_code == 2, result.output
    assert "--git-token-stdin" in result.stderr and "secret" not in result.stderr, result.stderr
    listed = httpx.get(
        f"{server.url}/api/apps", headers={"Authorization": f"Bearer {server.token}"}, timeout=10
    ).json()
    names = [a["name"] for a in (listed["items"] if isinstance(listed, dict) else listed)]
    assert "leaky" not in names
    clean = "https://github.com/o/r.git"
    name = f"clean-{len(url)}"  # one per case: the server is shared by the module
    result = run(["apps", "create", name, "--git", clean, "--git-token-stdin"], env, input="tok\n")
    assert result.exit_code == 0, result.output
