"""GitHub (and GitHub Enterprise) REST API subset Rivetr uses, plus Gitea's near-identical API.

Only builds requests and parses responses; the caller passes an ``httpx.AsyncClient`` that already carries
the user's token (authlib's ``AsyncOAuth2Client``, which also refreshes it).
"""

from __future__ import annotations

from typing import Any

from rivetr_core.contract import BranchInfo, GitAccountInfo, GitApiError, OAuthEndpoints, RepoInfo, RepoPage
from rivetr_core.contract.hostapi import expect_ok, join, link_has_next

#: Repositories scanned at most when searching: GitHub's /user/repos cannot filter by name, and the search
#: API misses organisation repos, so the name filter runs over the listing (100 per request).
SEARCH_SCAN_PAGES = 10


def _repo(item: dict[str, Any]) -> RepoInfo:
    return RepoInfo(
        full_name=item["full_name"],
        clone_url=item.get("clone_url") or "",
        ssh_url=item.get("ssh_url"),
        default_branch=item.get("default_branch") or "main",
        private=bool(item.get("private")),
        id=str(item["id"]) if item.get("id") is not None else None,
        web_url=item.get("html_url"),
        description=item.get("description"),
        updated_at=item.get("updated_at") or item.get("pushed_at"),
    )


class GitHubApi:
    """Endpoints default to github.com; ``base_url`` (GitHub Enterprise web root) derives ``/api/v3``."""

    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    per_page_param = "per_page"
    scopes = ["repo", "read:user"]

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints:
        web = (base_url or "https://github.com").rstrip("/")
        if api_url:
            api = api_url.rstrip("/")
        elif web == "https://github.com":
            api = "https://api.github.com"
        else:
            api = web + "/api/v3"
        return OAuthEndpoints(
            authorize_url=web + "/login/oauth/authorize",
            token_url=web + "/login/oauth/access_token",
            api_url=api,
            scopes=list(self.scopes),
            clone_username="x-access-token",
        )

    async def current_user(self, client: Any, api_url: str) -> GitAccountInfo:
        data = expect_ok(await client.get(join(api_url, "/user"), headers=self.headers), "reading the user")
        return GitAccountInfo(
            remote_id=str(data["id"]),
            login=data["login"],
            name=data.get("name"),
            email=data.get("email"),
            avatar_url=data.get("avatar_url"),
        )

    async def _repos_page(
        self, client: Any, api_url: str, page: int, per_page: int
    ) -> tuple[list[RepoInfo], bool]:
        params = {"page": page, self.per_page_param: per_page, "sort": "updated"}
        response = await client.get(join(api_url, "/user/repos"), params=params, headers=self.headers)
        items = expect_ok(response, "listing repositories") or []
        return [_repo(i) for i in items], link_has_next(response.headers.get("link"))

    async def list_repos(
        self, client: Any, api_url: str, *, page: int = 1, per_page: int = 30, search: str | None = None
    ) -> RepoPage:
        if not search:
            repos, has_next = await self._repos_page(client, api_url, page, per_page)
            return RepoPage(repos=repos, page=page, per_page=per_page, has_next=has_next)
        needle = search.lower()
        matches: list[RepoInfo] = []
        wanted = page * per_page + 1  # one more than needed tells whether a next page exists
        scan, more = 1, True
        while more and scan <= SEARCH_SCAN_PAGES and len(matches) < wanted:
            repos, more = await self._repos_page(client, api_url, scan, 100)
            matches.extend(r for r in repos if needle in r.full_name.lower())
            scan += 1
        start = (page - 1) * per_page
        return RepoPage(
            repos=matches[start : start + per_page],
            page=page,
            per_page=per_page,
            has_next=len(matches) > start + per_page,
        )

    async def list_branches(
        self, client: Any, api_url: str, repo: str, *, page: int = 1, per_page: int = 100
    ) -> list[BranchInfo]:
        response = await client.get(
            join(api_url, f"/repos/{repo}/branches"),
            params={"page": page, self.per_page_param: per_page},
            headers=self.headers,
        )
        items = expect_ok(response, f"listing branches of {repo}") or []
        return [
            BranchInfo(
                name=b["name"],
                commit_sha=(b.get("commit") or {}).get("sha") or (b.get("commit") or {}).get("id"),
                protected=bool(b.get("protected")),
            )
            for b in items
        ]

    async def upsert_pr_comment(
        self, client: Any, api_url: str, repo: str, number: int, body: str, comment_id: str | None
    ) -> str:
        if comment_id:
            response = await client.patch(
                join(api_url, f"/repos/{repo}/issues/comments/{comment_id}"),
                json={"body": body},
                headers=self.headers,
            )
            if response.status_code != 404:  # deleted by someone: post a fresh one
                data = expect_ok(response, "updating the preview comment")
                return str(data.get("id", comment_id))
        response = await client.post(
            join(api_url, f"/repos/{repo}/issues/{number}/comments"),
            json={"body": body},
            headers=self.headers,
        )
        data = expect_ok(response, "posting the preview comment")
        if not data or "id" not in data:
            raise GitApiError("posting the preview comment: the host returned no comment id")
        return str(data["id"])


class GiteaApi(GitHubApi):
    """Gitea's API mirrors GitHub's for everything used here, under ``<base>/api/v1`` with ``limit``."""

    headers = {"Accept": "application/json"}
    per_page_param = "limit"
    scopes = ["read:user", "write:repository", "write:issue"]

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints:
        web = (base_url or "https://gitea.com").rstrip("/")
        return OAuthEndpoints(
            authorize_url=web + "/login/oauth/authorize",
            token_url=web + "/login/oauth/access_token",
            api_url=(api_url or web + "/api/v1").rstrip("/"),
            scopes=list(self.scopes),
            clone_username="oauth2",
        )
