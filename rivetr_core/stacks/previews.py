"""Pull/merge-request previews of compose stacks (a stack with ``previews`` on; see docs/compose.md, "Previews").

A preview is a stack of its own, ``<stack>-pr-<n>`` (``preview_of`` the base stack, ``pr_number`` n): the base's
file path, profiles and variables on the PR's head branch, in the base's project, each routed service at
``pr-<n>-<service>.<stack>.<[proxy] preview_domain>`` on the base's port. Opening or pushing to the PR deploys
it (only its changed services are touched, as for any stack); closing or merging deletes it with its volumes.

Only pull requests from the base stack's own repository are previewed: a fork's compose file could bind host
paths, publish ports and run any image, which no isolation of a single build contains (apps build forks on an
isolated network; a stack is more than a build). A webhook must be verified by the instance's secret or the
base stack's own, as for stack pushes.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import RivetrError

if TYPE_CHECKING:
    from rivetr_core.contract import WebhookEvent
    from rivetr_core.services.stacks import StackService

log = logging.getLogger("rivetr.stacks")

NAME_MAX = 40


def preview_name(base: str, number: int) -> str:
    """``<stack>-pr-<n>``, shortened with a hash of the base name when it would pass 40 characters."""
    suffix = f"-pr-{number}"
    if len(base) + len(suffix) <= NAME_MAX:
        return base + suffix
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    keep = NAME_MAX - len(suffix) - len(digest) - 1
    return f"{base[:keep].rstrip('-')}-{digest}{suffix}"


def preview_domain(number: int, service: str, stack: str, base_domain: str) -> str:
    return f"pr-{number}-{service}.{stack}.{base_domain}"


async def handle(svc: StackService, event: WebhookEvent, stacks: list[Any]) -> tuple[list[str], list[str]]:
    """Deploy or remove the previews of ``stacks`` (base stacks whose repository and branch the PR targets) for
    one PR event; returns ``(deployment ids, reasons)`` (a reason per stack left alone)."""
    deployments: list[str] = []
    reasons: list[str] = []
    number = event.pr_number
    if number is None:
        return [], ["no pull request number"]
    for base in stacks:
        if event.pr_is_fork:
            reasons.append(f"stack {base.name}: pull requests from forks are not previewed")
            continue
        existing = await _existing(svc, base.id, number)
        if event.pr_action in ("closed", "merged"):
            if existing is not None:
                await svc.delete(existing.id, volumes=True)
                reasons.append(f"stack {base.name}: preview {existing.name} removed")
            continue
        if event.pr_action not in ("opened", "updated"):
            reasons.append(f"stack {base.name}: pull request action {event.pr_action!r} is not handled")
            continue
        domain_base = svc.ctx.config.proxy.preview_domain
        if not domain_base:
            reasons.append(f"stack {base.name}: previews need [proxy] preview_domain")
            continue
        try:
            row = await _upsert(svc, base, existing, number, event.pr_head_ref or "", domain_base)
            dep = await svc.deploy(row.id, trigger="preview")
            deployments.append(dep.id)
        except RivetrError as exc:  # one stack's problem must not stop the others
            log.warning("preview of stack %s for PR %s failed: %s", base.name, number, exc.message)
            reasons.append(f"stack {base.name}: {exc.message}")
    return deployments, reasons


async def _existing(svc: StackService, base_id: str, number: int) -> Any:
    from rivetr_core.models.stacks import Stack

    async with svc.db.session() as session:
        rows = await session.exec(select(Stack).where(Stack.preview_of == base_id, Stack.pr_number == number))
        return rows.first()


async def _upsert(
    svc: StackService, base: Any, existing: Any, number: int, head_ref: str, domain_base: str
) -> Any:
    """The preview stack row, created or brought in line with its base (file path, profiles, variables,
    domains, repository credentials) at the PR's head branch."""
    domains = [
        {
            "domain": preview_domain(number, d.service, base.name, domain_base),
            "service": d.service,
            "port": d.port,
        }
        for d in await svc.domains(base.id)
    ]
    fields: dict[str, Any] = {
        "repo_url": base.repo_url,
        "branch": head_ref,
        "compose_path": base.compose_path,
        "profiles": list(base.profiles or ()),
        "domains": domains,
        "env": svc.env_of(base),
        # The same repository (forks are never previewed), so the base's credentials clone it.
        "ssh_key_id": base.ssh_key_id,
        "git_token": svc.token_of(base),
        "git_token_user": base.git_token_user,
    }
    if existing is not None:
        return await svc.update(existing.id, fields)
    return await svc.create(
        {
            **fields,
            "name": preview_name(base.name, number),
            "project_id": base.project_id,
            "source": "git",
            "preview_of": base.id,
            "pr_number": number,
        }
    )
