"""Bitbucket provider: X-Hub-Signature sha256 checks and documented Cloud payload shapes."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from rivetr_git_bitbucket.provider import BitbucketProvider

FIXTURES = Path(__file__).parent / "fixtures"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_signatures() -> None:
    data = body("bitbucket_push.json")
    good = "sha256=" + hmac.new(b"bb-secret", data, hashlib.sha256).hexdigest()
    provider = BitbucketProvider()
    assert provider.verify_webhook({"X-Hub-Signature": good}, data, "bb-secret")
    assert not provider.verify_webhook({"X-Hub-Signature": good}, data + b"x", "bb-secret")
    assert not provider.verify_webhook({"X-Hub-Signature": good}, data, "other")
    assert not provider.verify_webhook({}, data, "bb-secret")
    assert not provider.verify_webhook({"X-Hub-Signature": good.removeprefix("sha256=")}, data, "bb-secret")


def test_push_tag_and_delete() -> None:
    provider = BitbucketProvider()
    push = provider.parse_webhook(
        {"X-Event-Key": "repo:push", "X-Request-UUID": "r-1"}, body("bitbucket_push.json")
    )
    assert (push.kind, push.ref, push.delivery_id) == ("push", "main", "r-1")
    assert push.commit_sha == "7bd8bd9c7e0c5f9aa6f3e4a9ce1d3a6cd31d1f60"
    assert push.repo_urls == ["https://bitbucket.org/acme/site.git", "git@bitbucket.org:acme/site.git"]
    tag = provider.parse_webhook({"X-Event-Key": "repo:push"}, body("bitbucket_push_tag.json"))
    assert (tag.kind, tag.ref) == ("tag", "v2.0.0")
    deleted = provider.parse_webhook({"X-Event-Key": "repo:push"}, body("bitbucket_push_delete.json"))
    assert deleted.deleted and deleted.commit_sha is None


@pytest.mark.parametrize(
    ("key", "fixture", "action", "fork"),
    [
        ("pullrequest:created", "bitbucket_pullrequest_created.json", "opened", False),
        ("pullrequest:updated", "bitbucket_pullrequest_created.json", "updated", False),
        ("pullrequest:fulfilled", "bitbucket_pullrequest_fulfilled.json", "merged", False),
        ("pullrequest:rejected", "bitbucket_pullrequest_fulfilled.json", "closed", False),
        ("pullrequest:created", "bitbucket_pullrequest_fork_created.json", "opened", True),
    ],
)
def test_pull_requests(key: str, fixture: str, action: str, fork: bool) -> None:
    event = BitbucketProvider().parse_webhook({"X-Event-Key": key}, body(fixture))
    assert (event.kind, event.pr_action, event.pr_is_fork) == ("pull_request", action, fork)
    assert (event.ref, event.pr_head_ref) == ("main", "header")
    assert event.repo_urls[0] == "https://bitbucket.org/acme/site.git"


def test_ping_and_other() -> None:
    provider = BitbucketProvider()
    assert provider.parse_webhook({"X-Event-Key": "diagnostics:ping"}, b"").kind == "ping"
    assert provider.parse_webhook({"X-Event-Key": "issue:created"}, b"{}").kind == "other"
