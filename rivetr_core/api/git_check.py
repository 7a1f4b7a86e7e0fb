"""``POST /api/git/check``: whether a repository answers and has the branch, before an app is made of it.

The new-app form's "Load branches" and its check before "Create" call it; so can a script. A thin handler over
:class:`~rivetr_core.services.git_check.GitCheckService` (``git ls-remote``, nothing downloaded), imported with
the first request.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr

from .appschema import _AppFields

bp = Blueprint("git_check_api", __name__, url_prefix="/api/git")


class GitCheckIn(_AppFields):
    git_url: str = Field(max_length=2000, description="The repository, as an app's git_url.")
    branch: str | None = Field(
        None, max_length=255, description="The branch to look for; omitted: list the branches only."
    )
    ssh_key_id: str | None = Field(None, max_length=64, description="SSH key (POST /api/ssh-keys) to use.")
    git_token: str | None = Field(
        None, min_length=1, max_length=1000, description="HTTPS token for a private repository (not stored)."
    )
    git_token_user: str | None = Field(None, description="User name sent with git_token (default: Rivetr's).")
    app_id: str | None = Field(
        None,
        max_length=64,
        description="Use this app's stored SSH key or token when none is given (its settings page does).",
    )
    stack_id: str | None = Field(
        None,
        max_length=64,
        description="Use this compose stack's stored SSH key or token when none is given.",
    )


class GitCheckOut(ApiModel):
    ok: bool = Field(description="The repository answered and, when a branch was asked for, has it.")
    error: str | None = Field(description="Why not: git's own message (credentials redacted), or the branch.")
    default_branch: str | None = Field(description="The branch the repository's HEAD points at.")
    branches: list[str] = Field(description="The repository's branches, sorted (at most 500).")
    branch: str | None
    branch_exists: bool | None = Field(description="null when no branch was asked for or git failed.")


@bp.post("/check")
@tag(["apps"])
@validate_request(GitCheckIn)
@document_response(GitCheckOut)
async def check_repository(data: GitCheckIn) -> dict[str, Any]:
    """Ask the repository for its branches (``git ls-remote``) with the given credentials. A repository that
    cannot be reached or read is still a 200 with ``ok: false`` and git's message in ``error``; 422 for a
    malformed URL or branch (or a local path without ``[git] allow_local``), 404 for an unknown ``ssh_key_id``,
    ``app_id`` or ``stack_id``. Waits at most 30 s."""
    from rivetr_core.services.git_check import GitCheckService

    return await GitCheckService(rivetr()).check(
        data.git_url,
        data.branch,
        ssh_key_id=data.ssh_key_id,
        git_token=data.git_token,
        git_username=data.git_token_user,
        app_id=data.app_id,
        stack_id=data.stack_id,
    )
