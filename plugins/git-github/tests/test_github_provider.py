"""GitHub/Gitea providers: signatures (good/bad/missing/malformed) and documented payload shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from rivetr_git_github.provider import GiteaProvider, GitHubProvider

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "It's a Secret to Everybody"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def test_github_documented_signature_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" page.
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert GitHubProvider().verify_webhook({"X-Hub-Signature-256": signature}, b"Hello, World!", SECRET)


@pytest.mark.parametrize(
    ("headers", "secret", "ok"),
    [
        ({"X-Hub-Signature-256": "sha256=" + sign(SECRET, b"{}")}, SECRET, True),
        ({"x-hub-signature-256": "sha256=" + sign(SECRET, b"{}").upper()}, SECRET, True),
        ({"X-Hub-Signature-256": "sha256=" + sign("other", b"{}")}, SECRET, False),
        ({"X-Hub-Signature-256": sign(SECRET, b"{}")}, SECRET, False),  # prefix missing
        ({"X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), b"{}", "sha1").hexdigest()}, SECRET, False),
        ({}, SECRET, False),
        ({"X-Hub-Signature-256": "sha256=" + sign("", b"{}")}, "", False),  # empty secret never verifies
        ({"X-Hub-Signature-256": "sha256=zz"}, SECRET, False),
    ],
)
def test_github_signature(headers: dict[str, str], secret: str, ok: bool) -> None:
    assert GitHubProvider().verify_webhook(headers, b"{}", secret) is ok


def test_gitea_signature_is_bare_hex() -> None:
    data = body("gitea_push.json")
    provider = GiteaProvider()
    assert provider.verify_webhook({"X-Gitea-Signature": sign(SECRET, data)}, data, SECRET)
    assert not provider.verify_webhook({"X-Gitea-Signature": "sha256=" + sign(SECRET, data)}, data, SECRET)
    assert not provider.verify_webhook({"X-Gitea-Signature": sign(SECRET, data + b" ")}, data, SECRET)
    assert not provider.verify_webhook({"X-Hub-Signature-256": "sha256=" + sign(SECRET, data)}, data, SECRET)


def test_github_push() -> None:
    event = GitHubProvider().parse_webhook(
        {"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
        body("github_push.json"),
    )
    assert (event.kind, event.ref, event.delivery_id) == (
        "push",
        "main",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )
    assert event.commit_sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert event.commit_message == "Update the landing page"
    assert "https://github.com/acme/site.git" in event.repo_urls
    assert "git@github.com:acme/site.git" in event.repo_urls
    assert not any("api.github.com" in u for u in event.repo_urls)
    assert event.repo_full_name == "acme/site" and not event.deleted


def test_github_tag_delete_and_ping() -> None:
    provider = GitHubProvider()
    tag = provider.parse_webhook({"X-GitHub-Event": "push"}, body("github_push_tag.json"))
    assert (tag.kind, tag.ref) == ("tag", "v1.2.0")
    deleted = provider.parse_webhook({"X-GitHub-Event": "push"}, body("github_push_delete.json"))
    assert deleted.deleted and deleted.commit_sha is None
    ping = provider.parse_webhook({"X-GitHub-Event": "ping"}, body("github_ping.json"))
    assert ping.kind == "ping"
    other = provider.parse_webhook({"X-GitHub-Event": "issues"}, b'{"action": "opened"}')
    assert other.kind == "other"


@pytest.mark.parametrize(
    ("fixture", "action", "fork", "number"),
    [
        ("github_pull_request_opened.json", "opened", False, 7),
        ("github_pull_request_synchronize.json", "updated", False, 7),
        ("github_pull_request_closed_merged.json", "merged", False, 7),
        ("github_pull_request_fork_opened.json", "opened", True, 8),
    ],
)
def test_github_pull_requests(fixture: str, action: str, fork: bool, number: int) -> None:
    event = GitHubProvider().parse_webhook({"X-GitHub-Event": "pull_request"}, body(fixture))
    assert (event.kind, event.pr_action, event.pr_is_fork, event.pr_number) == (
        "pull_request",
        action,
        fork,
        number,
    )
    assert event.ref == "main" and event.pr_head_ref == "feature"
    assert event.commit_sha == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    # The base repository is what apps match, even for a fork's PR.
    assert "https://github.com/acme/site.git" in event.repo_urls


def test_github_closed_without_merge_and_deleted_fork() -> None:
    payload = json.loads(body("github_pull_request_closed_merged.json"))
    payload["pull_request"]["merged"] = False
    payload["pull_request"]["head"]["repo"] = None
    event = GitHubProvider().parse_webhook({"X-GitHub-Event": "pull_request"}, json.dumps(payload).encode())
    assert event.pr_action == "closed" and event.pr_is_fork


def test_gitea_events() -> None:
    provider = GiteaProvider()
    push = provider.parse_webhook(
        {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-1"}, body("gitea_push.json")
    )
    assert (push.kind, push.ref, push.delivery_id, push.commit_message) == (
        "push",
        "main",
        "d-1",
        "Webhooks Yay!",
    )
    assert "https://git.example.com/acme/site.git" in push.repo_urls
    sync = provider.parse_webhook(
        {"X-Gitea-Event": "pull_request"}, body("gitea_pull_request_synchronized.json")
    )
    assert (sync.pr_action, sync.pr_is_fork, sync.pr_number) == ("updated", False, 3)
    fork = provider.parse_webhook(
        {"X-Gitea-Event": "pull_request"}, body("gitea_pull_request_fork_opened.json")
    )
    assert fork.pr_is_fork and fork.pr_action == "opened"


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"after": "x"}'])
def test_bad_bodies_raise_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        GitHubProvider().parse_webhook({"X-GitHub-Event": "push"}, raw)


def test_oauth_endpoints_for_enterprise() -> None:
    endpoints = GitHubProvider().oauth_endpoints(None, None)
    assert endpoints.api_url == "https://api.github.com"
    assert endpoints.authorize_url == "https://github.com/login/oauth/authorize"
    ghe = GitHubProvider().oauth_endpoints("https://ghe.example.com/", None)
    assert ghe.api_url == "https://ghe.example.com/api/v3"
    assert ghe.token_url == "https://ghe.example.com/login/oauth/access_token"
    assert (
        GiteaProvider().oauth_endpoints("https://git.example.com", None).api_url
        == "https://git.example.com/api/v1"
    )
