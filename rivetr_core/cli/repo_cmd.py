"""``rivetr repo check URL``: does the repository answer, and has it the branch? (``POST /api/git/check``.)

Asked by the server, with its git and its credentials (an SSH key it holds, a token read from stdin, or an
existing app's), so the answer is the one a deployment would get."""

from __future__ import annotations

import sys

import click

from .client import EXIT_FAILED, Connection, complete_app, connection_options, json_option
from .inputs import git_token_fields
from .output import print_json


@click.group("repo")
def repo() -> None:
    """Git repositories as the server sees them."""


@repo.command("check")
@click.argument("git_url")
@click.option("--branch", "-b", help="The branch to look for (default: list the branches only).")
@click.option("--ssh-key-id", "ssh_key", help="Id of an SSH key the server holds (`POST /api/ssh-keys`).")
@click.option("--app", "app_ref", shell_complete=complete_app, help="Use this app's stored SSH key or token.")
@click.option("--git-token-stdin", is_flag=True, help="Read an HTTPS token from stdin (kept out of history).")
@click.option("--git-token-user", help="User name sent with the token (GitLab: oauth2).")
@connection_options
@json_option
def repo_check(
    git_url: str,
    branch: str | None,
    ssh_key: str | None,
    app_ref: str | None,
    git_token_stdin: bool,
    git_token_user: str | None,
    conn: Connection,
    as_json: bool,
) -> None:
    """List the branches of GIT_URL (and the default one); with --branch, exit 1 unless it exists."""
    body: dict[str, object] = {"git_url": git_url}
    if branch:
        body["branch"] = branch
    if ssh_key:
        body["ssh_key_id"] = ssh_key
    body.update(git_token_fields(git_token_stdin, git_token_user))
    with conn.client() as client:
        if app_ref:
            body["app_id"] = client.resolve_app(app_ref)["id"]
        answer = client.post("/api/git/check", body)
    if as_json:
        print_json(answer)
    elif answer["error"] is None or answer["branches"]:
        for name in answer["branches"]:
            default = " (default)" if name == answer["default_branch"] else ""
            click.echo(f"{name}{default}{' ← found' if name == branch else ''}")
    if not answer["ok"]:
        click.echo(f"error: {answer['error']}", err=True)
        sys.exit(EXIT_FAILED)
