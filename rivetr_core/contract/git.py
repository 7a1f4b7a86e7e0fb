"""Git providers (``rivetr_git_providers``): a git host's webhooks and, optionally, its OAuth/REST API.

Helpers for implementing them: :mod:`rivetr_core.contract.signing` (constant-time webhook signature checks)
and :mod:`rivetr_core.contract.hostapi` (REST error handling and pagination)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import GitApiError as GitApiError  # raised by GitHostApi methods
from .plugin import PluginContext

#: What a webhook is about (:attr:`WebhookEvent.kind`).
WebhookKind = Literal["push", "tag", "pull_request", "ping", "other"]
#: What happened to a pull/merge request (:attr:`WebhookEvent.pr_action`).
PrAction = Literal["opened", "updated", "closed", "merged", "other"]


@dataclass
class WebhookEvent:
    """A provider webhook, normalised by :meth:`GitProvider.parse_webhook`.

    ``kind`` is push / tag / pull_request / ping / other. For pushes ``ref`` is the branch (or tag) name
    without ``refs/heads/`` (``refs/tags/``) and ``commit_sha`` the new head; ``deleted`` marks a branch or
    tag deletion (nothing to deploy). For pull/merge requests ``ref`` is the *base* (target) branch,
    ``commit_sha`` the head commit, ``pr_head_ref`` the source branch, and ``pr_is_fork`` is True when the
    head lives in another repository than the base (a fork's PR never receives secrets).
    """

    provider: str
    kind: WebhookKind
    delivery_id: str | None
    repo_urls: list[str] = field(default_factory=list)  # every clone URL the payload names
    ref: str | None = None  # branch or tag name (no refs/heads/ prefix)
    commit_sha: str | None = None
    commit_message: str | None = None
    pr_number: int | None = None
    pr_action: PrAction | None = None
    pr_head_repo_url: str | None = None
    pr_is_fork: bool = False
    raw_event: str | None = None
    # Optional: a provider that leaves them unset still works.
    repo_full_name: str | None = None  # "owner/name" (GitLab: "group/sub/name"); the API path of the repo
    repo_id: str | None = None  # provider's numeric/uuid id of the (base) repository, when given
    deleted: bool = False  # push that deletes the branch/tag
    pr_head_ref: str | None = None  # source branch of a pull/merge request
    pr_title: str | None = None
    sender: str | None = None  # login of whoever triggered the event


@dataclass
class RepoInfo:
    full_name: str
    clone_url: str
    default_branch: str
    private: bool = False
    ssh_url: str | None = None
    id: str | None = None  # provider's repository id (GitLab project id: needed for its API paths)
    web_url: str | None = None
    description: str | None = None
    updated_at: str | None = None  # ISO 8601 as the provider gave it


@dataclass
class BranchInfo:
    name: str
    commit_sha: str | None = None
    protected: bool = False


@dataclass
class RepoPage:
    """One page of a repository listing. ``has_next`` says whether page + 1 has more."""

    repos: list[RepoInfo]
    page: int
    per_page: int
    has_next: bool


@dataclass
class GitAccountInfo:
    """The user an OAuth token belongs to, as the provider reports it."""

    remote_id: str
    login: str
    name: str | None = None
    email: str | None = None
    avatar_url: str | None = None


@dataclass
class OAuthEndpoints:
    """Where a provider's OAuth 2 flow and REST API live, resolved from ``[oauth.<name>]`` base URLs
    (GitHub Enterprise, self-managed GitLab)."""

    authorize_url: str
    token_url: str
    api_url: str  # REST API root, no trailing slash
    scopes: list[str] = field(default_factory=list)
    #: How the token authenticates an HTTPS clone: ``https://<clone_username>:<token>@host/...``
    clone_username: str = "oauth2"


@runtime_checkable
class GitProvider(Protocol):
    """A git host: verifies and parses its webhooks, and (when connected by OAuth) browses repositories.

    Both methods are pure and synchronous. ``verify_webhook`` compares in constant time and returns False
    (never raises) on a missing or malformed signature; ``parse_webhook`` raises ``ValueError`` on a body
    it cannot understand. Headers are looked up case-insensitively by the caller's mapping.
    """

    name: str

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...


@runtime_checkable
class GitHostApi(Protocol):
    """Optional OAuth + REST side of a :class:`GitProvider` (connected accounts, repository browser, PR
    comments). Core checks ``isinstance(provider, GitHostApi)`` before offering OAuth for it.

    ``client`` is an ``httpx.AsyncClient`` (in practice authlib's ``AsyncOAuth2Client``, which adds the bearer
    token and refreshes it when expired); provider methods only build requests and parse responses, and raise
    :class:`GitApiError` when the host answers with an error.
    """

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints: ...
    async def current_user(self, client: Any, api_url: str) -> GitAccountInfo: ...
    async def list_repos(
        self, client: Any, api_url: str, *, page: int = 1, per_page: int = 30, search: str | None = None
    ) -> RepoPage: ...
    async def list_branches(
        self, client: Any, api_url: str, repo: str, *, page: int = 1, per_page: int = 100
    ) -> list[BranchInfo]: ...
    async def upsert_pr_comment(
        self, client: Any, api_url: str, repo: str, number: int, body: str, comment_id: str | None
    ) -> str:
        """Create a comment on PR/MR ``number`` of ``repo`` (full name or project id), or edit
        ``comment_id`` when given and still present. Returns the comment id (to edit it next time)."""
        ...


@dataclass(frozen=True)
class GitProviderRegistration:
    """A git host: its webhooks arrive at ``/webhooks/<name>``, its OAuth settings live in ``[oauth.<name>]``."""

    #: The host's name in webhook paths, ``[oauth.<name>]`` and an app's provider (``github``, ``gitlab``).
    name: str
    #: Builds the provider from this plugin's context; called on first use, once per server.
    factory: Callable[[PluginContext], GitProvider]
    #: One human line saying what it does, for people choosing among what is installed.
    description: str = ""
