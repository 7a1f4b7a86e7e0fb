"""Preview bookkeeping through the real app and pipeline service, without a container engine: which apps a
PR event previews, the hidden preview app (env filtered, fork credentials withheld), close/delete, and
previews of GitLab merge requests. Clones fail at once (``GIT_ALLOW_PROTOCOL=file``): no network traffic.
The served-through-the-proxy half lives in ``tests/e2e/test_git_webhooks.py``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import select

from rivetr_core.models.apps import App, AppDomain, EnvVar
from tests.test_webhooks import GH, GL, SECRETS, Hooks, fixture, hooks_factory  # noqa: F401

PREVIEWS = {"proxy": {"preview_domain": "preview.example.com"}}


async def make(hooks_factory: Callable[..., Any], **sections: Any) -> Hooks:  # noqa: F811
    return await hooks_factory(**(sections or PREVIEWS))  # type: ignore[no-any-return]


async def add_env(hooks: Hooks, app_id: str) -> None:
    for key, value, secret in (("PUBLIC_FLAG", "visible", False), ("SECRET_TOKEN", "hush", True)):
        status, body = await hooks.api.post(
            f"/api/apps/{app_id}/env-vars", json={"key": key, "value": value, "is_secret": secret}
        )
        assert status == 201, body


async def _previews(hooks: Hooks, app_id: str) -> tuple[int, Any]:
    """``GET /api/apps/{id}/previews``: the status and the items of its (only) page, or the error body."""
    status, body = await hooks.api.get(f"/api/apps/{app_id}/previews")
    if status != 200:
        return status, body
    assert body["next"] is None, body
    return status, body["items"]


async def preview_app(hooks: Hooks, preview_app_id: str) -> tuple[App, dict[str, str], list[str]]:
    ctx = hooks.api.ctx
    async with ctx.db.session() as session:
        app = await session.get(App, preview_app_id)
        env = (await session.exec(select(EnvVar).where(EnvVar.app_id == preview_app_id))).all()
        domains = (await session.exec(select(AppDomain).where(AppDomain.app_id == preview_app_id))).all()
    assert app is not None
    return app, {e.key: ctx.secrets.decrypt(e.value_enc) for e in env}, [d.domain for d in domains]


async def test_pr_opened_creates_a_hidden_preview_app_without_secrets(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    await add_env(hooks, app_id)
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202, body
    assert body["status"] == "deployed" and len(body["deployments"]) == 1 and len(body["previews"]) == 1
    status, previews = await _previews(hooks, app_id)
    assert status == 200 and len(previews) == 1
    preview = previews[0]
    assert preview["domain"] == "pr-7.site.preview.example.com" and preview["pr_number"] == 7
    assert preview["url"] == "http://pr-7.site.preview.example.com" and preview["is_fork"] is False
    app, env, domains = await preview_app(hooks, preview["preview_app_id"])
    assert (
        app.name == "site-pr-7"
        and app.branch == "feature"
        and app.git_url == "https://github.com/acme/site.git"
    )
    assert domains == ["pr-7.site.preview.example.com"]
    assert env == {"PUBLIC_FLAG": "visible", "RIVETR_PREVIEW": "true", "RIVETR_PR_NUMBER": "7"}
    deps = (await hooks.api.get(f"/api/apps/{preview['preview_app_id']}/deployments"))[1]["items"]
    assert deps[0]["requested_commit"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert deps[0]["trigger"] == "preview:github#7"
    # The app itself was not deployed by the PR, and a push to the PR branch does not deploy the preview app.
    assert await hooks.deployments(app_id) == []
    status, body = await hooks.github(fixture(GH / "github_push.json", ref="refs/heads/feature"))
    assert status == 200 and body["status"] == "ignored"


async def test_secrets_only_for_same_repo_prs_when_allowed(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site", preview_secrets=True)
    await add_env(hooks, app_id)
    async with hooks.api.ctx.db.session() as session:  # the app clones a private repo with a token
        app = await session.get(App, app_id)
        app.git_token_enc = hooks.api.ctx.secrets.encrypt("base-repo-token")
        session.add(app)
        await session.commit()
    await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    await hooks.github(fixture(GH / "github_pull_request_fork_opened.json"), event="pull_request")
    _status, previews = await _previews(hooks, app_id)
    fork_id = next(p["id"] for p in previews if p["pr_number"] == 8)
    status, body = await hooks.api.post(f"/api/previews/{fork_id}/approve")
    assert status == 202, body
    _status, previews = await _previews(hooks, app_id)
    by_number = {p["pr_number"]: p for p in previews}
    same, same_env, _ = await preview_app(hooks, by_number[7]["preview_app_id"])
    fork, fork_env, _ = await preview_app(hooks, by_number[8]["preview_app_id"])
    assert same_env["SECRET_TOKEN"] == "hush" and same.git_token_enc is not None
    assert "SECRET_TOKEN" not in fork_env and fork_env["PUBLIC_FLAG"] == "visible"
    assert fork.git_token_enc is None and fork.ssh_key_id is None
    assert fork.git_url == "https://github.com/mallory/site.git" and by_number[8]["is_fork"] is True


async def test_updates_reuse_the_preview_and_close_removes_it(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    status, body = await hooks.github(
        fixture(GH / "github_pull_request_synchronize.json"), event="pull_request"
    )
    assert status == 202
    status, previews = await _previews(hooks, app_id)
    assert len(previews) == 1
    preview_app_id = previews[0]["preview_app_id"]
    deps = (await hooks.api.get(f"/api/apps/{preview_app_id}/deployments"))[1]["items"]
    assert len(deps) == 2 and previews[0]["deployment_id"] == body["deployments"][0]

    status, body = await hooks.github(
        fixture(GH / "github_pull_request_closed_merged.json"), event="pull_request"
    )
    assert status == 200 and body["status"] == "removed"
    status, previews = await _previews(hooks, app_id)
    assert previews[0]["status"] == "removed" and previews[0]["preview_app_id"] is None
    status, _ = await hooks.api.get(f"/api/apps/{preview_app_id}")
    assert status == 404
    # A later event of the same kind: real bodies differ (updated_at...); an identical body is a replay.
    status, body = await hooks.github(
        fixture(GH / "github_pull_request_closed_merged.json", later=1), event="pull_request"
    )
    assert status == 200 and body["status"] == "ignored"
    # Reopened later: a fresh preview app again.
    status, body = await hooks.github(
        fixture(GH / "github_pull_request_opened.json", later=2), event="pull_request"
    )
    assert status == 202
    status, previews = await _previews(hooks, app_id)
    assert previews[0]["status"] == "deploying" and previews[0]["preview_app_id"]


async def test_delete_preview_and_orphan_sweep(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    status, previews = await _previews(hooks, app_id)
    status, _ = await hooks.api.delete(f"/api/previews/{previews[0]['id']}")
    assert status == 204
    status, _ = await hooks.api.get(f"/api/apps/{previews[0]['preview_app_id']}")
    assert status == 404
    status, _ = await hooks.api.delete(f"/api/previews/{previews[0]['id']}")
    assert status == 404
    # Deleting the base app leaves its preview app behind only until the sweeper runs.
    await hooks.github(fixture(GH / "github_pull_request_opened.json", later=1), event="pull_request")
    status, previews = await _previews(hooks, app_id)
    orphan = previews[0]["preview_app_id"]
    status, _ = await hooks.api.delete(f"/api/apps/{app_id}")
    assert status == 204
    assert await hooks.api.ctx.services["previews"].sweep() == 1
    status, _ = await hooks.api.get(f"/api/apps/{orphan}")
    assert status == 404


async def test_previews_need_a_preview_domain_and_can_be_disabled(hooks_factory) -> None:  # noqa: F811
    hooks = await hooks_factory()
    await hooks.app("site")
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 200 and body["reason"] == "previews need [proxy] preview_domain"


async def test_previews_can_be_disabled_and_follow_the_base_branch(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    await hooks.app("site", previews_enabled=False)
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 200 and "disabled" in body["reason"]
    await hooks.app("other-base", branch="develop")
    payload = fixture(GH / "github_pull_request_opened.json")
    payload["pull_request"]["base"]["ref"] = "release"
    status, body = await hooks.github(payload, event="pull_request")
    assert status == 200 and "base branch 'release'" in body["reason"]
    payload = fixture(GH / "github_pull_request_opened.json", action="labeled")
    status, body = await hooks.github(payload, event="pull_request")
    assert status == 200 and body["status"] == "ignored"


async def test_gitlab_merge_request_preview(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("glsite", git_url="git@gitlab.example.com:acme/site.git")
    raw = json.dumps(fixture(GL / "gitlab_merge_request_open.json")).encode()
    headers = {
        "X-Gitlab-Event": "Merge Request Hook",
        "X-Gitlab-Token": SECRETS["gitlab"],
        "X-Gitlab-Event-UUID": "mr-1",
    }
    status, body = await hooks.send("gitlab", raw, headers)
    assert status == 202, body
    status, previews = await _previews(hooks, app_id)
    assert previews[0]["domain"] == "pr-1.glsite.preview.example.com"
    assert previews[0]["repository"] == "15"  # GitLab's notes API wants the project id
    raw = json.dumps(fixture(GL / "gitlab_merge_request_merge.json")).encode()
    status, body = await hooks.send("gitlab", raw, {**headers, "X-Gitlab-Event-UUID": "mr-2"})
    assert status == 200 and body["status"] == "removed"


async def test_preview_status_follows_its_deployment_and_recovers(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    status, _body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202
    previews_service = hooks.api.ctx.services["previews"]

    async def status_of() -> dict[str, Any]:
        _, previews = await _previews(hooks, app_id)
        return previews[0]  # type: ignore[no-any-return]

    for _ in range(100):  # the clone fails at once (no network): the watcher marks the preview failed
        preview = await status_of()
        if preview["status"] != "deploying":
            break
        await asyncio.sleep(0.1)
    assert preview["status"] == "failed" and preview["error"]
    # A restart left a preview "deploying": recovery follows its (finished) deployment again.
    from rivetr_core.models.git import Preview

    async with hooks.api.ctx.db.session() as session:
        row = await session.get(Preview, preview["id"])
        row.status = "deploying"
        session.add(row)
        await session.commit()
    assert await previews_service.recover() == 1
    for _ in range(100):
        if (await status_of())["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert (await status_of())["status"] == "failed"


async def test_preview_apps_are_hidden_from_listings_but_reachable(hooks_factory) -> None:  # noqa: F811
    from rivetr_ui import queries

    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    _status, previews = await _previews(hooks, app_id)
    preview_app_id = previews[0]["preview_app_id"]
    status, apps = await hooks.api.get("/api/apps")
    apps = apps["items"]
    assert status == 200 and [a["id"] for a in apps] == [app_id]
    status, apps = await hooks.api.get("/api/apps?include_previews=true")
    apps = apps["items"]
    assert status == 200 and {a["id"] for a in apps} == {app_id, preview_app_id}
    status, apps = await hooks.api.get("/api/apps?include_previews=false&environment=development")
    apps = apps["items"]
    assert [a["id"] for a in apps] == [app_id]
    status, got = await hooks.api.get(f"/api/apps/{preview_app_id}")
    assert status == 200 and got["name"] == "site-pr-7"
    # The dashboard lists and counts apps with the same filter.
    ctx = hooks.api.ctx
    assert [row.id for row in await queries.list_apps(ctx)] == [app_id]
    assert (await queries.dashboard_counts(ctx)).apps == 1


# ------------------------------------------------------------------------------ fork policy (issue 14, hole 2)
def fork_pr(sha: str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821", number: int = 8, **changes: Any) -> Any:
    payload = fixture(GH / "github_pull_request_fork_opened.json", **changes)
    payload["number"] = payload["pull_request"]["number"] = number
    payload["pull_request"]["head"]["sha"] = sha
    return payload


async def test_fork_pr_waits_for_approval_per_head_commit(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    status, body = await hooks.github(fork_pr(), event="pull_request")
    assert status == 200 and body["status"] == "awaiting_approval", body
    assert "deployments" not in body and "approve" in body["reason"]
    _, previews = await _previews(hooks, app_id)
    [held] = previews
    assert held["status"] == "awaiting_approval" and held["fork"] is True and held["preview_app_id"] is None
    assert held["head_sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821" and held["approved_sha"] is None
    status, apps = await hooks.api.get("/api/apps?include_previews=true")
    apps = apps["items"]
    assert [a["id"] for a in apps] == [app_id]  # nothing created for the fork's code

    status, body = await hooks.api.post(f"/api/previews/{held['id']}/approve")
    assert status == 202, body
    assert body["preview"]["status"] == "deploying" and body["preview"]["approved_sha"] == held["head_sha"]
    deps = (await hooks.api.get(f"/api/apps/{body['preview']['preview_app_id']}/deployments"))[1]["items"]
    assert [d["id"] for d in deps] == [body["deployment_id"]]
    assert deps[0]["requested_commit"] == held["head_sha"]
    # Approving twice is a conflict, in the error shape.
    status, again = await hooks.api.post(f"/api/previews/{held['id']}/approve")
    assert status == 409 and again["error"]["code"] == "not_awaiting_approval"

    # A new push to the fork's PR waits again; the approved preview app is kept meanwhile.
    sha2 = "1111111111111111111111111111111111111111"
    status, body = await hooks.github(fork_pr(sha2, action="synchronize"), event="pull_request")
    assert status == 200 and body["status"] == "awaiting_approval", body
    _, [row] = await _previews(hooks, app_id)
    assert row["status"] == "awaiting_approval" and row["head_sha"] == sha2 and row["preview_app_id"]
    deps = (await hooks.api.get(f"/api/apps/{row['preview_app_id']}/deployments"))[1]["items"]
    assert len(deps) == 1
    status, body = await hooks.api.post(f"/api/previews/{row['id']}/approve")
    assert status == 202 and body["preview"]["approved_sha"] == sha2
    deps = (await hooks.api.get(f"/api/apps/{row['preview_app_id']}/deployments"))[1]["items"]
    assert len(deps) == 2 and deps[0]["requested_commit"] == sha2

    status, missing = await hooks.api.post("/api/previews/nope/approve")
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_a_fork_preview_is_untrusted_before_its_deployment_is_queued(hooks_factory) -> None:  # noqa: F811
    """The pipeline isolates a fork's build by finding the preview row that names its app: that row must be
    committed when the deployment is queued, or a pipeline quick to start builds the fork's code unisolated."""
    hooks = await make(hooks_factory)
    app_id = await hooks.app("site")
    status, body = await hooks.github(fork_pr(), event="pull_request")
    assert status == 200 and body["status"] == "awaiting_approval", body
    [held] = (await _previews(hooks, app_id))[1]
    ctx = hooks.api.ctx
    apps, seen = ctx.services.apps, []
    queue = apps.deploy

    async def deploy(app_id: str, **kwargs: Any) -> Any:
        try:  # what a pipeline starting now would see
            seen.append((await ctx.services.deployments.snapshot(app_id)).untrusted)
        except Exception as exc:  # a trusted app's snapshot asks the (absent) engine for its project network
            seen.append(f"trusted: {exc}")
        return await queue(app_id, **kwargs)

    apps.deploy = deploy
    try:
        status, body = await hooks.api.post(f"/api/previews/{held['id']}/approve")
    finally:
        del apps.deploy
    assert status == 202, body
    assert seen == [True]


async def test_same_repo_prs_need_no_approval_and_always_builds_forks(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory, previews={"forks": "always"}, **PREVIEWS)
    await hooks.app("site")
    status, body = await hooks.github(fork_pr(), event="pull_request")
    assert status == 202 and body["status"] == "deployed", body


async def test_forks_never_lists_the_pr_as_rejected(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory, previews={"forks": "never"}, **PREVIEWS)
    app_id = await hooks.app("site")
    status, body = await hooks.github(fork_pr(), event="pull_request")
    assert status == 200 and body["status"] == "ignored" and "never" in body["reason"], body
    _, [row] = await _previews(hooks, app_id)
    assert row["status"] == "rejected" and row["preview_app_id"] is None and row["fork"] is True
    status, err = await hooks.api.post(f"/api/previews/{row['id']}/approve")
    assert status == 409 and err["error"]["code"] == "not_awaiting_approval"
    # Same-repository PRs are not affected.
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202 and body["status"] == "deployed"


async def test_max_previews_per_app(hooks_factory) -> None:  # noqa: F811
    hooks = await make(hooks_factory, previews={"max_per_app": 2}, **PREVIEWS)
    app_id = await hooks.app("site")
    for number in (1, 2, 3):
        payload = fixture(GH / "github_pull_request_opened.json")
        payload["number"] = payload["pull_request"]["number"] = number
        status, body = await hooks.github(payload, event="pull_request")
        if number < 3:
            assert status == 202 and body["status"] == "deployed", body
        else:
            assert status == 200 and body["status"] == "limit_reached", body
            assert "max_per_app" in body["reason"]
    _, previews = await _previews(hooks, app_id)
    by_number = {p["pr_number"]: p for p in previews}
    assert by_number[3]["status"] == "limit_reached" and by_number[3]["preview_app_id"] is None
    status, apps = await hooks.api.get("/api/apps?include_previews=true")
    apps = apps["items"]
    assert len(apps) == 3  # the app and two preview apps, none for PR 3
    # A fork PR approved while the app is at its cap: 409, nothing built.
    status, body = await hooks.github(fork_pr(number=9), event="pull_request")
    assert body["status"] == "limit_reached"
    # Closing one frees a slot: the next push to PR 3 builds.
    await hooks.api.delete(f"/api/previews/{by_number[1]['id']}")
    payload = fixture(GH / "github_pull_request_synchronize.json")
    payload["number"] = payload["pull_request"]["number"] = 3
    status, body = await hooks.github(payload, event="pull_request")
    assert status == 202 and body["status"] == "deployed", body


async def test_a_stack_with_previews_gets_a_preview_stack_per_pull_request(hooks_factory) -> None:  # noqa: F811
    """Same-repository PRs to the stack's branch: ``<stack>-pr-<n>`` on the PR's head branch with the base's
    variables and domains under the preview domain; closing removes it; a fork's PR is never previewed."""
    hooks = await make(hooks_factory)
    status, base = await hooks.api.post(
        "/api/stacks",
        json={
            "name": "shop",
            "repo_url": "https://github.com/acme/site.git",
            "previews": True,
            "env": {"GREETING": "hi"},
            "domains": [{"domain": "shop.example.com", "service": "web", "port": 8080}],
        },
    )
    assert status == 201 and base["previews"] is True, base
    status, body = await hooks.github(fixture(GH / "github_pull_request_opened.json"), event="pull_request")
    assert status == 202 and len(body["deployments"]) == 1, body
    status, preview = await hooks.api.get("/api/stacks/shop-pr-7", query_string={"reveal": "true"})
    assert status == 200, preview
    assert preview["preview_of"] == base["id"] and preview["pr_number"] == 7
    assert preview["branch"] == "feature" and preview["env"] == {"GREETING": "hi"}
    assert preview["domains"] == [
        {"domain": "pr-7-web.shop.preview.example.com", "service": "web", "port": 8080}
    ]
    status, dep = await hooks.api.get(f"/api/deployments/{body['deployments'][0]}")
    assert dep["stack_id"] == preview["id"] and dep["trigger"] == "preview", dep

    status, body = await hooks.github(
        fixture(GH / "github_pull_request_fork_opened.json"), event="pull_request"
    )
    assert status == 200 and "forks are not previewed" in body["reason"], body

    status, body = await hooks.github(
        fixture(GH / "github_pull_request_closed_merged.json"), event="pull_request"
    )
    assert status == 200 and "removed" in body["reason"], body
    assert (await hooks.api.get("/api/stacks/shop-pr-7"))[0] == 404
    # Previews need a repository.
    status, body = await hooks.api.post(
        "/api/stacks", json={"name": "pasted", "compose": "services:\n  a:\n    image: x\n", "previews": True}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "previews", body


async def test_a_stack_s_own_webhook_secret_drives_its_previews_with_its_credentials(hooks_factory) -> None:  # noqa: F811
    """No instance secret: a PR event signed with the base stack's own secret deploys its preview, which clones
    with the base's token (same repository); another secret is a 401 and previews nothing."""
    hooks = await hooks_factory(with_secrets=False, **PREVIEWS)
    status, base = await hooks.api.post(
        "/api/stacks",
        json={
            "name": "shop",
            "repo_url": "https://github.com/acme/site.git",
            "previews": True,
            "git_token": "tok-preview-1",
            "git_token_user": "oauth2",
            "webhook_secret": "shop-hook-secret",
        },
    )
    assert status == 201, base
    payload = fixture(GH / "github_pull_request_opened.json")
    status, body = await hooks.github(payload, event="pull_request", secret="another-secret-1")
    assert status == 401, body
    assert (await hooks.api.get("/api/stacks/shop-pr-7"))[0] == 404
    status, body = await hooks.github(payload, event="pull_request", secret="shop-hook-secret")
    assert status == 202 and len(body["deployments"]) == 1, body
    status, preview = await hooks.api.get("/api/stacks/shop-pr-7")
    assert status == 200 and preview["preview_of"] == base["id"], preview
    assert preview["has_git_token"] and preview["git_token_user"] == "oauth2", preview
    assert not preview["has_webhook_secret"]  # the base's secret drives it; the preview has none of its own
    stacks = hooks.api.ctx.services.stacks
    assert stacks.token_of(await stacks.get(preview["id"])) == "tok-preview-1"
