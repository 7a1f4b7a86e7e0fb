"""Bitbucket Cloud REST API 2.0 subset: user, repositories, branches, pull-request comments."""

from __future__ import annotations

from typing import Any

from rivetr_core.contract import BranchInfo, GitAccountInfo, GitApiError, OAuthEndpoints, RepoInfo, RepoPage
from rivetr_core.contract.hostapi import expect_ok, join


def _repo(item: dict[str, Any]) -> RepoInfo:
    links = item.get("links") or {}
    clones = {c.get("name"): c.get("href") for c in links.get("clone") or []}
    full = item["full_name"]
    https = clones.get("https") or f"https://bitbucket.org/{full}.git"
    # Bitbucket puts the user name in the https clone link; a token clone supplies its own.
    if "@" in https.split("//", 1)[-1].split("/", 1)[0]:
        scheme, rest = https.split("//", 1)
        https = scheme + "//" + rest.split("@", 1)[1]
    return RepoInfo(
        full_name=full,
        clone_url=https,
        ssh_url=clones.get("ssh"),
        default_branch=(item.get("mainbranch") or {}).get("name") or "main",
        private=bool(item.get("is_private")),
        id=item.get("uuid"),
        web_url=(links.get("html") or {}).get("href"),
        description=item.get("description"),
        updated_at=item.get("updated_on"),
    )


class BitbucketApi:
    scopes = ["account", "repository", "pullrequest:write"]

    def oauth_endpoints(self, base_url: str | None, api_url: str | None) -> OAuthEndpoints:
        web = (base_url or "https://bitbucket.org").rstrip("/")
        return OAuthEndpoints(
            authorize_url=web + "/site/oauth2/authorize",
            token_url=web + "/site/oauth2/access_token",
            api_url=(api_url or "https://api.bitbucket.org/2.0").rstrip("/"),
            scopes=list(self.scopes),
            clone_username="x-token-auth",
        )

    async def current_user(self, client: Any, api_url: str) -> GitAccountInfo:
        data = expect_ok(await client.get(join(api_url, "/user")), "reading the user")
        return GitAccountInfo(
            remote_id=data.get("uuid") or data.get("account_id"),
            login=data.get("username") or data.get("nickname"),
            name=data.get("display_name"),
            avatar_url=((data.get("links") or {}).get("avatar") or {}).get("href"),
        )

    async def list_repos(
        self, client: Any, api_url: str, *, page: int = 1, per_page: int = 30, search: str | None = None
    ) -> RepoPage:
        params: dict[str, Any] = {"role": "member", "page": page, "pagelen": per_page, "sort": "-updated_on"}
        if search:
            params["q"] = 'name ~ "{}"'.format(search.replace('"', ""))
        data = expect_ok(
            await client.get(join(api_url, "/repositories"), params=params), "listing repositories"
        )
        return RepoPage(
            repos=[_repo(i) for i in data.get("values", [])],
            page=page,
            per_page=per_page,
            has_next=bool(data.get("next")),
        )

    async def list_branches(
        self, client: Any, api_url: str, repo: str, *, page: int = 1, per_page: int = 100
    ) -> list[BranchInfo]:
        data = expect_ok(
            await client.get(
                join(api_url, f"/repositories/{repo}/refs/branches"),
                params={"page": page, "pagelen": per_page},
            ),
            f"listing branches of {repo}",
        )
        return [
            BranchInfo(name=b["name"], commit_sha=(b.get("target") or {}).get("hash"))
            for b in data.get("values", [])
        ]

    async def upsert_pr_comment(
        self, client: Any, api_url: str, repo: str, number: int, body: str, comment_id: str | None
    ) -> str:
        comments = f"/repositories/{repo}/pullrequests/{number}/comments"
        payload = {"content": {"raw": body}}
        if comment_id:
            response = await client.put(join(api_url, f"{comments}/{comment_id}"), json=payload)
            if response.status_code != 404:
                data = expect_ok(response, "updating the preview comment")
                return str(data.get("id", comment_id))
        data = expect_ok(
            await client.post(join(api_url, comments), json=payload), "posting the preview comment"
        )
        if not data or "id" not in data:
            raise GitApiError("posting the preview comment: the host returned no comment id")
        return str(data["id"])
