"""OAuth connect (state + PKCE S256), encrypted tokens with refresh, and the repository browser, against a
real local HTTP server speaking the GitHub and GitLab subsets (``tests/support/fake_git_host.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rivetr_core.pagination import encode_cursor
from tests.support import at_rest
from tests.support.fake_git_host import CLIENT_ID, CLIENT_SECRET, FakeGitHost
from tests.support.server import ApiClient

REDIRECT = "http://rivetr.test/oauth/{}/callback"


@pytest.fixture
async def oauth_api(
    config_factory: Callable[..., Any], fake_git_host: FakeGitHost
) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    oauth = {
        name: {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT.format(name),
            "base_url": f"{fake_git_host.url}/{name}",
        }
        for name in ("github", "gitlab")
    }
    app = create_app(config_factory(oauth=oauth))
    async with app.test_app():
        yield ApiClient(app)


async def connect(api: ApiClient, provider: str, *, return_to: str | None = None) -> dict[str, Any]:
    """Run the whole browser dance: authorize URL → provider consent (auto) → callback."""
    status, body = await api.post(f"/api/oauth/{provider}/authorize", json={"return_to": return_to})
    assert status == 200, body
    query = parse_qs(urlsplit(body["authorize_url"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"] == [body["state"]] and query["redirect_uri"] == [REDIRECT.format(provider)]
    async with httpx.AsyncClient() as client:
        consent = await client.get(body["authorize_url"])
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    assert back.path == f"/oauth/{provider}/callback"
    status, account = await api.get(
        f"/oauth/{provider}/callback?{back.query}", auth=False, headers={"Accept": "application/json"}
    )
    assert status == 200, account
    return account["account"]  # type: ignore[no-any-return]


async def create_app(api: ApiClient, host: FakeGitHost, name: str, provider: str) -> dict[str, Any]:
    """An app cloning ``octocat/site-2`` from ``provider`` on the fake host."""
    status, app = await api.post(
        "/api/apps",
        json={"name": name, "port": 8000, "git_url": f"{host.url}/{provider}/octocat/site-2.git"},
    )
    assert status == 201, app
    return app  # type: ignore[no-any-return]


async def test_connect_github_with_state_and_pkce(oauth_api: ApiClient, fake_git_host: FakeGitHost) -> None:
    account = await connect(oauth_api, "github")
    assert account["provider"] == "github" and account["login"] == "octocat"
    assert fake_git_host.pkce_verified == 1  # the token endpoint verified our code_verifier
    status, listed = await oauth_api.get("/api/git-providers")
    assert status == 200 and [a["id"] for a in listed["items"]] == [account["id"]]
    token = next(iter(fake_git_host.tokens))
    raw = at_rest.stored_bytes(oauth_api.ctx)
    assert token.encode() not in raw, "access token stored in plaintext"
    assert token not in str(listed)
    # Connecting the same remote user again updates the account instead of adding one.
    await connect(oauth_api, "github")
    status, listed = await oauth_api.get("/api/git-providers")
    assert len(listed["items"]) == 1


async def test_state_mismatch_and_reuse_are_rejected(
    oauth_api: ApiClient, fake_git_host: FakeGitHost
) -> None:
    status, body = await oauth_api.post("/api/oauth/github/authorize", json={})
    async with httpx.AsyncClient() as client:
        consent = await client.get(body["authorize_url"])
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    code, state = query["code"][0], query["state"][0]

    status, err = await oauth_api.get(f"/oauth/github/callback?code={code}&state=forged-state", auth=False)
    assert status == 400 and err["error"]["code"] == "invalid_state"
    status, err = await oauth_api.get(f"/oauth/github/callback?code={code}", auth=False)
    assert status == 400 and err["error"]["code"] == "invalid_state"
    # A state issued for GitHub is not accepted on GitLab's callback (and is consumed by the attempt).
    status, err = await oauth_api.get(f"/oauth/gitlab/callback?code={code}&state={state}", auth=False)
    assert status == 400 and err["error"]["code"] == "invalid_state"
    status, err = await oauth_api.get(f"/oauth/github/callback?code={code}&state={state}", auth=False)
    assert status == 400 and err["error"]["code"] == "invalid_state"
    assert fake_git_host.pkce_verified == 0
    status, listed = await oauth_api.get("/api/git-providers")
    assert listed == {"items": [], "next": None}


async def test_expired_state_is_rejected(oauth_api: ApiClient) -> None:
    from rivetr_core.models.git import OAuthState

    status, body = await oauth_api.post("/api/oauth/github/authorize", json={})
    async with oauth_api.ctx.db.session() as session:
        row = await session.get(OAuthState, body["state"])
        row.created_at = row.created_at.replace(year=2020)
        session.add(row)
        await session.commit()
    status, err = await oauth_api.get(f"/oauth/github/callback?code=x&state={body['state']}", auth=False)
    assert status == 400 and err["error"]["code"] == "invalid_state"


async def test_provider_error_and_pkce_is_required_by_the_host(
    oauth_api: ApiClient, fake_git_host: FakeGitHost
) -> None:
    status, body = await oauth_api.post("/api/oauth/github/authorize", json={})
    status, err = await oauth_api.get(
        f"/oauth/github/callback?error=access_denied&state={body['state']}", auth=False
    )
    assert status == 400 and err["error"]["code"] == "oauth_denied"
    # Sanity of the fake: a code exchanged without the verifier is refused (so our PKCE check is real).
    async with httpx.AsyncClient() as client:
        consent = await client.get(
            f"{fake_git_host.url}/github/login/oauth/authorize",
            params={
                "client_id": CLIENT_ID,
                "response_type": "code",
                "redirect_uri": REDIRECT.format("github"),
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
                "state": "s",
            },
        )
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        token = await client.post(
            f"{fake_git_host.url}/github/login/oauth/access_token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uri": REDIRECT.format("github"),
            },
        )
    assert token.status_code == 400


async def test_browser_start_requires_login_and_redirects(oauth_api: ApiClient) -> None:
    status, body = await oauth_api.get("/oauth/github/start", auth=False)
    assert status == 401
    response = await oauth_api.client.get(
        "/oauth/github/start?return_to=/settings/git",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    assert response.status_code == 302
    assert "/github/login/oauth/authorize?" in response.headers["location"]
    status, body = await oauth_api.post(
        "/api/oauth/github/authorize", json={"return_to": "https://evil.example"}
    )
    assert status == 422
    status, body = await oauth_api.post("/api/oauth/bitbucket/authorize", json={})
    assert status == 404 and body["error"]["code"] == "oauth_not_configured"


async def test_callback_redirects_browser_to_return_to(oauth_api: ApiClient) -> None:
    _status, body = await oauth_api.post("/api/oauth/github/authorize", json={"return_to": "/settings/git"})
    async with httpx.AsyncClient() as client:
        consent = await client.get(body["authorize_url"])
    response = await oauth_api.client.get(
        f"/oauth/github/callback?{urlsplit(consent.headers['location']).query}",
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith("/settings/git?git_connected=")


async def test_repository_browser_github(oauth_api: ApiClient) -> None:
    account = await connect(oauth_api, "github")
    status, page1 = await oauth_api.get(f"/api/git-providers/{account['id']}/repos")
    assert status == 200 and set(page1) == {"items", "next"} and len(page1["items"]) == 30 and page1["next"]
    status, page2 = await oauth_api.get(f"/api/git-providers/{account['id']}/repos?cursor={page1['next']}")
    assert len(page2["items"]) == 5 and page2["next"] is None
    assert {r["full_name"] for r in page1["items"]}.isdisjoint({r["full_name"] for r in page2["items"]})
    status, found = await oauth_api.get(f"/api/git-providers/{account['id']}/repos?search=SITE-1&limit=5")
    names = [r["full_name"] for r in found["items"]]
    assert names == [
        "octocat/site-1",
        "octocat/site-10",
        "octocat/site-11",
        "octocat/site-12",
        "octocat/site-13",
    ]
    assert found["next"]
    status, again = await oauth_api.get(
        f"/api/git-providers/{account['id']}/repos?search=SITE-1&limit=5&cursor={found['next']}"
    )
    assert [r["full_name"] for r in again["items"]] == [f"octocat/site-1{i}" for i in range(4, 9)]
    status, branches = await oauth_api.get(f"/api/git-providers/{account['id']}/branches?repo=octocat/site-1")
    assert status == 200 and [b["name"] for b in branches["items"]] == ["main", "feature"]
    assert branches["next"] is None  # fewer than a page
    status, one = await oauth_api.get(
        f"/api/git-providers/{account['id']}/branches?repo=octocat/site-1&limit=1"
    )
    assert [b["name"] for b in one["items"]] == ["main"] and one["next"]
    status, two = await oauth_api.get(
        f"/api/git-providers/{account['id']}/branches?repo=octocat/site-1&limit=1&cursor={one['next']}"
    )
    assert [b["name"] for b in two["items"]] == ["feature"]
    for bad in ("cursor=%%%", f"cursor={encode_cursor((10**6,))}", f"cursor={encode_cursor((1,))}", "page=2"):
        status, err = await oauth_api.get(f"/api/git-providers/{account['id']}/repos?{bad}")
        assert status == 422, (bad, err)
    status, err = await oauth_api.get(f"/api/git-providers/{account['id']}/branches?repo=../etc")
    assert status == 422 and err["error"]["details"][0]["field"] == "repo"
    status, err = await oauth_api.get(f"/api/git-providers/{account['id']}/repos?limit=1000")
    assert status == 422
    status, err = await oauth_api.get("/api/git-providers/nope/repos")
    assert status == 404


async def test_gitlab_token_refresh_and_rotation(oauth_api: ApiClient, fake_git_host: FakeGitHost) -> None:
    fake_git_host.token_ttl = 30  # inside the refresh leeway: the next use must refresh first
    account = await connect(oauth_api, "gitlab")
    assert account["refreshable"] is True and account["expires_at"]
    status, page = await oauth_api.get(f"/api/git-providers/{account['id']}/repos?search=site-3")
    assert status == 200, page
    assert [r["full_name"] for r in page["items"]] == [
        "octocat/site-3",
        "octocat/site-30",
        "octocat/site-31",
        "octocat/site-32",
        "octocat/site-33",
        "octocat/site-34",
        "octocat/site-35",
    ]
    assert fake_git_host.refreshes == 1
    # The rotated refresh token was stored: a second refresh works (the first one is revoked by now).
    status, branches = await oauth_api.get(f"/api/git-providers/{account['id']}/branches?repo=octocat/site-3")
    assert status == 200 and branches["items"][0]["name"] == "main"
    assert fake_git_host.refreshes == 2
    fake_git_host.token_ttl = 3600
    await oauth_api.get(f"/api/git-providers/{account['id']}/repos")
    await oauth_api.get(f"/api/git-providers/{account['id']}/repos")
    assert fake_git_host.refreshes == 3  # once more (the stored one was short), then it stays valid


async def test_revoked_refresh_token_reports_clearly(
    oauth_api: ApiClient, fake_git_host: FakeGitHost
) -> None:
    fake_git_host.token_ttl = 30
    account = await connect(oauth_api, "gitlab")
    fake_git_host.refresh_tokens.clear()
    status, err = await oauth_api.get(f"/api/git-providers/{account['id']}/repos")
    assert status == 502 and err["error"]["code"] == "token_refresh_failed"
    assert "rt_" not in err["error"]["message"]


async def test_pr_comment_is_updated_not_duplicated(oauth_api: ApiClient, fake_git_host: FakeGitHost) -> None:
    account = await connect(oauth_api, "github")
    accounts = oauth_api.ctx.services["git_accounts"]
    first = await accounts.upsert_pr_comment("github", account["id"], "octocat/site-1", 7, "deploying", None)
    second = await accounts.upsert_pr_comment("github", None, "octocat/site-1", 7, "live", first)
    assert first == second
    assert fake_git_host.comments[("github", "octocat/site-1", 7)] == {int(first): "live"}
    # Someone deleted our comment: a new one is posted instead of failing.
    fake_git_host.comments[("github", "octocat/site-1", 7)].clear()
    third = await accounts.upsert_pr_comment("github", None, "octocat/site-1", 7, "again", first)
    assert third != first and fake_git_host.comments[("github", "octocat/site-1", 7)] == {int(third): "again"}
    gl = await connect(oauth_api, "gitlab")
    note = await accounts.upsert_pr_comment("gitlab", gl["id"], "7003", 2, "mr note", None)
    again = await accounts.upsert_pr_comment("gitlab", gl["id"], "7003", 2, "mr note 2", note)
    assert note == again and fake_git_host.comments[("gitlab", "7003", 2)] == {int(note): "mr note 2"}


async def test_linked_app_clones_with_the_account_token(
    oauth_api: ApiClient, fake_git_host: FakeGitHost
) -> None:
    account = await connect(oauth_api, "github")
    app = await create_app(oauth_api, fake_git_host, "private-site", "github")
    status, settings = await oauth_api.put(
        f"/api/apps/{app['id']}/git-settings",
        json={"account_id": account["id"], "repo_full_name": "octocat/site-2"},
    )
    assert status == 200 and settings["account_id"] == account["id"]
    snapshot = await oauth_api.ctx.services["deployments"].snapshot(app["id"])
    assert snapshot.git_token in fake_git_host.tokens
    assert snapshot.app.git_url == f"{fake_git_host.url}/github/octocat/site-2.git"  # GitHub: unchanged
    assert snapshot.git_token_user == "x-access-token"
    status, _ = await oauth_api.delete(f"/api/git-providers/{account['id']}")
    assert status == 204
    status, settings = await oauth_api.get(f"/api/apps/{app['id']}/git-settings")
    assert settings["account_id"] is None  # unlinked, not dangling
    unlinked = await oauth_api.ctx.services["deployments"].snapshot(app["id"])
    assert unlinked.git_token is None and unlinked.git_token_user is None
    status, _ = await oauth_api.get(f"/api/git-providers/{account['id']}")
    assert status == 404


async def test_available_providers(oauth_api: ApiClient) -> None:
    status, body = await oauth_api.get("/api/git-providers/available")
    assert status == 200
    by_name = {p["provider"]: p for p in body["items"]}
    assert set(by_name) >= {"github", "gitlab", "gitea", "bitbucket"}
    assert by_name["github"]["oauth_configured"] and not by_name["gitea"]["oauth_configured"]
    assert by_name["github"]["webhook_url"].endswith("/webhooks/github")
    assert by_name["github"]["webhook_secret_configured"] is False


async def test_expiring_tokens_of_linked_apps_are_refreshed(
    oauth_api: ApiClient, fake_git_host: FakeGitHost
) -> None:
    fake_git_host.token_ttl = 600  # expires within the 15-minute window
    account = await connect(oauth_api, "gitlab")
    app = await create_app(oauth_api, fake_git_host, "gl-private", "gitlab")
    status, _ = await oauth_api.put(f"/api/apps/{app['id']}/git-settings", json={"account_id": account["id"]})
    assert status == 200
    before = (await oauth_api.ctx.services["deployments"].snapshot(app["id"])).git_token
    accounts = oauth_api.ctx.services["git_accounts"]
    fake_git_host.token_ttl = 7200
    # 600 s left is outside the 60 s leeway: only the linked-app refresher renews it ahead of time.
    assert await accounts.refresh_linked_apps() == 1
    after = (await oauth_api.ctx.services["deployments"].snapshot(app["id"])).git_token
    assert after != before and after in fake_git_host.tokens
    # GitLab only accepts OAuth tokens with the user name oauth2: the app's clone user names it, the URL
    # stays as written.
    snapshot = await oauth_api.ctx.services["deployments"].snapshot(app["id"])
    assert snapshot.git_token_user == "oauth2"
    assert snapshot.app.git_url == f"{fake_git_host.url}/gitlab/octocat/site-2.git"
    assert fake_git_host.refreshes == 1


async def test_browser_start_with_a_dashboard_session(oauth_api: ApiClient) -> None:
    status, body = await oauth_api.post(
        "/api/auth/setup", json={"username": "alice", "password": "a long enough password"}
    )
    assert status in (200, 201), body
    # The test client keeps the session cookie; a top-level navigation carries no Authorization header. The
    # cookie alone is what any other site's link would carry too (SameSite=Lax sends it on a top-level GET), so
    # the start needs the session's CSRF token as well (issue 14 hole 10).
    response = await oauth_api.client.get("/oauth/gitlab/start")
    assert response.status_code == 403, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["code"] == "csrf_failed"
    assert "location" not in response.headers
    response = await oauth_api.client.get("/oauth/gitlab/start?csrf_token=0123abcd")
    assert response.status_code == 403
    response = await oauth_api.client.get(f"/oauth/gitlab/start?csrf_token={body['csrf_token']}")
    assert response.status_code == 302, await response.get_data(as_text=True)
    assert "/gitlab/oauth/authorize?" in response.headers["location"]
    oauth_api.client.cookie_jar.clear()
    response = await oauth_api.client.get("/oauth/gitlab/start")
    assert response.status_code == 401
