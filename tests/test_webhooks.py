"""Webhooks end to end through the real app, DB and pipeline service (no container engine needed).

Payloads are the providers' documented shapes (``plugins/git-*/tests/fixtures``). Deployments these tests
queue are real pipeline deployments; ``GIT_ALLOW_PROTOCOL=file`` makes their clones fail at once so no test
traffic leaves the machine (the repositories named are github.com/gitlab.example.com ones).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import at_rest
from tests.support.server import ApiClient

ROOT = Path(__file__).resolve().parents[1]
GH = ROOT / "plugins/git-github/tests/fixtures"
GL = ROOT / "plugins/git-gitlab/tests/fixtures"
BB = ROOT / "plugins/git-bitbucket/tests/fixtures"
SECRETS = {
    "github": "gh-secret-123",
    "gitlab": "gl-token-123",
    "gitea": "gt-secret-123",
    "bitbucket": "bb-secret-123",
}
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


def fixture(path: Path, **changes: Any) -> dict[str, Any]:
    payload = json.loads(path.read_text())
    payload.update(changes)
    return payload


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_headers(
    body: bytes, event: str = "push", delivery: str | None = None, secret: str | None = None
) -> dict[str, str]:
    headers = {
        "X-GitHub-Event": event,
        "Content-Type": "application/json",
        "X-GitHub-Delivery": delivery or hashlib.md5(body).hexdigest(),
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + sign(secret, body)
    return headers


class Hooks:
    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.counter = 0

    async def app(
        self,
        name: str,
        git_url: str = "https://github.com/acme/site.git",
        branch: str = "main",
        **settings: Any,
    ) -> str:
        status, body = await self.api.post(
            "/api/apps", json={"name": name, "git_url": git_url, "branch": branch, "port": 8000}
        )
        assert status == 201, body
        if settings:
            status, body = await self.api.put(f"/api/apps/{body['id']}/git-settings", json=settings)
            assert status == 200, body
            return str(body["app_id"])
        return str(body["id"])

    async def send(
        self, provider: str, body: bytes | dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.api.post(f"/webhooks/{provider}", data=raw, headers=headers, auth=False)

    async def github(
        self,
        payload: dict[str, Any],
        event: str = "push",
        delivery: str | None = None,
        secret: str | None = SECRETS["github"],
    ) -> tuple[int, Any]:
        self.counter += 1
        raw = json.dumps(payload).encode()
        return await self.send(
            "github", raw, github_headers(raw, event, delivery or f"d-{self.counter}", secret)
        )

    async def deployments(self, app_id: str) -> list[dict[str, Any]]:
        status, body = await self.api.get(f"/api/apps/{app_id}/deployments")
        assert status == 200, body
        return body["items"]  # type: ignore[no-any-return]


@pytest.fixture
async def hooks_factory(
    config_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    from rivetr_core.app import create_app

    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    apps: list[Any] = []

    async def make(with_secrets: bool = True, **sections: Any) -> Hooks:
        webhooks = (
            {
                "github_secret": SECRETS["github"],
                "gitlab_token": SECRETS["gitlab"],
                "gitea_secret": SECRETS["gitea"],
                "bitbucket_secret": SECRETS["bitbucket"],
            }
            if with_secrets
            else {}
        )
        webhooks.update(sections.pop("webhooks", {}))
        app = create_app(
            config_factory(
                webhooks=webhooks,
                runtime={"runtime_type": "docker", "docker_socket": "unix:///nonexistent.sock"},
                **sections,
            )
        )
        ctx = app.test_app()
        await ctx.__aenter__()
        apps.append(ctx)
        return Hooks(ApiClient(app))

    yield make
    for ctx in apps:
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def hooks(hooks_factory: Callable[..., Any]) -> Hooks:
    return await hooks_factory()  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------- fail closed
@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea", "bitbucket"])
async def test_no_secret_configured_fails_closed(hooks_factory: Callable[..., Any], provider: str) -> None:
    hooks = await hooks_factory(with_secrets=False)
    app_id = await hooks.app("site")
    raw = json.dumps(fixture(GH / "github_push.json")).encode()
    # Even a request "signed" with an empty key is refused: there is nothing to verify against.
    headers = {
        **github_headers(raw, secret=""),
        "X-Gitlab-Token": "",
        "X-Gitea-Signature": sign("", raw),
        "X-Hub-Signature": "sha256=" + sign("", raw),
    }
    status, body = await hooks.send(provider, raw, headers)
    assert status == 401, body
    assert "No webhook secret configured" in body["error"]["message"]
    assert await hooks.deployments(app_id) == []
    status, events = await hooks.api.get("/api/webhook-events")
    assert [e["outcome"] for e in events["items"]] == ["rejected"]


async def test_unknown_provider_is_404(hooks: Hooks) -> None:
    status, body = await hooks.send("svn", b"{}", {})
    assert status == 404 and body["error"]["code"] == "not_found"


# ------------------------------------------------------------------------------ signatures per provider
def _provider_cases() -> list[tuple[str, Path, dict[str, str], Callable[[bytes, str], dict[str, str]]]]:
    return [
        (
            "github",
            GH / "github_push.json",
            {"X-GitHub-Event": "push"},
            lambda raw, s: {"X-Hub-Signature-256": "sha256=" + sign(s, raw)},
        ),
        (
            "gitea",
            GH / "gitea_push.json",
            {"X-Gitea-Event": "push"},
            lambda raw, s: {"X-Gitea-Signature": sign(s, raw)},
        ),
        (
            "gitlab",
            GL / "gitlab_push.json",
            {"X-Gitlab-Event": "Push Hook"},
            lambda raw, s: {"X-Gitlab-Token": s},
        ),
        (
            "bitbucket",
            BB / "bitbucket_push.json",
            {"X-Event-Key": "repo:push"},
            lambda raw, s: {"X-Hub-Signature": "sha256=" + sign(s, raw)},
        ),
    ]


@pytest.mark.parametrize(
    ("provider", "path", "base_headers", "signer"), _provider_cases(), ids=[c[0] for c in _provider_cases()]
)
async def test_signatures_good_bad_missing(
    hooks: Hooks,
    provider: str,
    path: Path,
    base_headers: dict[str, str],
    signer: Callable[[bytes, str], dict[str, str]],
) -> None:
    payload = json.loads(path.read_text())
    repo_url = {
        "github": "https://github.com/acme/site.git",
        "gitea": "https://git.example.com/acme/site.git",
        "gitlab": "https://gitlab.example.com/acme/site.git",
        "bitbucket": "https://bitbucket.org/acme/site.git",
    }[provider]
    app_id = await hooks.app("site", git_url=repo_url)
    raw = json.dumps(payload).encode()

    status, body = await hooks.send(provider, raw, base_headers)  # missing signature
    assert status == 401 and body["error"]["code"] == "invalid_signature"
    status, body = await hooks.send(provider, raw, {**base_headers, **signer(raw, "wrong-secret")})
    assert status == 401
    if provider != "gitlab":  # GitLab's token does not cover the body (that is GitLab's design)
        tampered = raw.replace(b"acme", b"acmf", 1)
        status, body = await hooks.send(
            provider, tampered, {**base_headers, **signer(raw, SECRETS[provider])}
        )
        assert status == 401
    assert await hooks.deployments(app_id) == []

    status, body = await hooks.send(provider, raw, {**base_headers, **signer(raw, SECRETS[provider])})
    assert status == 202, body
    assert body["status"] == "deployed" and len(body["deployments"]) == 1
    deps = await hooks.deployments(app_id)
    assert [d["id"] for d in deps] == body["deployments"]
    assert deps[0]["trigger"] == f"webhook:{provider}"


# --------------------------------------------------------------------------------- matching and skipping
async def test_url_forms_match_and_other_repos_do_not(hooks: Hooks) -> None:
    ssh_app = await hooks.app("ssh-form", git_url="git@GitHub.com:acme/site")
    https_app = await hooks.app("https-form", git_url="https://github.com/acme/site")
    ssh_url_app = await hooks.app("sshurl-form", git_url="ssh://git@github.com:22/acme/site.git")
    other = await hooks.app("other-repo", git_url="https://github.com/acme/site-docs.git")
    status, body = await hooks.github(fixture(GH / "github_push.json"))
    assert status == 202, body
    assert len(body["deployments"]) == 3
    for app_id in (ssh_app, https_app, ssh_url_app):
        assert len(await hooks.deployments(app_id)) == 1
    assert await hooks.deployments(other) == []
    deps = await hooks.deployments(ssh_app)
    assert deps[0]["requested_commit"] == HEAD


async def test_no_app_for_repository(hooks: Hooks) -> None:
    await hooks.app("site", git_url="https://github.com/acme/elsewhere.git")
    status, body = await hooks.github(fixture(GH / "github_push.json"))
    assert status == 200 and body["status"] == "ignored"
    assert "no app uses repository acme/site" in body["reason"]


async def test_branch_must_match(hooks: Hooks) -> None:
    app_id = await hooks.app("site", branch="develop")
    status, body = await hooks.github(fixture(GH / "github_push.json"))
    assert status == 200 and body["status"] == "ignored"
    assert "branch 'main'" in body["reason"] and "develop" in body["reason"]
    status, body = await hooks.github(fixture(GH / "github_push.json", ref="refs/heads/develop"))
    assert status == 202 and len(await hooks.deployments(app_id)) == 1


async def test_deleted_branch_is_ignored(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    status, body = await hooks.github(fixture(GH / "github_push_delete.json"))
    assert status == 200 and body["status"] == "ignored" and "deleted" in body["reason"]
    assert await hooks.deployments(app_id) == []


@pytest.mark.parametrize("marker", ["[skip ci]", "[skip deploy]", "[SKIP CI]"])
async def test_skip_markers(hooks: Hooks, marker: str) -> None:
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    payload["head_commit"]["message"] = f"Fix typo {marker}"
    status, body = await hooks.github(payload)
    assert status == 200 and body["status"] == "skipped" and marker.lower() in body["reason"]
    assert await hooks.deployments(app_id) == []


async def test_tags_deploy_only_apps_following_tags(hooks: Hooks) -> None:
    plain = await hooks.app("plain")
    follower = await hooks.app("follower", follow_tags=True, tag_pattern="v1.*")
    other_pattern = await hooks.app("other-pattern", follow_tags=True, tag_pattern="release-*")
    status, body = await hooks.github(fixture(GH / "github_push_tag.json"))
    assert status == 202, body
    assert len(body["deployments"]) == 1
    assert len(await hooks.deployments(follower)) == 1
    assert await hooks.deployments(plain) == [] and await hooks.deployments(other_pattern) == []
    status, body = await hooks.github(fixture(GH / "github_push_tag.json", ref="refs/tags/v2.0.0"))
    assert status == 200 and body["status"] == "ignored" and "tags matching 'v2.0.0'" in body["reason"]


async def test_ping(hooks: Hooks) -> None:
    status, body = await hooks.github(fixture(GH / "github_ping.json"), event="ping")
    assert status == 200 and body["status"] == "pong"


# ---------------------------------------------------------------------------------------------- dedupe
async def test_duplicate_delivery_is_not_deployed_twice(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    status, body = await hooks.github(payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert status == 202
    status, body = await hooks.github(payload, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert status == 200 and body["status"] == "duplicate"
    assert len(await hooks.deployments(app_id)) == 1


async def test_concurrent_duplicates_deploy_once(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    results = await asyncio.gather(*(hooks.github(payload, delivery="same-delivery") for _ in range(5)))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 200, 200, 200, 202]
    assert len(await hooks.deployments(app_id)) == 1


async def test_unsigned_request_cannot_burn_a_delivery_id(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    status, _ = await hooks.github(payload, delivery="victim-id", secret="attacker-guess")
    assert status == 401
    status, body = await hooks.github(payload, delivery="victim-id")
    assert status == 202, body
    assert len(await hooks.deployments(app_id)) == 1


# ------------------------------------------------------------------------------------------ per-app secret
async def test_per_app_secret_authorises_only_its_app(hooks_factory: Callable[..., Any]) -> None:
    hooks = await hooks_factory(with_secrets=False)
    with_secret = await hooks.app("with-secret", webhook_secret="per-app-secret-1")
    without = await hooks.app("without-secret")
    payload = fixture(GH / "github_push.json")
    status, body = await hooks.github(payload, secret="per-app-secret-1")
    assert status == 202, body
    assert len(await hooks.deployments(with_secret)) == 1
    assert await hooks.deployments(without) == []
    status, body = await hooks.github(payload, secret="not-the-secret")
    assert status == 401 and "Invalid or missing" in body["error"]["message"]


async def test_git_settings_api(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    status, body = await hooks.api.get(f"/api/apps/{app_id}/git-settings")
    assert status == 200 and body["has_webhook_secret"] is False and body["previews_enabled"] is True
    status, body = await hooks.api.put(f"/api/apps/{app_id}/git-settings", json={"webhook_secret": "short"})
    assert status == 422 and body["error"]["details"][0]["field"] == "webhook_secret"
    status, body = await hooks.api.put(f"/api/apps/{app_id}/git-settings", json={"account_id": "nope"})
    assert status == 422 and body["error"]["details"][0]["field"] == "account_id"
    status, body = await hooks.api.put(
        f"/api/apps/{app_id}/git-settings", json={"webhook_secret": "long-enough-secret", "follow_tags": True}
    )
    assert status == 200 and body["has_webhook_secret"] and body["follow_tags"]
    assert "long-enough-secret" not in json.dumps(body)
    status, body = await hooks.api.put(f"/api/apps/{app_id}/git-settings", json={"follow_tags": False})
    assert body["has_webhook_secret"] is True  # left out → kept
    raw_db = at_rest.stored_bytes(hooks.api.ctx)
    assert b"long-enough-secret" not in raw_db
    status, body = await hooks.api.get("/api/apps/missing/git-settings")
    assert status == 404


async def test_bad_payload_after_valid_signature(hooks: Hooks) -> None:
    raw = b"this is not json"
    status, body = await hooks.send("github", raw, github_headers(raw, secret=SECRETS["github"]))
    assert status == 400 and body["error"]["code"] == "bad_payload"


async def test_every_webhook_is_recorded(hooks: Hooks) -> None:
    await hooks.app("site")
    await hooks.github(fixture(GH / "github_ping.json"), event="ping", delivery="p-1")
    await hooks.github(fixture(GH / "github_push.json"), delivery="x-1")
    await hooks.github(fixture(GH / "github_push.json"), delivery="x-1")
    await hooks.github(fixture(GH / "github_push.json"), delivery="x-2", secret="bad")
    status, body = await hooks.api.get("/api/webhook-events")
    assert status == 200 and len(body["items"]) == 4 and body["next"] is None
    body_all = body["items"]
    outcomes = sorted((e["delivery_id"], e["outcome"]) for e in body["items"])
    assert outcomes == [("p-1", "pong"), ("x-1", "deployed"), ("x-1", "duplicate"), ("x-2", "rejected")]
    deployed = next(e for e in body["items"] if e["outcome"] == "deployed")
    assert (
        deployed["provider"] == "github" and deployed["event"] == "push" and len(deployed["deployments"]) == 1
    )
    assert deployed["repository"] == "acme/site" and deployed["ref"] == "main"
    status, body = await hooks.api.get("/api/webhook-events?outcome=rejected")
    assert [e["delivery_id"] for e in body["items"]] == ["x-2"]
    status, body = await hooks.api.get("/api/webhook-events?limit=0")
    assert status == 422
    # Pages, newest first, each delivery once.
    seen, cursor = [], None
    while True:
        status, page = await hooks.api.get(
            "/api/webhook-events?limit=1" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200 and len(page["items"]) == 1
        seen.append(page["items"][0]["id"])
        if not (cursor := page["next"]):
            break
    assert seen == [e["id"] for e in body_all] and len(set(seen)) == 4
    status, body = await hooks.api.get("/api/webhook-events?cursor=bogus")
    assert status == 422 and body["error"]["details"][0]["field"] == "cursor"
    status, body = await hooks.api.get("/api/webhook-events?offset=10")
    assert status == 422 and body["error"]["details"][0]["field"] == "offset"  # replaced by cursor
    status, _ = await hooks.api.get("/api/webhook-events", auth=False)
    assert status == 401


async def test_failed_delivery_can_be_redelivered(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    pipeline = hooks.api.ctx.services.pop("deployments")
    try:
        status, body = await hooks.github(payload, delivery="flaky-1")
        assert status == 503 and "pipeline is not running" in body["error"]["message"]
    finally:
        hooks.api.ctx.services["deployments"] = pipeline
    status, body = await hooks.github(payload, delivery="flaky-1")  # the provider's "redeliver"
    assert status == 202, body
    assert len(await hooks.deployments(app_id)) == 1
    status, events = await hooks.api.get("/api/webhook-events")
    assert [e["outcome"] for e in events["items"]] == ["deployed", "error"]


# ------------------------------------------------------------------------- hardening (issue 14, holes 4 and 5)
async def _rows(hooks: Hooks) -> list[Any]:
    from sqlmodel import select

    from rivetr_core.models.git import WebhookDelivery

    async with hooks.api.ctx.db.session() as session:
        return list((await session.exec(select(WebhookDelivery))).all())


def _db_bytes(hooks: Hooks) -> bytes:
    data_dir = Path(hooks.api.ctx.config.server.data_dir)
    return b"".join(p.read_bytes() for p in data_dir.glob("rivetr.db*") if p.is_file())


async def test_replayed_body_with_a_fresh_delivery_id_is_a_duplicate(hooks: Hooks) -> None:
    app_id = await hooks.app("site")
    raw = json.dumps(fixture(GH / "github_push.json")).encode()
    captured = github_headers(raw, delivery="original-1", secret=SECRETS["github"])
    status, body = await hooks.send("github", raw, captured)
    assert status == 202, body
    # An attacker who captured the request resends it, signature and all, under a delivery id never seen.
    status, body = await hooks.send("github", raw, {**captured, "X-GitHub-Delivery": "fresh-2"})
    assert status == 200, body
    assert body["status"] == "duplicate" and body["duplicate"] is True
    assert hashlib.sha256(raw).hexdigest()[:12] in body["reason"]
    assert len(await hooks.deployments(app_id)) == 1
    # Another body (a new push) is not a duplicate.
    status, body = await hooks.github(fixture(GH / "github_push.json", pushed_at=1700000000))
    assert status == 202, body
    assert len(await hooks.deployments(app_id)) == 2
    status, events = await hooks.api.get("/api/webhook-events")
    dup = next(e for e in events["items"] if e["outcome"] == "duplicate")
    assert dup["delivery_id"] == "fresh-2" and dup["body_sha256"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("with_secrets", [True, False], ids=["bad-signature", "no-secret"])
async def test_rejected_attempts_store_no_payload(
    hooks_factory: Callable[..., Any], with_secrets: bool
) -> None:
    hooks = await hooks_factory(with_secrets=with_secrets)
    marker = "payload-marker-" + "q" * 2000
    payload = fixture(GH / "github_push.json", ref=f"refs/heads/{marker}")
    payload["repository"]["full_name"] = marker
    raw = json.dumps(payload).encode()
    headers = github_headers(raw, event="push-" + "e" * 5000, delivery="d" * 5000, secret="wrong")
    status, body = await hooks.send("github", raw, headers)
    assert status == 401, body
    status, body = await hooks.send("github", b"not json " + marker.encode(), {"X-GitHub-Event": "push"})
    assert status == 401, body
    rows = await _rows(hooks)
    assert [r.outcome for r in rows] == ["rejected", "rejected"]
    for row in rows:
        assert (row.repository, row.ref, row.commit_sha, row.kind, row.body_sha256) == (None,) * 5
        assert row.dedupe_key is None and row.digest_key is None
        assert len(row.event or "") <= 64 and len(row.delivery_id or "") <= 100
        assert row.remote_addr and row.reason
    assert marker[:40].encode() not in _db_bytes(hooks)


async def test_flood_of_bad_requests_keeps_the_log_bounded(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rivetr_core.webhooks import deliveries

    # Small caps so a flood of a few hundred requests shows the bound (production: 5000 and 1000).
    monkeypatch.setattr(deliveries, "KEEP", 20)
    monkeypatch.setattr(deliveries, "TRIM_EVERY", 10)
    monkeypatch.setattr(deliveries, "KEEP_REJECTED", 20, raising=False)
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json")
    status, body = await hooks.github(payload, delivery="real-1")
    assert status == 202, body
    big = fixture(GH / "github_push.json")
    big["repository"]["full_name"] = "x" * 50_000
    for i in range(150):
        status, _ = await hooks.github(big, delivery=f"flood-{i}-" + "y" * 1000, secret="guess")
        assert status == 401
    rows = await _rows(hooks)
    rejected = [r for r in rows if r.outcome == "rejected"]
    assert len(rejected) <= 20 + 10, len(rejected)
    assert max(len(json.dumps(r.model_dump(mode="json"))) for r in rejected) < 1000
    # The flood must not evict the verified delivery: a replay of it is still refused.
    assert [r.delivery_id for r in rows if r.outcome == "deployed"] == ["real-1"]
    status, body = await hooks.github(payload, delivery="real-1")
    assert status == 200 and body["status"] == "duplicate", body
    assert len(await hooks.deployments(app_id)) == 1


async def test_oversized_body_is_refused_before_anything_is_stored(
    hooks_factory: Callable[..., Any],
) -> None:
    hooks = await hooks_factory(webhooks={"max_body_bytes": 4096})
    app_id = await hooks.app("site")
    payload = fixture(GH / "github_push.json", padding="p" * 5000)
    status, body = await hooks.github(payload)  # validly signed, but too large
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large" and body["error"]["details"]["max_body_bytes"] == 4096
    assert await _rows(hooks) == [] and await hooks.deployments(app_id) == []
    small = fixture(GH / "github_push.json")
    status, body = await hooks.github(small)
    assert status == 202, body


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ({"external_url": "https://paas.example.com/"}, "https://paas.example.com/webhooks/github"),
        ({"dashboard_domain": "rivetr.example.com"}, "https://rivetr.example.com/webhooks/github"),
        (
            {"external_url": "https://paas.example.com", "dashboard_domain": "rivetr.example.com"},
            "https://paas.example.com/webhooks/github",
        ),
    ],
    ids=["external-url", "dashboard-domain", "external-url-wins"],
)
async def test_advertised_webhook_url_is_the_public_https_one(
    hooks_factory: Callable[..., Any], server: dict[str, str], expected: str
) -> None:
    hooks = await hooks_factory(server=server)
    status, body = await hooks.api.get("/api/git-providers/available")
    assert status == 200, body
    assert {p["provider"]: p["webhook_url"] for p in body["items"]}["github"] == expected


async def test_verified_delivery_rows_are_clipped(hooks: Hooks) -> None:
    """SQLite does not enforce VARCHAR sizes: every stored field is clipped, even from a signed payload."""
    payload = fixture(GH / "github_push.json", ref="refs/heads/" + "b" * 100_000)
    payload["repository"]["full_name"] = "r" * 100_000
    status, body = await hooks.github(payload, delivery="long-" + "d" * 10_000)
    assert status == 200 and body["status"] == "ignored", body
    (row,) = await _rows(hooks)
    assert len(row.ref or "") <= 255 and len(row.repository or "") <= 500
    assert len(row.reason or "") <= 1000 and len(row.delivery_id or "") <= 100
    assert len(json.dumps(row.model_dump(mode="json"))) < 3000


async def test_a_flood_of_replays_cannot_evict_the_original(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever captured one signed body can send it again and again: those duplicates must not push the
    original delivery (whose keys recognise the replays) out of the log."""
    from rivetr_core.webhooks import deliveries

    monkeypatch.setattr(deliveries, "KEEP", 20)
    monkeypatch.setattr(deliveries, "KEEP_REJECTED", 20)
    monkeypatch.setattr(deliveries, "TRIM_EVERY", 10)
    app_id = await hooks.app("site")
    raw = json.dumps(fixture(GH / "github_push.json")).encode()
    captured = github_headers(raw, delivery="original-1", secret=SECRETS["github"])
    status, body = await hooks.send("github", raw, captured)
    assert status == 202, body
    for i in range(100):
        status, body = await hooks.send("github", raw, {**captured, "X-GitHub-Delivery": f"replay-{i}"})
        assert status == 200 and body["duplicate"] is True, (i, body)
    rows = await _rows(hooks)
    assert len(rows) <= 1 + 20 + 10
    assert [r.delivery_id for r in rows if r.outcome == "deployed"] == ["original-1"]
    assert len(await hooks.deployments(app_id)) == 1


async def test_a_push_deploys_the_compose_stacks_of_that_repository_and_branch(hooks: Hooks) -> None:
    """Stacks from git follow branch pushes like apps (verified by the instance secret: a stack has none of its
    own); a stack of another branch or repository is left alone."""

    async def stack(name: str, repo: str, branch: str = "main") -> str:
        status, body = await hooks.api.post(
            "/api/stacks", json={"name": name, "repo_url": repo, "branch": branch}
        )
        assert status == 201, body
        return str(body["id"])

    site = await stack("site-stack", "https://github.com/acme/site.git")
    await stack("site-dev", "https://github.com/acme/site.git", branch="develop")
    await stack("docs-stack", "https://github.com/acme/site-docs.git")
    status, body = await hooks.github(fixture(GH / "github_push.json"))
    assert status == 202, body
    assert len(body["deployments"]) == 1
    status, dep = await hooks.api.get(f"/api/deployments/{body['deployments'][0]}")
    assert status == 200 and dep["stack_id"] == site and dep["trigger"] == "webhook:github", dep
    for name in ("site-dev", "docs-stack"):
        status, deps = await hooks.api.get(f"/api/stacks/{name}/deployments")
        assert status == 200 and deps["items"] == [], deps
    # A [skip ci] commit deploys nothing, as for apps.
    payload = fixture(GH / "github_push.json")
    payload["head_commit"] = {**payload["head_commit"], "message": "docs [skip ci]"}
    status, body = await hooks.github(payload)
    assert status == 200 and body["status"] == "ignored", body


async def test_a_stack_with_its_own_webhook_secret_deploys_on_push_without_the_instance_secret(
    hooks_factory: Callable[..., Any],
) -> None:
    """No instance secret: a push signed with a stack's own secret deploys that stack only (not an app or another
    stack of the same repository, not with another stack's secret); GitLab's token works the same way; a stack
    without a secret of its own still needs the instance's."""
    hooks = await hooks_factory(with_secrets=False)

    async def stack(name: str, repo: str, **extra: Any) -> str:
        status, body = await hooks.api.post("/api/stacks", json={"name": name, "repo_url": repo, **extra})
        assert status == 201, body
        assert "stack-secret" not in json.dumps(body)
        return str(body["id"])

    site = "https://github.com/acme/site.git"
    own = await stack("own-secret", site, webhook_secret="stack-secret-1")
    other = await stack("other-secret", site, webhook_secret="stack-secret-2")
    plain = await stack("no-secret", site)
    app_id = await hooks.app("site-app", git_url=site)

    async def deployed(stack_id: str) -> list[str]:
        status, deps = await hooks.api.get(f"/api/stacks/{stack_id}/deployments")
        assert status == 200, deps
        return [d["id"] for d in deps["items"]]

    status, body = await hooks.github(fixture(GH / "github_push.json"), secret="wrong-secret-0")
    assert status == 401 and body["error"]["code"] == "invalid_signature", body
    status, body = await hooks.github(fixture(GH / "github_push.json"), secret="stack-secret-1")
    assert status == 202 and body["status"] == "deployed", body
    assert body["deployments"] == await deployed(own) and len(body["deployments"]) == 1
    status, dep = await hooks.api.get(f"/api/deployments/{body['deployments'][0]}")
    assert status == 200 and dep["trigger"] == "webhook:github", dep
    assert await deployed(other) == [] and await deployed(plain) == []
    assert await hooks.deployments(app_id) == []  # a stack's secret authorises nothing else

    # GitLab: the X-Gitlab-Token is the stack's secret.
    gitlab = await stack(
        "gl-stack", "https://gitlab.example.com/acme/site.git", webhook_secret="gl-stack-secret"
    )
    raw = (GL / "gitlab_push.json").read_bytes()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl-stack-secret"}
    status, body = await hooks.send("gitlab", raw, headers)
    assert status == 202 and body["deployments"] == await deployed(gitlab), body
    # Removing the secret: the stack no longer answers to it.
    status, _ = await hooks.api.put(f"/api/stacks/{gitlab}", json={"webhook_secret": None})
    assert status == 200
    status, body = await hooks.send("gitlab", raw, {**headers, "X-Gitlab-Event-UUID": "second"})
    assert status == 401, body
