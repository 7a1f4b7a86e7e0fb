"""Connected git accounts, git providers and the repository browser as the API shows them.

Each ``*_json`` builds its JSON through the matching model, so ``/openapi.json`` (which documents the models)
and what the server answers cannot drift apart. No token ever appears here: an account shows who it is and
when its token expires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.contract import BranchInfo, RepoInfo
    from rivetr_core.models.git import GitAccount


class GitAccountOut(ApiModel):
    id: str
    provider: str = Field(description="Git provider name (github, gitlab, bitbucket...).")
    login: str = Field(description="The account's user name on the git host.")
    name: str | None
    email: str | None
    avatar_url: str | None
    scope: str | None = Field(description="Scopes the host granted, as it reported them.")
    expires_at: str | None = Field(description="When the access token expires; null: it does not.")
    refreshable: bool = Field(description="A refresh token is held: an expired token is renewed on use.")
    created_at: str
    updated_at: str


class GitProviderOut(ApiModel):
    provider: str = Field(description="Registered name, as apps and webhook URLs use it.")
    description: str
    webhook_url: str = Field(description="Where to point the git host's webhooks.")
    webhook_secret_configured: bool
    webhook_secret_key: str | None = Field(description="The config key that holds the webhook secret.")
    oauth_configured: bool = Field(description="An [oauth.<provider>] section is set: accounts can connect.")
    connect_url: str | None = Field(description="Browser URL that starts connecting an account (OAuth).")


class GitRepoOut(ApiModel):
    # A third-party provider may hand numeric ids: shown as strings like the built-in providers' ids.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    full_name: str = Field(description="owner/name (GitLab: the group/project path).")
    id: str | None = Field(description="The host's repository id (GitLab's API addresses projects by it).")
    clone_url: str
    ssh_url: str | None
    default_branch: str
    private: bool
    web_url: str | None
    description: str | None
    updated_at: str | None = Field(description="ISO 8601, as the git host reported it.")


class GitBranchOut(ApiModel):
    name: str
    commit_sha: str | None = Field(description="Head commit of the branch, when the host says.")
    protected: bool


class AuthorizeOut(ApiModel):
    authorize_url: str = Field(description="Navigate the browser there to grant access.")
    state: str = Field(description="Single-use, valid 10 minutes; the callback must bring it back.")
    redirect_uri: str = Field(description="Where the provider sends the browser back.")


class CallbackOut(ApiModel):
    account: GitAccountOut


def account_json(account: GitAccount) -> dict[str, Any]:
    """API form: who the account is and when its token expires; never a token."""
    return GitAccountOut.model_validate(
        {
            "id": account.id,
            "provider": account.provider,
            "login": account.login,
            "name": account.name,
            "email": account.email,
            "avatar_url": account.avatar_url,
            "scope": account.scope,
            "expires_at": isoformat(account.expires_at),
            "refreshable": bool(account.refresh_token_enc),
            "created_at": isoformat(account.created_at),
            "updated_at": isoformat(account.updated_at),
        }
    ).model_dump(mode="json")


def repo_json(repo: RepoInfo) -> dict[str, Any]:
    return GitRepoOut.model_validate(
        {
            "full_name": repo.full_name,
            "id": repo.id,
            "clone_url": repo.clone_url,
            "ssh_url": repo.ssh_url,
            "default_branch": repo.default_branch,
            "private": repo.private,
            "web_url": repo.web_url,
            "description": repo.description,
            "updated_at": repo.updated_at,
        }
    ).model_dump(mode="json")


def branch_json(branch: BranchInfo) -> dict[str, Any]:
    return GitBranchOut.model_validate(
        {"name": branch.name, "commit_sha": branch.commit_sha, "protected": branch.protected}
    ).model_dump(mode="json")
