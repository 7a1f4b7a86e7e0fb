"""What several command groups read from their options: ``--env``/``--env-file`` pairs, a project named by name
or id, and a git token from stdin."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .client import CliError, RivetrClient


def env_pairs_of(pairs: tuple[str, ...], env_file: str | None) -> dict[str, str] | None:
    """``KEY=VALUE`` pairs, after those of ``env_file`` (``#`` comments skipped); None when there are none."""
    env: dict[str, str] = {}
    if env_file:
        try:
            lines = Path(env_file).read_text().splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {env_file}: {exc.strerror or exc}") from None
        pairs = (*(line for line in lines if line.strip() and not line.lstrip().startswith("#")), *pairs)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key.strip()] = value
    return env or None


def project_id_of(client: RivetrClient, ref: str | None) -> str | None:
    """The id of the project named or numbered ``ref`` (None for none); CliError for an unknown one."""
    if not ref:
        return None
    for project in client.list_all("/api/projects"):
        if ref in (project["id"], project["name"]):
            return str(project["id"])
    raise CliError(f"unknown project {ref!r}")


def git_token_fields(git_token_stdin: bool, git_token_user: str | None) -> dict[str, str]:
    """``git_token`` (read from stdin: a command line is visible to every local user) and ``git_token_user`` for
    a body, when given."""
    fields: dict[str, str] = {}
    if git_token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise click.UsageError("--git-token-stdin: no token on stdin")
        fields["git_token"] = token
    if git_token_user:
        fields["git_token_user"] = git_token_user
    return fields
