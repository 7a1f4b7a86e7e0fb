"""Pull/merge-request previews (``ctx.services["previews"]``).

A preview is deployed through the pipeline's ordinary service API as its own *preview app*: a copy of the
base app's build/run settings named ``<app>-pr-<n>``, cloning the PR's head (the fork's repository for a
fork's PR) at the head commit, served at ``pr-<n>.<app>.<[proxy] preview_domain>``. Its env vars are the base
app's minus secrets; secrets are copied only when the app allows it (``preview_secrets``) and never for a
fork's PR, which also never gets the app's git token or SSH key. Closing or merging removes the preview app
through ``AppService.delete`` (containers, routes, images, rows); it is created and refreshed through
``AppService.sync_preview_app``, so plugins hear of it like of any app (``rivetr_on_app_created``).

The preview URL is posted as one PR/MR comment through the provider API with a connected account (the
app's linked one, else any account of that provider) and edited, not duplicated, on later pushes.
Preview apps are marked by ``git_previews.preview_app_id``; push webhooks never deploy them directly.

A fork's code is untrusted. ``[previews] forks`` decides: ``approve`` (default) lists the PR as
``awaiting_approval`` and builds only after ``POST /api/previews/{id}/approve`` — per head commit, so a push
after an approval waits again (the approved version keeps serving meanwhile), as GitHub Actions, Vercel and
Netlify do for outside contributors; ``never`` lists it as ``rejected`` and builds nothing; ``always`` builds
at once. Whatever the policy, a fork's build and container run isolated (see the pipeline's ``untrusted``).
``[previews] max_per_app`` caps the previews with a preview app; a PR beyond it is listed as
``limit_reached`` and built on its next push once a slot is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract import WebhookEvent
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.git import AppGitSettings, Preview
from rivetr_core.services.errors import ServiceNotRunning

from .matching import branch_matches

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery

log = logging.getLogger("rivetr.previews")

COMMENT_MARKER = "<!-- rivetr-preview -->"
WATCH_POLL = 0.5
WATCH_LIMIT = 3600.0
FINAL = ("running", "failed", "cancelled", "superseded", "replaced")
#: Statuses of a preview recorded without building anything.
HELD = ("awaiting_approval", "rejected", "limit_reached")


@dataclass
class PreviewOutcome:
    status: int
    outcome: str
    reason: str | None = None
    deployments: list[str] = field(default_factory=list)
    app_ids: list[str] = field(default_factory=list)
    previews: list[str] = field(default_factory=list)


def preview_app_name(app_name: str, number: int) -> str:
    """``<app>-pr-<n>``, shortened with a hash when the app name leaves no room (names are ≤ 63)."""
    suffix = f"-pr-{number}"
    name = app_name + suffix
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(app_name.encode()).hexdigest()[:6]
    return f"{app_name[: 63 - len(suffix) - 7].rstrip('-')}-{digest}{suffix}"


def running_pipeline(ctx: Any) -> Any:
    """``ctx.services["deployments"]``; ``ServiceNotRunning`` (503) while the pipeline is not running."""
    service = ctx.services.get("deployments")
    if service is None:
        raise ServiceNotRunning("the deployment pipeline is not running")
    return service


class PreviewService:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._watchers: dict[str, asyncio.Task[Any]] = {}
        # One lock per base app: admitting a PR counts the app's live previews, so two PRs of one app must not
        # be admitted at once (the cap would be passed by both).
        self._locks: dict[str, asyncio.Lock] = {}

    # ---------------------------------------------------------------------------------------- queries
    def preview_domain(self) -> str | None:
        domain = self.ctx.config.proxy.preview_domain
        return domain.strip(".").lower() if domain else None

    def url_of(self, domain: str) -> str:
        proxy = self.ctx.config.proxy
        scheme = "https" if proxy.acme_enabled else "http"
        port = (
            self.ctx.config.server.proxy_https_port
            if proxy.acme_enabled
            else self.ctx.config.server.proxy_port
        )
        return f"{scheme}://{domain}" + ("" if port in (0, 80, 443) else f":{port}")

    async def list_for_app(self, app_id: str) -> list[Preview]:
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
            rows = await session.exec(
                select(Preview).where(Preview.app_id == app_id).order_by(col(Preview.pr_number).desc())
            )
            return list(rows.all())

    async def page(self, app_id: str, page: PageQuery) -> tuple[list[Preview], str | None]:
        """A page of the app's previews, newest PR first (keyed on the PR number, then id), removed and held
        ones included; ``NotFound`` for an unknown app."""
        from rivetr_core.pagination import list_page

        rows = await self.list_for_app(app_id)
        return list_page(rows, lambda r: (r.pr_number, r.id), (int, str), page, descending=True)

    def json(self, row: Preview) -> dict[str, Any]:
        """A preview as the API shows it, with its URL on this server."""
        return preview_json(row, self.url_of(row.domain))

    async def get(self, preview_id: str) -> Preview:
        async with self.ctx.db.session() as session:
            row = await session.get(Preview, preview_id)
        if row is None:
            raise NotFound.of("preview", preview_id)
        return row

    def pipeline(self) -> Any:
        return running_pipeline(self.ctx)

    # ---------------------------------------------------------------------------------------- webhooks
    async def handle(
        self, event: WebhookEvent, apps: list[App], settings: dict[str, AppGitSettings]
    ) -> PreviewOutcome:
        """React to one verified pull/merge-request event for the apps of its base repository."""
        number = event.pr_number
        if number is None:
            return PreviewOutcome(200, "ignored", "pull request event without a number")
        targets = [a for a in apps if branch_matches(a.branch, event.ref)]
        if not targets:
            return PreviewOutcome(200, "ignored", f"no app follows the PR's base branch {event.ref!r}")
        if event.pr_action in ("closed", "merged"):
            removed = []
            for app in targets:
                row = await self._find(app.id, number)
                if row is not None and row.status != "removed":
                    await self.remove(row, reason=f"pull request {event.pr_action}")
                    removed.append(row.id)
            if not removed:
                return PreviewOutcome(200, "ignored", f"no preview of PR #{number} to remove")
            return PreviewOutcome(200, "removed", None, app_ids=[a.id for a in targets], previews=removed)
        if event.pr_action not in ("opened", "updated"):
            return PreviewOutcome(
                200,
                "ignored",
                f"pull request action {event.raw_event or ''} ({event.pr_action}) does not change the code",
            )
        domain_base = self.preview_domain()
        if domain_base is None:
            return PreviewOutcome(200, "ignored", "previews need [proxy] preview_domain")
        enabled = [a for a in targets if settings[a.id].previews_enabled]
        if not enabled:
            return PreviewOutcome(200, "ignored", "previews are disabled for the matching apps")
        if not event.commit_sha:
            return PreviewOutcome(200, "ignored", "pull request event names no head commit")
        deployments, previews, held = [], [], []
        for app in enabled:
            row, dep_id = await self.admit(app, event, settings[app.id], domain_base)
            previews.append(row.id)
            if dep_id is None:
                held.append(row)
            else:
                deployments.append(dep_id)
        app_ids = [a.id for a in enabled]
        if not deployments:
            # "rejected" is the delivery log's word for a bad signature: a refused fork PR is "ignored" there.
            outcome = "ignored" if held[0].status == "rejected" else held[0].status
            return PreviewOutcome(200, outcome, held[0].reason, app_ids=app_ids, previews=previews)
        reason = "; ".join(r.reason for r in held if r.reason) or None
        return PreviewOutcome(
            202, "deployed", reason, deployments=deployments, app_ids=app_ids, previews=previews
        )

    async def _find(self, app_id: str, number: int) -> Preview | None:
        async with self.ctx.db.session() as session:
            return (
                await session.exec(
                    select(Preview).where(Preview.app_id == app_id, Preview.pr_number == number)
                )
            ).first()

    async def _live_count(self, app_id: str, except_number: int) -> int:
        """Previews of the app that have a preview app (containers, route), other than PR ``except_number``."""
        async with self.ctx.db.session() as session:
            rows = await session.exec(
                select(Preview.id).where(
                    Preview.app_id == app_id,
                    col(Preview.preview_app_id).is_not(None),
                    Preview.pr_number != except_number,
                )
            )
            return len(rows.all())

    # ---------------------------------------------------------------------------------------- admitting
    async def admit(
        self, app: App, event: WebhookEvent, settings: AppGitSettings, domain_base: str
    ) -> tuple[Preview, str | None]:
        """Build the PR's head, or record why not (``[previews] forks``, ``max_per_app``): the preview row and
        the deployment id (None when held)."""
        policy = self.ctx.config.previews
        async with self._locks.setdefault(app.id, asyncio.Lock()):
            row = await self._row_for(app, event, domain_base)
            if event.pr_is_fork and policy.forks == "never":
                if row.preview_app_id:  # built under an earlier policy: a fork's code must not keep running
                    await self._delete_preview_app(row.preview_app_id)
                    row.preview_app_id = None
                reason = 'previews of pull requests from forks are off ([previews] forks = "never")'
                return await self._hold(row, "rejected", reason), None
            if not row.preview_app_id and await self._live_count(app.id, row.pr_number) >= policy.max_per_app:
                reason = (
                    f"{app.name} already has {policy.max_per_app} live previews ([previews] max_per_app); "
                    "close one, then push to this pull request again"
                )
                return await self._hold(row, "limit_reached", reason), None
            if event.pr_is_fork and policy.forks == "approve" and row.approved_sha != event.commit_sha:
                reason = (
                    f"pull request from the fork {event.repo_full_name or event.pr_head_repo_url or ''}: "
                    f"commit {(event.commit_sha or '')[:12]} is built once approved "
                    "(POST /api/previews/{id}/approve, rivetr previews approve, or the dashboard)"
                ).replace("  ", " ")
                held = await self._hold(row, "awaiting_approval", reason)
                self.ctx.spawn(
                    self._comment(
                        held,
                        settings.account_id,
                        f"⏸ Preview of `{(held.head_sha or '')[:7]}` waits for a maintainer's approval "
                        "(pull request from a fork).",
                    ),
                    f"preview-comment-{held.id[:8]}",
                )
                return held, None
            return await self._deploy_locked(app, event, settings, row)

    async def _row_for(self, app: App, event: WebhookEvent, domain_base: str) -> Preview:
        """The PR's preview row (a new one for a new PR) with its domain and the event's head; under the app's
        lock."""
        number = event.pr_number
        assert number is not None
        domain = f"pr-{number}.{app.name}.{domain_base}"
        row = await self._find(app.id, number)
        if row is None:
            row = Preview(app_id=app.id, provider=event.provider, pr_number=number, domain=domain)
        row.domain = domain
        self._take_head(row, event)
        return row

    @staticmethod
    def _take_head(row: Preview, event: WebhookEvent) -> None:
        row.head_ref, row.head_sha, row.is_fork = event.pr_head_ref, event.commit_sha, event.pr_is_fork
        row.head_repo_url = event.pr_head_repo_url or row.head_repo_url
        if event.provider == "gitlab" and event.repo_id:
            row.repo_full_name = event.repo_id
        else:
            row.repo_full_name = event.repo_full_name or row.repo_full_name

    async def _hold(self, row: Preview, status: str, reason: str) -> Preview:
        row.status, row.reason, row.error, row.updated_at = status, reason[:500], None, utcnow()
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        log.info("preview of PR #%s held (%s): %s", row.pr_number, status, reason)
        return row

    async def approve(self, preview_id: str) -> tuple[Preview, str]:
        """Build a fork PR's head commit that waits for approval; the approval covers that commit only."""
        row = await self.get(preview_id)
        async with self._locks.setdefault(row.app_id, asyncio.Lock()):
            row = await self.get(preview_id)
            if row.status != "awaiting_approval":
                raise Conflict(
                    f"preview of PR #{row.pr_number} is {row.status}, not awaiting approval",
                    code="not_awaiting_approval",
                    details={"status": row.status},
                )
            policy = self.ctx.config.previews
            if row.is_fork and policy.forks == "never":
                raise Conflict('fork previews are off ([previews] forks = "never")', code="forks_disabled")
            domain_base = self.preview_domain()
            if domain_base is None:
                raise Conflict("previews need [proxy] preview_domain", code="previews_unavailable")
            async with self.ctx.db.session() as session:
                app = await session.get(App, row.app_id)
            if app is None:
                raise Conflict("the preview's app was deleted", code="app_deleted")
            if not row.preview_app_id and await self._live_count(app.id, row.pr_number) >= policy.max_per_app:
                raise Conflict(
                    f"{app.name} already has {policy.max_per_app} live previews ([previews] max_per_app)",
                    code="limit_reached",
                )
            settings = await self.ctx.services.webhooks.settings.get(app.id)
            event = WebhookEvent(
                provider=row.provider,
                kind="pull_request",
                delivery_id=None,
                ref=app.branch,
                commit_sha=row.head_sha,
                pr_number=row.pr_number,
                pr_action="updated",
                pr_head_repo_url=row.head_repo_url,
                pr_is_fork=row.is_fork,
                repo_full_name=row.repo_full_name,
                pr_head_ref=row.head_ref,
            )
            row.approved_sha = row.head_sha
            row.domain = f"pr-{row.pr_number}.{app.name}.{domain_base}"
            row, dep_id = await self._deploy_locked(app, event, settings, row)
        log.info("preview of PR #%s approved at %s", row.pr_number, (row.head_sha or "")[:12])
        return row, dep_id

    # ---------------------------------------------------------------------------------------- deploying
    async def deploy(
        self, app: App, event: WebhookEvent, settings: AppGitSettings, domain_base: str
    ) -> tuple[Preview, str]:
        """Build the PR's head now, whatever the policy (callers decide: :meth:`admit`, :meth:`approve`)."""
        async with self._locks.setdefault(app.id, asyncio.Lock()):
            row = await self._row_for(app, event, domain_base)
            return await self._deploy_locked(app, event, settings, row)

    async def _deploy_locked(
        self, app: App, event: WebhookEvent, settings: AppGitSettings, row: Preview
    ) -> tuple[Preview, str]:
        number = row.pr_number
        domain = row.domain
        preview_app_id = await self._sync_preview_app(app, row, event, settings, domain)
        accounts = self.ctx.services.get("git_accounts")
        if accounts is not None and settings.account_id and not event.pr_is_fork:
            try:  # same-repo PR of a private repo: clone with a fresh token of the linked account
                await accounts.sync_app_token(preview_app_id, settings.account_id)
            except Exception as exc:
                log.warning("no fresh clone token for preview of PR #%s: %s", number, exc)
        self.pipeline()  # 503 while the pipeline is not running
        row.preview_app_id = preview_app_id
        row.status, row.error, row.reason, row.updated_at = "deploying", None, None, utcnow()
        # Committed before the deployment is queued: the pipeline's snapshot finds a fork's preview app through
        # this row and builds and runs it isolated. Committed after, a fast pipeline could build a fork's code
        # with no isolation (seen in CI: no "untrusted build" line in the fork's deployment log).
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        try:
            dep = await self.ctx.services.apps.deploy(
                preview_app_id, commit=event.commit_sha, trigger=f"preview:{event.provider}#{number}"[:40]
            )
        except Exception as exc:  # not queued: the row must not stay "deploying"
            row.status, row.error, row.updated_at = "failed", str(exc)[:2000], utcnow()
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
            raise
        row.deployment_id = dep.id
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
        self._watch(row.id, dep.id, settings.account_id)
        return row, dep.id

    async def _sync_preview_app(
        self, app: App, row: Preview, event: WebhookEvent, settings: AppGitSettings, domain: str
    ) -> str:
        """Create or refresh the hidden preview app: settings copied from the base app, env filtered."""
        fork = event.pr_is_fork
        if fork and not event.pr_head_repo_url:
            raise ValidationFailed(
                f"PR #{event.pr_number} comes from a fork whose repository is unknown",
                code="preview_unavailable",
            )
        # Through the app service: its rules and events (``rivetr_on_app_created``) apply to preview apps too.
        return await self.ctx.services.apps.sync_preview_app(
            app,
            row.preview_app_id,
            name=preview_app_name(app.name, row.pr_number),
            git_url=(event.pr_head_repo_url if fork else app.git_url) or app.git_url,
            branch=event.pr_head_ref or app.branch,
            domain=domain,
            trusted=not fork,
            with_secrets=settings.preview_secrets and not fork,
            extra_env={"RIVETR_PREVIEW": "true", "RIVETR_PR_NUMBER": str(row.pr_number)},
        )

    # ----------------------------------------------------------------------------------------- removing
    async def remove(self, row: Preview, *, reason: str = "removed", delete_row: bool = False) -> None:
        """Remove the preview's containers, routes and images (via the pipeline), then mark or delete it."""
        watcher = self._watchers.pop(row.id, None)
        if watcher is not None:
            watcher.cancel()
        if row.preview_app_id:
            await self._delete_preview_app(row.preview_app_id)
        async with self.ctx.db.session() as session:
            stored = await session.get(Preview, row.id)
            if stored is not None:
                if delete_row:
                    await session.delete(stored)
                else:
                    stored.status, stored.preview_app_id, stored.updated_at = "removed", None, utcnow()
                    session.add(stored)
                await session.commit()
        row.status, row.preview_app_id = "removed", None
        if not delete_row:
            await self._comment(row, None, f"Preview removed ({reason}).")

    async def delete(self, preview_id: str) -> None:
        """Remove a preview now (containers, route, images) and its record; a later push deploys it again."""
        await self.remove(await self.get(preview_id), reason="deleted through the API", delete_row=True)

    async def _delete_preview_app(self, preview_app_id: str) -> None:
        self.pipeline()  # 503 while the pipeline is not running: it removes the containers
        async with self.ctx.db.session() as session:
            app = await session.get(App, preview_app_id)
            if app is None:
                return
            # "stopped" first: the pipeline's crash watcher restarts containers of *running* apps, and
            # delete_app removes the containers before the app row; without this a restart can slip in.
            app.status = "stopped"
            session.add(app)
            await session.commit()
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await self.ctx.services.apps.delete(preview_app_id)
        await self._remove_leftovers(preview_app_id)

    async def _remove_leftovers(self, preview_app_id: str) -> None:
        """Belt and braces after delete_app: no route or container of the preview app may survive."""
        routes = self.ctx.services.get("routes")
        if routes is not None:
            for route in await routes.list():
                if route.app_id == preview_app_id:
                    await routes.remove(route.domain)
        runtime = self.ctx.runtime_if_ready()
        if runtime is None:
            return
        try:
            leftovers = await runtime.list(labels=self.pipeline().labels(preview_app_id))
        except Exception as exc:
            log.warning("listing leftover preview containers failed: %s", exc)
            return
        for info in leftovers:
            log.warning("removing leftover container %s of preview app %s", info.name, preview_app_id)
            await self.pipeline().remove_container(runtime, info.id)

    async def sweep(self) -> int:
        """Remove previews whose base app was deleted (the preview row outlives it on purpose)."""
        async with self.ctx.db.session() as session:
            apps = select(App.id)
            orphans = (await session.exec(select(Preview).where(col(Preview.app_id).not_in(apps)))).all()
        for row in orphans:
            try:
                await self.remove(row, delete_row=True)
            except Exception:
                log.warning("removing orphaned preview %s failed", row.id, exc_info=True)
        return len(orphans)

    async def recover(self) -> int:
        """At start-up: previews left ``deploying`` by a stop follow their deployment again (the pipeline's
        own recovery has already failed interrupted deployments), so status and PR comment catch up."""
        async with self.ctx.db.session() as session:
            rows = (await session.exec(select(Preview).where(Preview.status == "deploying"))).all()
        for row in rows:
            if row.deployment_id:
                settings = await self.ctx.services.webhooks.settings.get(row.app_id)
                self._watch(row.id, row.deployment_id, settings.account_id)
        return len(rows)

    # ------------------------------------------------------------------------------------------ watching
    def _watch(self, preview_id: str, deployment_id: str, account_id: str | None) -> None:
        old = self._watchers.pop(preview_id, None)
        if old is not None:
            old.cancel()
        self._watchers[preview_id] = self.ctx.spawn(
            self._follow(preview_id, deployment_id, account_id), f"preview-{preview_id[:8]}"
        )

    async def _follow(self, preview_id: str, deployment_id: str, account_id: str | None) -> None:
        row = await self.get(preview_id)
        await self._comment(row, account_id, None)
        pipeline = self.pipeline()
        waited = 0.0
        try:
            dep = await pipeline.get_deployment(deployment_id)
            while dep.status not in FINAL and waited < WATCH_LIMIT:
                await asyncio.sleep(WATCH_POLL)
                waited += WATCH_POLL
                dep = await pipeline.get_deployment(deployment_id)
        except NotFound:  # the preview app (and its deployments) was removed meanwhile
            self._watchers.pop(preview_id, None)
            return
        async with self.ctx.db.session() as session:
            stored = await session.get(Preview, preview_id)
            if stored is None or stored.deployment_id != deployment_id or stored.status != "deploying":
                return  # a newer push took over (or waits for approval, or was removed)
            stored.status = "running" if dep.status == "running" else "failed"
            stored.error = None if dep.status == "running" else (dep.error or dep.status)
            stored.updated_at = utcnow()
            session.add(stored)
            await session.commit()
        await self._comment(stored, account_id, None)
        self._watchers.pop(preview_id, None)

    def comment_body(self, row: Preview, note: str | None) -> str:
        sha = (row.head_sha or "")[:7]
        if note:
            text = note
        elif row.status == "running":
            text = f"✅ Preview of `{sha}` is live: {self.url_of(row.domain)}"
        elif row.status == "failed":
            text = f"❌ Preview of `{sha}` failed: {(row.error or 'unknown error')[:300]}"
        else:
            text = f"⏳ Deploying a preview of `{sha}` to {self.url_of(row.domain)} …"
        return f"{COMMENT_MARKER}\n**Rivetr preview** — {text}"

    async def _comment(self, row: Preview, account_id: str | None, note: str | None) -> None:
        """Create or edit the PR comment; failures are logged, never fatal to the preview itself."""
        accounts = self.ctx.services.get("git_accounts")
        if accounts is None or not row.repo_full_name:
            return
        try:
            comment_id = await accounts.upsert_pr_comment(
                row.provider,
                account_id,
                row.repo_full_name,
                row.pr_number,
                self.comment_body(row, note),
                row.comment_id,
            )
        except Exception as exc:
            log.warning("preview comment on %s#%s failed: %s", row.repo_full_name, row.pr_number, exc)
            return
        if comment_id and comment_id != row.comment_id:
            row.comment_id = comment_id
            async with self.ctx.db.session() as session:
                stored = await session.get(Preview, row.id)
                if stored is not None:
                    stored.comment_id = comment_id
                    session.add(stored)
                    await session.commit()


PreviewStatus = Literal[
    "deploying", "running", "failed", "removed", "awaiting_approval", "rejected", "limit_reached"
]


class PreviewOut(ApiModel):
    id: str
    app_id: str
    preview_app_id: str | None = Field(description="The hidden app serving the preview (None while held).")
    provider: str
    pr_number: int
    repository: str | None
    head_ref: str | None
    head_sha: str | None = Field(description="The PR's head commit the preview builds (or waits to build).")
    is_fork: bool
    fork: bool = Field(description="The PR comes from a fork: its code is untrusted (approval, isolation).")
    approved_sha: str | None = Field(description="The fork head commit last approved.")
    reason: str | None = Field(description="Why a held preview is not built (awaiting_approval, ...).")
    domain: str
    url: str
    status: PreviewStatus = Field(
        description="awaiting_approval: a fork's head commit waits for POST /api/previews/{id}/approve; "
        'rejected: [previews] forks = "never"; limit_reached: [previews] max_per_app live previews exist.'
    )
    deployment_id: str | None
    comment_id: str | None
    error: str | None
    created_at: str | None
    updated_at: str | None


def preview_json(row: Preview, url: str) -> dict[str, Any]:
    """A preview as the API and the dashboard show it, built through :class:`PreviewOut`."""
    return PreviewOut(
        id=row.id,
        app_id=row.app_id,
        preview_app_id=row.preview_app_id,
        provider=row.provider,
        pr_number=row.pr_number,
        repository=row.repo_full_name,
        head_ref=row.head_ref,
        head_sha=row.head_sha,
        is_fork=row.is_fork,
        fork=row.is_fork,
        approved_sha=row.approved_sha,
        reason=row.reason,
        domain=row.domain,
        url=url,
        status=row.status,  # type: ignore[arg-type]
        deployment_id=row.deployment_id,
        comment_id=row.comment_id,
        error=row.error,
        created_at=isoformat(row.created_at),
        updated_at=isoformat(row.updated_at),
    ).model_dump(mode="json")
