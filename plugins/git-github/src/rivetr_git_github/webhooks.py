"""Parsing GitHub and Gitea webhook payloads into :class:`~rivetr_core.contract.WebhookEvent`.

Gitea sends GitHub-shaped JSON (push: ``ref``/``after``/``head_commit``/``repository.clone_url``; pull
requests: ``action``/``number``/``pull_request.head``/``base``), so one parser serves both; only header
names and a few action words differ (GitHub ``synchronize``, Gitea ``synchronized``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rivetr_core.contract import WebhookEvent
from rivetr_core.contract.git import PrAction, WebhookKind
from rivetr_core.contract.signing import header, json_object

ZERO_SHA = "0" * 40
_UPDATED = {"synchronize", "synchronized", "reopened", "edited_head"}


def repo_urls(repo: Mapping[str, Any] | None) -> list[str]:
    if not repo:
        return []
    keys = ("clone_url", "ssh_url", "git_url", "html_url", "url")
    urls = [repo[k] for k in keys if isinstance(repo.get(k), str) and repo.get(k)]
    # ``url`` is the API URL on GitHub (api.github.com/repos/...): it never names a clone remote.
    return [u for u in urls if "/api/" not in u and "api.github.com" not in u]


def parse(provider: str, event_name: str | None, delivery_id: str | None, body: bytes) -> WebhookEvent:
    payload = json_object(body)
    base: dict[str, Any] = {"provider": provider, "delivery_id": delivery_id, "raw_event": event_name}
    repo = payload.get("repository") or {}
    common: dict[str, Any] = {
        "repo_urls": repo_urls(repo),
        "repo_full_name": repo.get("full_name"),
        "repo_id": str(repo["id"]) if repo.get("id") is not None else None,
        "sender": (payload.get("sender") or {}).get("login"),
    }
    if event_name == "ping" or (event_name is None and "zen" in payload):
        return WebhookEvent(kind="ping", **base, **common)
    if event_name == "push":
        return _push(payload, base, common)
    if event_name == "pull_request":
        return _pull_request(payload, base, common)
    return WebhookEvent(kind="other", **base, **common)


def _push(payload: dict[str, Any], base: dict[str, Any], common: dict[str, Any]) -> WebhookEvent:
    ref = payload.get("ref")
    if not isinstance(ref, str):
        raise ValueError("push payload has no ref")
    kind: WebhookKind = "tag" if ref.startswith("refs/tags/") else "push"
    name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    after = payload.get("after") or None
    head = payload.get("head_commit") or {}
    message = head.get("message")
    if message is None:
        commits = payload.get("commits") or []
        message = next((c.get("message") for c in reversed(commits) if c.get("id") == after), None)
    deleted = bool(payload.get("deleted")) or after == ZERO_SHA
    return WebhookEvent(
        kind=kind,
        ref=name,
        commit_sha=None if deleted else (head.get("id") or after),
        commit_message=message,
        deleted=deleted,
        **base,
        **common,
    )


def _pull_request(payload: dict[str, Any], base: dict[str, Any], common: dict[str, Any]) -> WebhookEvent:
    pr = payload.get("pull_request")
    if not isinstance(pr, dict):
        raise ValueError("pull_request payload has no pull_request object")
    number = payload.get("number", pr.get("number"))
    action = payload.get("action")
    pr_action: PrAction
    if action == "opened":
        pr_action = "opened"
    elif action in _UPDATED:
        pr_action = "updated"
    elif action == "closed":
        pr_action = "merged" if pr.get("merged") else "closed"
    else:
        pr_action = "other"
    head, base_side = pr.get("head") or {}, pr.get("base") or {}
    head_repo, base_repo = head.get("repo"), base_side.get("repo") or {}
    # A deleted fork leaves head.repo null: treat it as a fork (no secrets) rather than trusting it.
    is_fork = (
        head_repo is None
        or (head_repo.get("full_name") or "").lower()
        != (base_repo.get("full_name") or common.get("repo_full_name") or "").lower()
    )
    head_urls = repo_urls(head_repo)
    urls = repo_urls(base_repo) or common["repo_urls"]
    return WebhookEvent(
        kind="pull_request",
        ref=base_side.get("ref"),
        commit_sha=head.get("sha"),
        commit_message=None,
        pr_number=int(number) if number is not None else None,
        pr_action=pr_action,
        pr_head_repo_url=head_urls[0] if head_urls else None,
        pr_is_fork=is_fork,
        pr_head_ref=head.get("ref"),
        pr_title=pr.get("title"),
        **base,
        **{**common, "repo_urls": urls},
    )


def github_delivery(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    return header(headers, "X-GitHub-Event"), header(headers, "X-GitHub-Delivery")


def gitea_delivery(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    # Gitea also sends X-GitHub-Event for compatibility; its own header wins.
    event = (
        header(headers, "X-Gitea-Event")
        or header(headers, "X-Gogs-Event")
        or header(headers, "X-GitHub-Event")
    )
    delivery = header(headers, "X-Gitea-Delivery") or header(headers, "X-Gogs-Delivery")
    return event, delivery
