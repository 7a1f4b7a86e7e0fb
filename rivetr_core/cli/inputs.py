"""What several command groups read from their options: ``--env``/``--env-file`` pairs and a project named by
name or id."""

from __future__ import annotations

from pathlib import Path

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
