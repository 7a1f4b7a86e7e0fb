"""GitLab provider: X-Gitlab-Token checks and documented payload shapes (push, tag push, merge requests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rivetr_git_gitlab.api import project_path
from rivetr_git_gitlab.provider import GitLabProvider

FIXTURES = Path(__file__).parent / "fixtures"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"X-Gitlab-Token": "s3cret-token"}, True),
        ({"x-gitlab-token": "s3cret-token"}, True),
        ({"X-Gitlab-Token": "s3cret-token "}, False),
        ({"X-Gitlab-Token": "wrong"}, False),
        ({"X-Gitlab-Token": ""}, False),
        ({}, False),
    ],
)
def test_token(headers: dict[str, str], ok: bool) -> None:
    assert GitLabProvider().verify_webhook(headers, b"{}", "s3cret-token") is ok


def test_empty_configured_token_never_verifies() -> None:
    assert not GitLabProvider().verify_webhook({"X-Gitlab-Token": ""}, b"{}", "")


def test_push() -> None:
    event = GitLabProvider().parse_webhook(
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e"},
        body("gitlab_push.json"),
    )
    assert (event.kind, event.ref, event.delivery_id) == (
        "push",
        "main",
        "13792a34-cac6-4fda-95a8-c58e00a3954e",
    )
    assert event.commit_sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.commit_message == "fixed readme"  # the head commit's, not the first one's
    assert "https://gitlab.example.com/acme/site.git" in event.repo_urls
    assert "git@gitlab.example.com:acme/site.git" in event.repo_urls
    assert (event.repo_full_name, event.repo_id, event.sender) == ("acme/site", "15", "jsmith")


def test_tag_push() -> None:
    event = GitLabProvider().parse_webhook({"X-Gitlab-Event": "Tag Push Hook"}, body("gitlab_tag_push.json"))
    assert (event.kind, event.ref, event.commit_sha) == (
        "tag",
        "v1.0.0",
        "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
    )


@pytest.mark.parametrize(
    ("fixture", "action", "fork", "iid"),
    [
        ("gitlab_merge_request_open.json", "opened", False, 1),
        ("gitlab_merge_request_update.json", "updated", False, 1),
        ("gitlab_merge_request_update_title.json", "other", False, 1),  # metadata only: no new commit
        ("gitlab_merge_request_merge.json", "merged", False, 1),
        ("gitlab_merge_request_fork_open.json", "opened", True, 2),
    ],
)
def test_merge_requests(fixture: str, action: str, fork: bool, iid: int) -> None:
    event = GitLabProvider().parse_webhook({"X-Gitlab-Event": "Merge Request Hook"}, body(fixture))
    assert (event.kind, event.pr_action, event.pr_is_fork, event.pr_number) == (
        "pull_request",
        action,
        fork,
        iid,
    )
    assert (event.ref, event.pr_head_ref) == ("main", "ms-viewport")
    assert event.commit_sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert event.repo_urls[0] == "https://gitlab.example.com/acme/site.git"


def test_other_events_and_bad_bodies() -> None:
    provider = GitLabProvider()
    assert (
        provider.parse_webhook({"X-Gitlab-Event": "Issue Hook"}, b'{"object_kind": "issue"}').kind == "other"
    )
    with pytest.raises(ValueError):
        provider.parse_webhook({"X-Gitlab-Event": "Push Hook"}, b"<html>")
    with pytest.raises(ValueError):
        provider.parse_webhook({"X-Gitlab-Event": "Push Hook"}, b'{"object_kind": "push"}')


def test_endpoints_and_project_paths() -> None:
    endpoints = GitLabProvider().oauth_endpoints("https://gitlab.example.com/", None)
    assert endpoints.api_url == "https://gitlab.example.com/api/v4"
    assert endpoints.token_url == "https://gitlab.example.com/oauth/token"
    assert project_path("group/sub/site") == "group%2Fsub%2Fsite" and project_path("42") == "42"
