"""``WebhookService`` (``ctx.services["webhooks"]``): turn one received webhook into deployments, safely.

Order of a delivery (fail closed at every step):

0. **Size**: the body was read with ``[webhooks] max_body_bytes`` as its limit (413 above it, while reading:
   see :mod:`rivetr_core.api.webhooks`), so nothing here sees an unbounded body.
1. **Provider**: ``/webhooks/<name>`` must name a registered git provider (404 otherwise).
2. **Signature**: verified with the provider's instance secret (its plugin's section, e.g. ``[plugins.git-github]
   github_webhook_secret``: :data:`SECRET_KEYS`); failing that, with the
   per-app secrets of the apps and the per-stack secrets of the compose stacks the (still unverified) payload
   names. No secret anywhere → 401; no secret verifies → 401. A per-app (per-stack) secret authorises only the
   app (stack) it belongs to. Nothing is deployed, and nothing
   from the payload is stored, before this: a rejected attempt is logged with its provider, truncated event
   name and delivery id, the sender's address, the reason and the time only.
3. **Dedupe**: the delivery id *and* the SHA-256 of the signed body are claimed through unique columns, so a
   redelivery and a captured body replayed under a fresh delivery id both answer 200 ``duplicate``.
4. **Dispatch**: ping → 200 ``pong``; push → apps whose normalised git URL and branch match; tag push →
   apps following tags (glob); ``[skip ci]``/``[skip deploy]`` in the head commit → 200 ``skipped``;
   pull/merge request → :class:`~rivetr_core.webhooks.previews.PreviewService`.

Every delivery is logged (:mod:`.deliveries`) with its outcome; ``GET /api/webhook-events`` lists them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict, Field
from sqlmodel import select

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract import GitProvider, RivetrError, WebhookEvent
from rivetr_core.contract.errors import NotFound, ValidationFailed
from rivetr_core.errors import ApiError
from rivetr_core.models.apps import App
from rivetr_core.models.git import AppGitSettings, WebhookDelivery, not_a_preview_app

from .deliveries import DeliveryLog
from .matching import branch_matches, normalize_repo_url, repo_matches, skip_marker, tag_matches
from .previews import running_pipeline
from .settings import AppGitSettingsStore

log = logging.getLogger("rivetr.webhooks")

#: Where each bundled provider's instance secret is set (its plugin reads it and hands it over as
#: ``provider.webhook_secret``; the old ``[webhooks]`` keys still work for one release). A third-party
#: provider sets ``webhook_secret`` itself, or else ``[plugins.<provider name>] webhook_secret`` is read.
SECRET_KEYS = {
    "github": "[plugins.git-github] github_webhook_secret",
    "gitlab": "[plugins.git-gitlab] webhook_token",
    "gitea": "[plugins.git-github] gitea_webhook_secret",
    "bitbucket": "[plugins.git-bitbucket] webhook_secret",
}


def advertised_base_url(config: Any, request_base: str) -> str:
    """The base of the webhook URLs Rivetr tells users to give their git host (API and dashboard show them).

    ``[server] external_url`` when set (the public HTTPS address), else ``https://<[server] dashboard_domain>``
    (the proxy serves the API there over TLS), else the address this request came in on: a URL built from
    the request alone would advertise plain HTTP on the private API port, and webhook signatures do not hide
    the payload from anyone on the path.
    """
    server = config.server
    if server.external_url:
        return str(server.external_url).rstrip("/")
    if server.dashboard_domain:
        return f"https://{server.dashboard_domain}"
    return request_base.rstrip("/")


#: Longest event name and delivery id stored; real ones are far shorter (``Merge Request Hook``, a UUID).
EVENT_CHARS = 64
DELIVERY_ID_CHARS = 100


def clip(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters: SQLite does not enforce VARCHAR lengths, so every stored field
    from a request is clipped here, keeping each delivery row small whatever a sender puts in it."""
    return value[:limit] if value else None


class WebhookReceiptOut(ApiModel):
    """What the sender of a webhook gets back (keys without a value are left out)."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="deployed, pong, ignored, skipped, duplicate or removed.")
    event_id: str = Field(description="The delivery in GET /api/webhook-events.")
    reason: str | None = Field(None, description="Why nothing (or not everything) was deployed.")
    deployments: list[str] | None = Field(None, description="The deployments queued (202).")
    previews: list[str] | None = Field(None, description="The previews a pull-request event touched.")
    duplicate: bool | None = Field(None, description="True: this delivery (id or body) was seen before.")


@dataclass
class WebhookResult:
    status: int
    body: dict[str, Any]
    delivery: WebhookDelivery | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    """The delivery row of the request being handled, and whether it is in the database yet."""

    row: WebhookDelivery
    written: bool = False


class _Duplicate(Exception):
    """Another delivery with the same id or the same body was (or is being) processed."""


class InvalidSignature(RivetrError):
    """No secret is configured for the delivery, or none verifies its signature: nothing is deployed."""

    code = "invalid_signature"
    status = 401


class BadPayload(RivetrError):
    """A verified delivery whose body the provider cannot parse."""

    code = "bad_payload"
    status = 400


class DeployFailed(RivetrError):
    """A push matched apps but no deployment of any of them could be queued."""

    code = "deploy_failed"
    status = 503


class WebhookService:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.deliveries = DeliveryLog(ctx.db)
        self.settings = AppGitSettingsStore(ctx.db, ctx.secrets)
        self._providers: dict[str, GitProvider] = {}

    # ------------------------------------------------------------------------------------------ lookups
    def provider(self, name: str) -> GitProvider:
        if name not in self._providers:
            registration = self.ctx.plugins.git_providers().get(name)
            if registration is None:
                raise NotFound.of("git provider", name)
            self._providers[name] = registration.factory(self.ctx.plugin_context())
        return self._providers[name]

    def configured_secret(self, name: str) -> str | None:
        secret = getattr(self.provider(name), "webhook_secret", None)
        if secret:
            return str(secret)
        value = (self.ctx.config.plugins.get(name) or {}).get("webhook_secret")
        return str(value) if value else None

    async def repo_apps(self, urls: list[str]) -> list[App]:
        """Apps whose git URL names one of ``urls`` (preview apps excluded: PR events drive those)."""
        keys = {normalize_repo_url(u) for u in urls} - {""}
        if not keys:
            return []
        async with self.ctx.db.session() as session:
            apps = (await session.exec(select(App).where(not_a_preview_app()))).all()
        return [app for app in apps if repo_matches(app.git_url, urls)]

    async def repo_stacks(self, urls: list[str], branch: str | None) -> list[tuple[str, str]]:
        """``(id, name)`` of the compose stacks built from one of ``urls`` at ``branch`` (raw SQL: a server
        without stacks never loads the feature)."""
        keys = {normalize_repo_url(u) for u in urls} - {""}
        if not keys or not branch:
            return []
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT id, name, repo_url, branch FROM stacks WHERE source = 'git'")
                )
            ).all()
        return [
            (row[0], row[1])
            for row in rows
            if row[2] and repo_matches(row[2], urls) and branch_matches(row[3], branch)
        ]

    async def stack_secrets(self, urls: list[str]) -> dict[str, str]:
        """``{stack id: its own webhook secret}`` of the repository stacks whose URL is one of ``urls`` (raw SQL:
        checking a signature never loads the stacks feature)."""
        if not {normalize_repo_url(u) for u in urls} - {""}:
            return {}
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text(
                        "SELECT id, repo_url, webhook_secret_enc FROM stacks "
                        "WHERE source = 'git' AND webhook_secret_enc IS NOT NULL"
                    )
                )
            ).all()
        return {
            row[0]: self.ctx.secrets.decrypt(row[2]) for row in rows if row[1] and repo_matches(row[1], urls)
        }

    async def preview_stacks(self, urls: list[str], base_branch: str | None) -> list[str]:
        """Ids of the git stacks with previews on whose repository is one of ``urls`` and whose branch a pull
        request to ``base_branch`` targets (raw SQL: the stacks feature loads only when one matches)."""
        keys = {normalize_repo_url(u) for u in urls} - {""}
        if not keys or not base_branch:
            return []
        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text(
                        "SELECT id, repo_url, branch FROM stacks "
                        "WHERE source = 'git' AND previews AND preview_of IS NULL"
                    )
                )
            ).all()
        return [
            row[0]
            for row in rows
            if row[1] and repo_matches(row[1], urls) and branch_matches(row[2], base_branch)
        ]

    async def _stack_previews(self, event: WebhookEvent, stack_ids: list[str]) -> tuple[list[str], list[str]]:
        from rivetr_core.stacks.previews import handle

        stacks = self.ctx.services.stacks
        bases = [await stacks.get(stack_id) for stack_id in stack_ids]
        return await handle(stacks, event, bases)

    # ----------------------------------------------------------------------------------- the API's reads
    async def events(
        self, *, provider: str | None, outcome: str | None, limit: int, cursor: str | None
    ) -> tuple[list[WebhookDelivery], str | None]:
        """A page of the received webhooks, newest first, and the next page's cursor (None on the last)."""
        from rivetr_core.pagination import decode_time_id_cursor, encode_cursor

        rows = await self.deliveries.list(
            provider=provider,
            outcome=outcome,
            limit=limit + 1,  # one more: is there a next page?
            after=decode_time_id_cursor(cursor) if cursor else None,
        )
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, encode_cursor((rows[-1].received_at, rows[-1].id))

    async def _require_app(self, app_id: str) -> None:
        async with self.ctx.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)

    async def git_settings(self, app_id: str) -> AppGitSettings:
        """The app's git settings (defaults when it never set any); ``NotFound`` for an unknown app."""
        await self._require_app(app_id)
        return await self.settings.get(app_id)

    async def update_git_settings(
        self, app_id: str, fields: Mapping[str, Any], *, managed_ok: bool = False
    ) -> AppGitSettings:
        """Change the settings in ``fields`` (the others keep their value): ``webhook_secret`` empty removes
        it; ``tag_pattern``, ``repo_full_name`` and ``account_id`` empty clear them; the flags must be true or
        false. Linking an account (``account_id``) must name a connected one, whose token then clones the app
        from the next deployment on. 409 ``managed_by_file`` when a field is one of the ``git_settings`` of the
        app's repository file (nothing applied), unless ``managed_ok`` (that file's deployment, or ``rivetr
        apply`` once it checked its plan)."""
        if not managed_ok:
            from rivetr_core.iac.managed import refuse_managed_git

            await refuse_managed_git(self.ctx.db, app_id, fields)
        await self._require_app(app_id)
        changes: dict[str, Any] = {}
        for key in ("follow_tags", "auto_deploy", "previews_enabled", "preview_secrets"):
            if key in fields:
                if fields[key] is None:
                    raise ValidationFailed.on(key, "must be true or false")
                changes[key] = fields[key]
        if "tag_pattern" in fields:
            changes["tag_pattern"] = fields["tag_pattern"] or None
        if "repo_full_name" in fields:
            changes["repo_full_name"] = (fields["repo_full_name"] or "").strip("/") or None
        if "account_id" in fields:
            account_id = fields["account_id"] or None
            if account_id is not None:
                try:
                    await self.ctx.services.git_accounts.get(account_id)
                except Exception:
                    raise ValidationFailed.on("account_id", f"no connected account {account_id!r}") from None
            changes["account_id"] = account_id
        secret: dict[str, Any] = {}
        if "webhook_secret" in fields:
            secret["webhook_secret"] = fields["webhook_secret"] or None
        row = await self.settings.update(app_id, **secret, **changes)
        if row.account_id and "account_id" in changes:
            await self.ctx.services.git_accounts.sync_app_token(app_id, row.account_id)
        return row

    async def regenerate_webhook_secret(self, app_id: str) -> str:
        """A new random per-app webhook secret (the old one stops verifying at once); returned once."""
        import secrets

        await self._require_app(app_id)
        value = secrets.token_urlsafe(32)
        await self.settings.update(app_id, webhook_secret=value)
        return value

    async def webhook_secret(self, app_id: str) -> str | None:
        """The app's own webhook secret in the clear (callers check ``secrets.reveal`` first)."""
        return self.settings.secret_of(await self.git_settings(app_id))

    # ---------------------------------------------------------------------------------------- receiving
    async def receive(
        self,
        provider_name: str,
        headers: Mapping[str, str] | Any,
        body: bytes,
        *,
        remote_addr: str | None = None,
    ) -> WebhookResult:
        provider = self.provider(provider_name)
        try:
            # Parsed before verification only to find the apps whose own secrets may verify it: nothing of it
            # is stored or acted on until a signature did.
            event: WebhookEvent | None = provider.parse_webhook(headers, body)
            parse_error = None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            event, parse_error = None, str(exc) or type(exc).__name__
        # What a rejected attempt may leave behind: short, header-derived fields and the sender's address.
        row = WebhookDelivery(
            provider=provider_name,
            event=clip(event.raw_event, EVENT_CHARS) if event else None,
            delivery_id=clip(event.delivery_id, DELIVERY_ID_CHARS) if event else None,
            remote_addr=clip(remote_addr, 64),
        )

        allowed = await self._authorise(provider, provider_name, headers, body, event, row)

        # Verified: the payload may now be recorded (clipped to the columns' sizes).
        row.body_sha256 = hashlib.sha256(body).hexdigest()
        if event is None:
            row.outcome, row.status_code = "error", 400
            row.reason = clip(f"cannot parse payload: {parse_error}", 1000)
            await self.deliveries.add(row)
            raise BadPayload(row.reason or "", details={"event_id": row.id})
        row.kind = event.kind
        row.repository = clip(event.repo_full_name or (event.repo_urls[0] if event.repo_urls else None), 500)
        row.ref = clip(event.ref, 255)
        row.commit_sha = clip(event.commit_sha, 64)
        row.digest_key = f"{provider_name}:{row.body_sha256}"
        if row.delivery_id:
            row.dedupe_key = f"{provider_name}:{row.delivery_id}"
        pending = _Pending(row)
        try:
            return await self._dispatch(provider_name, event, allowed, pending)
        except _Duplicate:
            dup = WebhookDelivery(
                provider=row.provider,
                event=row.event,
                kind=row.kind,
                delivery_id=row.delivery_id,
                repository=row.repository,
                ref=row.ref,
                commit_sha=row.commit_sha,
                body_sha256=row.body_sha256,
                remote_addr=row.remote_addr,
                outcome="duplicate",
                status_code=200,
                reason=await self._duplicate_reason(row),
            )
            await self.deliveries.add(dup)
            return self._result(dup, 200, "duplicate", dup.reason, duplicate=True)
        except (
            ApiError,
            RivetrError,
        ) as exc:  # a domain (or another part's HTTP) error: its status goes on record
            await self._failed(pending, exc.status, exc.message)
            raise
        except Exception as exc:
            log.exception("webhook %s from %s failed", row.id, provider_name)
            await self._failed(pending, 500, str(exc))
            raise

    async def _claim(self, pending: _Pending) -> None:
        """Write the delivery row; its unique ``dedupe_key`` and ``digest_key`` make this the single point
        where one of two concurrent deliveries of the same id or body wins. Raises :class:`_Duplicate` for
        the loser."""
        if pending.written:
            return
        if not await self.deliveries.claim(pending.row):
            raise _Duplicate
        pending.written = True

    async def _duplicate_reason(self, row: WebhookDelivery) -> str:
        earlier = await self.deliveries.holder(row)
        if earlier is not None and earlier.dedupe_key and earlier.dedupe_key == row.dedupe_key:
            return f"delivery {row.delivery_id} was already processed"
        digest = (row.body_sha256 or "")[:12]
        if earlier is not None and earlier.delivery_id:
            return f"the same body (sha256 {digest}…) was already processed as delivery {earlier.delivery_id}"
        return f"the same body (sha256 {digest}…) was already processed"

    async def _failed(self, pending: _Pending, status: int, reason: str) -> None:
        # A failed delivery releases its id and body: the provider's "redeliver" button must be able to retry.
        fields = {
            "outcome": "error",
            "status_code": status,
            "reason": reason[:1000],
            "dedupe_key": None,
            "digest_key": None,
        }
        if pending.written:
            await self.deliveries.finish(pending.row, **fields)
        else:
            for key, value in fields.items():
                setattr(pending.row, key, value)
            await self.deliveries.add(pending.row)

    async def _authorise(
        self,
        provider: GitProvider,
        name: str,
        headers: Mapping[str, str],
        body: bytes,
        event: WebhookEvent | None,
        row: WebhookDelivery,
    ) -> set[str] | None:
        """None when the instance secret verified (every matching app and stack may deploy), else the ids of
        the apps and stacks whose own secret verified (ids are unique across both). Raises 401 (after logging the
        attempt) when nothing verifies."""
        global_secret = self.configured_secret(name)
        if global_secret and provider.verify_webhook(headers, body, global_secret):
            return None
        candidates = await self.repo_apps(event.repo_urls) if event is not None else []
        settings = await self.settings.many([app.id for app in candidates])
        app_secrets = {app_id: s for app_id, row_ in settings.items() if (s := self.settings.secret_of(row_))}
        if event is not None:
            app_secrets.update(await self.stack_secrets(event.repo_urls))
        if not global_secret and not app_secrets:
            reason = (
                f"no webhook secret configured for {name}: set "
                f"{SECRET_KEYS.get(name, f'[plugins.{name}] webhook_secret')} or a per-app or per-stack "
                "webhook secret"
            )
        else:
            allowed = {
                app_id for app_id, s in app_secrets.items() if provider.verify_webhook(headers, body, s)
            }
            if allowed:
                return allowed
            reason = "invalid or missing webhook signature"
        row.outcome, row.status_code, row.reason = "rejected", 401, reason
        row.dedupe_key = row.digest_key = None
        await self.deliveries.add(row)
        raise InvalidSignature(reason, details={"event_id": row.id})

    def _result(
        self, row: WebhookDelivery, status: int, outcome: str, reason: str | None, **extra: Any
    ) -> WebhookResult:
        body: dict[str, Any] = {"status": outcome, "event_id": row.id}
        if reason:
            body["reason"] = reason
        body.update(extra)
        receipt = WebhookReceiptOut.model_validate(body).model_dump(mode="json", exclude_unset=True)
        return WebhookResult(status, receipt, row)

    async def _finish(
        self,
        pending: _Pending,
        status: int,
        outcome: str,
        reason: str | None,
        deployments: list[str] | None = None,
        app_ids: list[str] | None = None,
        **extra: Any,
    ) -> WebhookResult:
        fields = {
            "outcome": outcome,
            "status_code": status,
            "reason": clip(reason, 1000),  # reasons quote the payload (branch, repository)
            "deployments": deployments or [],
            "app_ids": app_ids or [],
        }
        row = pending.row
        if pending.written:
            await self.deliveries.finish(row, **fields)
        else:  # decided without acting: one write records the outcome and claims the delivery id
            for key, value in fields.items():
                setattr(row, key, value)
            await self._claim(pending)
        if deployments is not None and status == 202:
            extra = {"deployments": deployments, **extra}
        return self._result(row, status, outcome, reason, **extra)

    async def _dispatch(
        self, provider: str, event: WebhookEvent, allowed: set[str] | None, row: _Pending
    ) -> WebhookResult:
        if event.kind == "ping":
            return await self._finish(row, 200, "pong", None)
        if event.kind == "other":
            return await self._finish(row, 200, "ignored", f"event {event.raw_event!r} is not handled")
        apps = [a for a in await self.repo_apps(event.repo_urls) if allowed is None or a.id in allowed]
        repo = event.repo_full_name or (event.repo_urls[0] if event.repo_urls else "?")
        # Compose stacks follow branch pushes too: those the instance's secret or their own verified.
        stacks = [
            (stack_id, stack_name)
            for stack_id, stack_name in (
                await self.repo_stacks(event.repo_urls, event.ref)
                if event.kind == "push" and not event.deleted and not skip_marker(event.commit_message)
                else []
            )
            if allowed is None or stack_id in allowed
        ]
        if stacks and not apps:
            await self._claim(row)
            return await self._deploy(provider, event, [], row, {}, stacks)
        preview_bases = [
            stack_id
            for stack_id in (
                await self.preview_stacks(event.repo_urls, event.ref) if event.kind == "pull_request" else []
            )
            if allowed is None or stack_id in allowed
        ]
        if preview_bases and not apps:
            await self._claim(row)
            stack_deps, reasons = await self._stack_previews(event, preview_bases)
            return await self._finish(
                row,
                202 if stack_deps else 200,
                "deployed" if stack_deps else "ignored",
                "; ".join(reasons) or None,
                deployments=stack_deps,
            )
        if not apps:
            return await self._finish(row, 200, "ignored", f"no app uses repository {repo}")
        settings = await self.settings.many([a.id for a in apps])
        if event.kind == "pull_request":
            previews = self.ctx.services.get("previews")
            if previews is None:
                return await self._finish(row, 200, "ignored", "previews are not available")
            await self._claim(row)  # before anything is deployed or removed
            outcome = await previews.handle(event, apps, settings)
            stack_deps, reasons = (
                await self._stack_previews(event, preview_bases) if preview_bases else ([], [])
            )
            deployments = [*(outcome.deployments or []), *stack_deps]
            return await self._finish(
                row,
                202 if stack_deps else outcome.status,
                "deployed" if stack_deps else outcome.outcome,
                "; ".join(filter(None, [outcome.reason, *reasons])) or None,
                deployments=deployments,
                app_ids=outcome.app_ids,
                previews=outcome.previews,
            )
        if event.deleted:
            return await self._finish(row, 200, "ignored", f"{event.kind} {event.ref!r} was deleted")
        marker = skip_marker(event.commit_message)
        if marker:
            return await self._finish(row, 200, "skipped", f"head commit message contains {marker}")
        if event.kind == "tag":
            targets = [
                a
                for a in apps
                if settings[a.id].follow_tags and tag_matches(settings[a.id].tag_pattern, event.ref)
            ]
            if not targets:
                return await self._finish(
                    row, 200, "ignored", f"no app of {repo} follows tags matching {event.ref!r}"
                )
        else:
            targets = [a for a in apps if branch_matches(a.branch, event.ref)]
            if not targets and not stacks:
                branches = ", ".join(sorted({a.branch for a in apps}))
                return await self._finish(
                    row,
                    200,
                    "ignored",
                    f"no app of {repo} follows branch {event.ref!r} (apps follow: {branches})",
                )
        # Auto-deploy off: the push is recorded and the app left alone (its previews still follow PRs above).
        off = sorted(a.name for a in targets if not settings[a.id].auto_deploy)
        targets = [a for a in targets if settings[a.id].auto_deploy]
        if off and not targets and not stacks:
            return await self._finish(row, 200, "ignored", f"auto-deploy is off for {', '.join(off)}")
        await self._claim(row)  # before anything is deployed
        return await self._deploy(provider, event, targets, row, settings, stacks)

    async def _deploy(
        self,
        provider: str,
        event: WebhookEvent,
        targets: list[App],
        row: _Pending,
        settings: dict[str, AppGitSettings],
        stacks: list[tuple[str, str]] | None = None,
    ) -> WebhookResult:
        running_pipeline(self.ctx)  # 503 while the pipeline is not running
        apps = self.ctx.services.apps
        accounts = self.ctx.services.get("git_accounts")
        ids: list[str] = []
        errors: list[str] = []
        for app in targets:
            try:
                if accounts is not None and settings[app.id].account_id:
                    # A linked connected account clones with a fresh token (refreshed when expired).
                    await accounts.sync_app_token(app.id, settings[app.id].account_id)
                dep = await apps.deploy(app.id, commit=event.commit_sha, trigger=f"webhook:{provider}")
                ids.append(dep.id)
            except Exception as exc:  # one app's failure must not stop the others
                log.warning("webhook deploy of app %s failed: %s", app.name, exc)
                errors.append(f"{app.name}: {getattr(exc, 'message', None) or exc}")
        for stack_id, stack_name in stacks or []:
            try:
                stack_dep = await self.ctx.services.stacks.deploy(stack_id, trigger=f"webhook:{provider}")
                ids.append(stack_dep.id)
            except Exception as exc:  # like an app's: the others still deploy
                log.warning("webhook deploy of stack %s failed: %s", stack_name, exc)
                errors.append(f"stack {stack_name}: {getattr(exc, 'message', None) or exc}")
        if not ids:
            raise DeployFailed("no deployment could be queued: " + "; ".join(errors))
        return await self._finish(
            row, 202, "deployed", "; ".join(errors) or None, deployments=ids, app_ids=[a.id for a in targets]
        )
