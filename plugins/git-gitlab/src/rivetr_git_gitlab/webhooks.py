"""Parsing GitLab webhook payloads (``Push Hook``, ``Tag Push Hook``, ``Merge Request Hook``).

GitLab names the repository in ``project`` (``git_http_url``, ``git_ssh_url``, ``web_url``) and, in older
payloads, ``repository``; merge requests carry ``object_attributes`` with ``iid`` (the number users see),
``action`` (open / reopen / update / close / merge / approved …), ``source``/``target`` projects and
``last_commit``. An ``update`` without ``oldrev`` changed only metadata (title, labels): not a new commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rivetr_core.contract import WebhookEvent
from rivetr_core.contract.git import PrAction
from rivetr_core.contract.signing import header, json_object

ZERO_SHA = "0" * 40


def _urls(*objs: Mapping[str, Any] | None) -> list[str]:
    urls: list[str] = []
    for obj in objs:
        for key in ("git_http_url", "git_ssh_url", "http_url", "ssh_url", "web_url", "homepage", "url"):
            value = (obj or {}).get(key)
            if isinstance(value, str) and value and value not in urls:
                urls.append(value)
    return urls


def delivery(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    uuid = header(headers, "X-Gitlab-Event-UUID") or header(headers, "Idempotency-Key")
    return header(headers, "X-Gitlab-Event"), uuid


def parse(provider: str, event_name: str | None, delivery_id: str | None, body: bytes) -> WebhookEvent:
    payload = json_object(body)
    kind = payload.get("object_kind") or payload.get("event_name")
    project = payload.get("project") or {}
    base: dict[str, Any] = {
        "provider": provider,
        "delivery_id": delivery_id,
        "raw_event": event_name or kind,
        "repo_urls": _urls(project, payload.get("repository")),
        "repo_full_name": project.get("path_with_namespace"),
        "repo_id": str(project["id"])
        if project.get("id") is not None
        else (str(payload["project_id"]) if payload.get("project_id") is not None else None),
    }
    if kind in ("push", "tag_push"):
        return _push(payload, kind, base)
    if kind == "merge_request":
        return _merge_request(payload, base)
    return WebhookEvent(kind="other", **base)


def _push(payload: dict[str, Any], kind: str, base: dict[str, Any]) -> WebhookEvent:
    ref = payload.get("ref")
    if not isinstance(ref, str):
        raise ValueError("push payload has no ref")
    after = payload.get("checkout_sha") or payload.get("after")
    deleted = payload.get("after") == ZERO_SHA or after in (None, ZERO_SHA)
    commits = payload.get("commits") or []
    message = next((c.get("message") for c in commits if c.get("id") == after), None)
    if message is None and commits:
        message = commits[-1].get("message")
    is_tag = kind == "tag_push" or ref.startswith("refs/tags/")
    return WebhookEvent(
        kind="tag" if is_tag else "push",
        ref=ref.removeprefix("refs/heads/").removeprefix("refs/tags/"),
        commit_sha=None if deleted else after,
        commit_message=message,
        deleted=deleted,
        sender=payload.get("user_username"),
        **base,
    )


_ACTIONS: dict[str, PrAction] = {"open": "opened", "reopen": "updated", "close": "closed", "merge": "merged"}


def _merge_request(payload: dict[str, Any], base: dict[str, Any]) -> WebhookEvent:
    attrs = payload.get("object_attributes")
    if not isinstance(attrs, dict):
        raise ValueError("merge_request payload has no object_attributes")
    action = attrs.get("action")
    pr_action: PrAction
    if action == "update":
        pr_action = "updated" if attrs.get("oldrev") else "other"
    else:
        pr_action = _ACTIONS.get(action or "", "other")
    source, target = attrs.get("source") or {}, attrs.get("target") or {}
    source_id, target_id = attrs.get("source_project_id"), attrs.get("target_project_id")
    is_fork = source_id is None or target_id is None or source_id != target_id
    head_urls = _urls(source)
    last_commit = attrs.get("last_commit") or {}
    urls = _urls(target) + [u for u in base["repo_urls"] if u not in _urls(target)]
    iid = attrs.get("iid")
    return WebhookEvent(
        kind="pull_request",
        ref=attrs.get("target_branch"),
        commit_sha=last_commit.get("id"),
        commit_message=last_commit.get("message"),
        pr_number=int(iid) if iid is not None else None,
        pr_action=pr_action,
        pr_head_repo_url=head_urls[0] if head_urls else None,
        pr_is_fork=is_fork,
        pr_head_ref=attrs.get("source_branch"),
        pr_title=attrs.get("title"),
        sender=(payload.get("user") or {}).get("username"),
        **{**base, "repo_urls": urls},
    )
