"""GitLab (gitlab.com or self-managed) REST API v4 subset: user, projects, branches, MR notes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rivetr_core.contract import BranchInfo, GitAccountInfo, GitApiError, OAuthEndpoints, RepoInfo, RepoPage
from rivetr_core.contract.hostapi import expect_ok, join


def project_path(repo: str) -> str:
    """A project id stays as is; a ``group/sub/name`` path is URL-encoded as GitLab requires."""
    return repo if repo.isdigit() else quote(repo, safe="")


def _repo(item: dict[str, Any]) -> RepoInfo:
    return RepoInfo(
        full_name=item["path_with_namespace"],
        clone_url=item.get("http_url_to_repo") or "",
        ssh_url=item.get("ssh_url_to_repo"),
        default_branch=item.get("default_branch") or "main",
        private=item.get("visibility", "private") != "public",
        id=str(item["id"]),
        web_url=item.get("web_url"),
        description=item.get("description"),
        updated_at=item.get("last_activity_at"),
    )


class GitLabApi:
    scopes = ["api"]  # read_repository clones; commenting on MRs needs api

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints:
        web = (base_url or "https://gitlab.com").rstrip("/")
        return OAuthEndpoints(
            authorize_url=web + "/oauth/authorize",
            token_url=web + "/oauth/token",
            api_url=(api_url or web + "/api/v4").rstrip("/"),
            scopes=list(self.scopes),
            clone_username="oauth2",
        )

    async def current_user(self, client: Any, api_url: str) -> GitAccountInfo:
        data = expect_ok(await client.get(join(api_url, "/user")), "reading the user")
        return GitAccountInfo(
            remote_id=str(data["id"]),
            login=data["username"],
            name=data.get("name"),
            email=data.get("email") or data.get("public_email"),
            avatar_url=data.get("avatar_url"),
        )

    async def list_repos(
        self, client: Any, api_url: str, *, page: int = 1, per_page: int = 30, search: str | None = None
    ) -> RepoPage:
        params: dict[str, Any] = {
            "membership": "true",
            "order_by": "last_activity_at",
            "page": page,
            "per_page": per_page,
        }
        if search:
            params["search"] = search
        response = await client.get(join(api_url, "/projects"), params=params)
        items = expect_ok(response, "listing projects") or []
        return RepoPage(
            repos=[_repo(i) for i in items],
            page=page,
            per_page=per_page,
            has_next=bool(response.headers.get("x-next-page", "").strip()),
        )

    async def list_branches(
        self, client: Any, api_url: str, repo: str, *, page: int = 1, per_page: int = 100
    ) -> list[BranchInfo]:
        response = await client.get(
            join(api_url, f"/projects/{project_path(repo)}/repository/branches"),
            params={"page": page, "per_page": per_page},
        )
        items = expect_ok(response, f"listing branches of {repo}") or []
        return [
            BranchInfo(
                name=b["name"],
                commit_sha=(b.get("commit") or {}).get("id"),
                protected=bool(b.get("protected")),
            )
            for b in items
        ]

    async def upsert_pr_comment(
        self, client: Any, api_url: str, repo: str, number: int, body: str, comment_id: str | None
    ) -> str:
        notes = f"/projects/{project_path(repo)}/merge_requests/{number}/notes"
        if comment_id:
            response = await client.put(join(api_url, f"{notes}/{comment_id}"), json={"body": body})
            if response.status_code != 404:
                data = expect_ok(response, "updating the preview note")
                return str(data.get("id", comment_id))
        data = expect_ok(
            await client.post(join(api_url, notes), json={"body": body}), "posting the preview note"
        )
        if not data or "id" not in data:
            raise GitApiError("posting the preview note: the host returned no note id")
        return str(data["id"])
