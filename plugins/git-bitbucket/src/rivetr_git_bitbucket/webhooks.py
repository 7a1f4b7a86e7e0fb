"""Parsing Bitbucket Cloud webhook payloads (``X-Event-Key``: ``repo:push``, ``pullrequest:*``).

A push carries ``push.changes[]``, each with ``new`` (null when the branch/tag was deleted) of ``type``
``branch``/``tag`` and ``target.hash``/``target.message``. Pull requests carry ``pullrequest`` with ``id``,
``source``/``destination`` (``branch.name``, ``commit.hash``, ``repository.full_name``). Bitbucket's payloads
name no clone URL, so clone URLs are derived from ``repository.links.html.href``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rivetr_core.contract import WebhookEvent
from rivetr_core.contract.git import PrAction, WebhookKind
from rivetr_core.contract.signing import header, json_object

_PR_ACTIONS: dict[str, PrAction] = {
    "pullrequest:created": "opened",
    "pullrequest:updated": "updated",
    "pullrequest:fulfilled": "merged",
    "pullrequest:rejected": "closed",
}


def repo_urls(repo: Mapping[str, Any] | None) -> list[str]:
    """https and ssh clone URLs of a repository object (from its web link, else bitbucket.org)."""
    if not repo or not repo.get("full_name"):
        return []
    href = ((repo.get("links") or {}).get("html") or {}).get("href") or ""
    host = urlsplit(href).hostname or "bitbucket.org"
    full = repo["full_name"]
    return [f"https://{host}/{full}.git", f"git@{host}:{full}.git"]


def delivery(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    return header(headers, "X-Event-Key"), header(headers, "X-Request-UUID") or header(
        headers, "X-Request-Id"
    )


def parse(provider: str, event_key: str | None, delivery_id: str | None, body: bytes) -> WebhookEvent:
    if event_key == "diagnostics:ping":
        return WebhookEvent(provider=provider, kind="ping", delivery_id=delivery_id, raw_event=event_key)
    payload = json_object(body)
    repo = payload.get("repository") or {}
    base: dict[str, Any] = {
        "provider": provider,
        "delivery_id": delivery_id,
        "raw_event": event_key,
        "repo_urls": repo_urls(repo),
        "repo_full_name": repo.get("full_name"),
        "repo_id": repo.get("uuid"),
        "sender": (payload.get("actor") or {}).get("nickname")
        or (payload.get("actor") or {}).get("username"),
    }
    if event_key == "repo:push":
        return _push(payload, base)
    if event_key in _PR_ACTIONS:
        return _pull_request(payload, event_key, base)
    return WebhookEvent(kind="other", **base)


def _push(payload: dict[str, Any], base: dict[str, Any]) -> WebhookEvent:
    changes = (payload.get("push") or {}).get("changes")
    if not isinstance(changes, list) or not changes:
        raise ValueError("repo:push payload has no push.changes")
    # The last change with a new head is the state to deploy; a change whose new side is null deletes.
    change = next((c for c in reversed(changes) if c.get("new")), changes[-1])
    new, old = change.get("new"), change.get("old") or {}
    side = new or old
    kind: WebhookKind = "tag" if side.get("type") == "tag" else "push"
    target = (new or {}).get("target") or {}
    return WebhookEvent(
        kind=kind,
        ref=side.get("name"),
        commit_sha=target.get("hash"),
        commit_message=target.get("message"),
        deleted=new is None,
        **base,
    )


def _pull_request(payload: dict[str, Any], event_key: str, base: dict[str, Any]) -> WebhookEvent:
    pr = payload.get("pullrequest")
    if not isinstance(pr, dict):
        raise ValueError("pullrequest payload has no pullrequest object")
    source, destination = pr.get("source") or {}, pr.get("destination") or {}
    source_repo, dest_repo = source.get("repository") or {}, destination.get("repository") or {}
    source_name = (source_repo.get("full_name") or "").lower()
    is_fork = (
        not source_name or source_name != (dest_repo.get("full_name") or base["repo_full_name"] or "").lower()
    )
    head_urls = repo_urls(source_repo)
    urls = repo_urls(dest_repo) or base["repo_urls"]
    return WebhookEvent(
        kind="pull_request",
        ref=(destination.get("branch") or {}).get("name"),
        commit_sha=(source.get("commit") or {}).get("hash"),
        pr_number=pr.get("id"),
        pr_action=_PR_ACTIONS[event_key],
        pr_head_repo_url=head_urls[0] if head_urls else None,
        pr_is_fork=is_fork,
        pr_head_ref=(source.get("branch") or {}).get("name"),
        pr_title=pr.get("title"),
        **{**base, "repo_urls": urls},
    )
