"""``GitAccountService`` (``ctx.services["git_accounts"]``): connected accounts for the dashboard and API.

Python API (all coroutines unless noted):

* ``configured_providers() -> list[dict]`` (sync): providers with ``[oauth.<name>]`` set and OAuth support.
* ``start(provider, redirect_uri=None, return_to=None) -> (authorize_url, state)``: a new single-use state
  (10 minutes) with a PKCE S256 verifier stored encrypted.
* ``complete(provider, code, state) -> GitAccount``: checks the state (unknown, expired, reused or issued for
  another provider → :class:`OAuthRefused`, 400 ``invalid_state``), exchanges the code with the
  verifier, reads the user and stores (or updates) the account with its tokens encrypted.
* ``list_accounts()``, ``get(id)``, ``delete(id)``; ``repos(id, page, per_page, search)``, ``branches(id, repo)``.
* ``access_token(id) -> (clone_username, token)``: a valid token, refreshed first when expired (rotated refresh
  tokens are stored back). ``sync_app_token(app_id, account_id)`` writes it into the app's ``git_token_enc``
  (the pipeline's HTTPS token) and the provider's clone user name into ``git_token_user`` before a deploy.
* ``upsert_pr_comment(provider, account_id, repo, number, body, comment_id) -> str | None``.

Tokens never leave this module in API responses or logs. Errors are domain errors
(:mod:`rivetr_core.contract.errors` and the two below), each with the status the API answers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete
from sqlmodel import col, select

from rivetr_core.config import OAuthProviderConfig
from rivetr_core.contract import GitApiError, GitHostApi, OAuthEndpoints, RepoPage
from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import aware, utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.git import GitAccount, OAuthState

from .responses import GitProviderOut, account_json
from .settings import ProviderSettingsStore

log = logging.getLogger("rivetr.gitproviders")

STATE_TTL = timedelta(minutes=10)
REFRESH_LEEWAY = 60  # seconds before expiry a token counts as expired
HTTP_TIMEOUT = 20.0


class OAuthRefused(RivetrError):
    """An OAuth callback this server cannot accept: no, unknown, used or expired state (the CSRF the state
    exists to stop), the provider's refusal, no code."""

    code = "bad_request"
    status = 400


class GitHostFailed(RivetrError):
    """The git host failed a token exchange, a token refresh or an API call (its message says which)."""

    code = "bad_gateway"
    status = 502


class GitTokenExpired(RivetrError):
    """The account's token expired and cannot be refreshed: the account must be connected again."""

    code = "token_expired"
    status = 401


def safe_return_to(value: str | None) -> str | None:
    """``value`` when it is a same-site relative path (None for none): the OAuth result is sent there, and an
    open redirect would hand it to anyone."""
    if not value:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        raise ValidationFailed(
            "return_to: must be a path on this site (/...)",
            details=[{"field": "return_to", "message": "must be a path on this site"}],
        )
    return value


class GitAccountService:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.box = ctx.secrets
        self._refresh_locks: dict[str, asyncio.Lock] = {}
        #: ``[oauth.<name>]`` as the dashboard/API/CLI changed it (stored fields over the config file's).
        self.provider_settings = ProviderSettingsStore(ctx)

    # ------------------------------------------------------------------------------------------ providers
    def oauth_config(self, provider: str) -> OAuthProviderConfig:
        config = self.provider_settings.effective(provider)
        if config is None:
            raise NotFound(
                f"OAuth is not configured for {provider!r}: set its client id and secret in Settings → Git "
                f"providers (or an [oauth.{provider}] section)",
                code="oauth_not_configured",
                details={"provider": provider},
            )
        return config

    def host_api(self, provider: str) -> Any:
        registration = self.ctx.plugins.git_providers().get(provider)
        if registration is None:
            raise NotFound.of("git provider", provider)
        services = self.ctx.services.get("webhooks")
        obj = (
            services.provider(provider)
            if services is not None
            else registration.factory(self.ctx.plugin_context())
        )
        if not isinstance(obj, GitHostApi):
            raise NotFound(
                f"git provider {provider!r} does not support OAuth connect", code="oauth_unsupported"
            )
        return obj

    def endpoints(self, provider: str) -> OAuthEndpoints:
        config = self.oauth_config(provider)
        return self.host_api(provider).oauth_endpoints(config.base_url, config.api_url)

    def configured_providers(self) -> list[dict[str, Any]]:
        out = []
        for name in self.provider_settings.names():
            try:
                endpoints = self.endpoints(name)
            except NotFound:
                continue
            out.append({"provider": name, "api_url": endpoints.api_url, "scopes": endpoints.scopes})
        return out

    def available(self, request_base_url: str) -> list[dict[str, Any]]:
        """Every registered git provider by name (:class:`~.responses.GitProviderOut`): where its webhooks go
        (under ``[server] external_url``, else the base URL the request came to), whether a webhook secret and
        OAuth are configured."""
        from rivetr_core.webhooks.service import SECRET_KEYS, advertised_base_url

        base = advertised_base_url(self.ctx.config, request_base_url)
        oauth = {p["provider"] for p in self.configured_providers()}
        webhooks = self.ctx.services.webhooks
        return [
            GitProviderOut.model_validate(
                {
                    "provider": name,
                    "description": registration.description,
                    "webhook_url": f"{base}/webhooks/{name}",
                    "webhook_secret_configured": webhooks.configured_secret(name) is not None,
                    "webhook_secret_key": SECRET_KEYS.get(name),
                    "oauth_configured": name in oauth,
                    "connect_url": f"/oauth/{name}/start" if name in oauth else None,
                }
            ).model_dump(mode="json")
            for name, registration in sorted(self.ctx.plugins.git_providers().items())
        ]

    def redirect_uri(self, provider: str, fallback_base: str | None) -> str:
        config = self.oauth_config(provider)
        if config.redirect_uri:
            return config.redirect_uri
        base = self.ctx.config.server.external_url or fallback_base
        if not base:
            raise Conflict(
                f"set [oauth.{provider}] redirect_uri or [server] external_url", code="oauth_not_configured"
            )
        return f"{base.rstrip('/')}/oauth/{provider}/callback"

    def _client(self, provider: str, **kwargs: Any) -> Any:
        # Imported lazily: authlib costs ~7 MB and only OAuth paths need it.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        config = self.oauth_config(provider)
        # leeway=0: this service refreshes tokens itself (under a lock, storing rotated refresh tokens);
        # authlib's own auto-refresh would refresh without storing the result.
        return AsyncOAuth2Client(
            leeway=0,
            client_id=config.client_id,
            client_secret=config.client_secret.get_secret_value(),
            token_endpoint_auth_method="client_secret_post",
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )

    # ------------------------------------------------------------------------------------------ connect
    async def start(
        self, provider: str, *, redirect_uri: str, return_to: str | None = None
    ) -> tuple[str, str]:
        from authlib.common.security import generate_token

        return_to = safe_return_to(return_to)
        endpoints = self.endpoints(provider)
        state = secrets.token_urlsafe(32)
        verifier = generate_token(64)
        async with self._client(
            provider,
            scope=" ".join(endpoints.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        ) as client:
            url, _ = client.create_authorization_url(
                endpoints.authorize_url, state=state, code_verifier=verifier
            )
        async with self.db.session() as session:
            await session.exec(delete(OAuthState).where(col(OAuthState.created_at) < utcnow() - STATE_TTL))  # type: ignore[call-overload]
            session.add(
                OAuthState(
                    state=state,
                    provider=provider,
                    code_verifier_enc=self.box.encrypt(verifier),
                    return_to=return_to,
                )
            )
            await session.commit()
        return url, state

    async def _take_state(self, provider: str, state: str | None) -> OAuthState:
        """Consume a state exactly once; anything else is the CSRF the state exists to stop."""
        if not state:
            raise OAuthRefused("OAuth callback without state", code="invalid_state")
        async with self.db.session() as session:
            row = await session.get(OAuthState, state[:100])
            if row is None:
                raise OAuthRefused("unknown, used or expired OAuth state", code="invalid_state")
            await session.delete(row)
            await session.commit()
        created = aware(row.created_at)
        if row.provider != provider or created is None or utcnow() - created > STATE_TTL:
            raise OAuthRefused("unknown, used or expired OAuth state", code="invalid_state")
        return row

    async def complete(
        self,
        provider: str,
        *,
        code: str | None,
        state: str | None,
        redirect_uri: str,
        error: str | None = None,
    ) -> tuple[GitAccount, str | None]:
        row = await self._take_state(provider, state)
        if error:
            raise OAuthRefused(f"the provider refused the authorisation: {error[:200]}", code="oauth_denied")
        if not code:
            raise OAuthRefused("OAuth callback without code", code="invalid_request")
        endpoints = self.endpoints(provider)
        verifier = self.box.decrypt(row.code_verifier_enc)
        try:
            async with self._client(
                provider, redirect_uri=redirect_uri, code_challenge_method="S256"
            ) as client:
                token = await client.fetch_token(endpoints.token_url, code=code, code_verifier=verifier)
                info = await self.host_api(provider).current_user(client, endpoints.api_url)
        except GitApiError as exc:
            raise GitHostFailed(exc.message, code="oauth_failed") from None
        except RivetrError:
            raise
        except Exception as exc:  # authlib OAuthError, httpx errors: never echo the token request itself
            raise GitHostFailed(
                f"token exchange with {provider} failed: {type(exc).__name__}: "
                f"{getattr(exc, 'description', None) or exc}"[:500],
                code="oauth_failed",
            ) from None
        account = await self._store(provider, info, token)
        return account, row.return_to

    async def _store(self, provider: str, info: Any, token: dict[str, Any]) -> GitAccount:
        async with self.db.session() as session:
            account = (
                await session.exec(
                    select(GitAccount).where(
                        GitAccount.provider == provider, GitAccount.remote_id == info.remote_id
                    )
                )
            ).first()
            if account is None:
                account = GitAccount(
                    provider=provider, remote_id=info.remote_id, login=info.login, access_token_enc=""
                )
            account.login, account.name, account.email, account.avatar_url = (
                info.login,
                info.name,
                info.email,
                info.avatar_url,
            )
            self._apply_token(account, token)
            session.add(account)
            await session.commit()
        return account

    def _apply_token(self, account: GitAccount, token: dict[str, Any]) -> None:
        account.access_token_enc = self.box.encrypt(token["access_token"])
        if token.get("refresh_token"):
            account.refresh_token_enc = self.box.encrypt(token["refresh_token"])
        account.token_type = str(token.get("token_type") or "bearer")[:40]
        if token.get("scope") is not None:
            scope = token["scope"]
            account.scope = (" ".join(scope) if isinstance(scope, list) else str(scope))[:1000]
        expires_at = token.get("expires_at")
        if expires_at is None and token.get("expires_in"):
            expires_at = time.time() + float(token["expires_in"])
        account.expires_at = datetime.fromtimestamp(float(expires_at), UTC) if expires_at else None
        account.updated_at = utcnow()

    # ------------------------------------------------------------------------------------------ accounts
    async def list_accounts(self) -> list[GitAccount]:
        async with self.db.session() as session:
            return list((await session.exec(select(GitAccount).order_by(col(GitAccount.created_at)))).all())

    async def get(self, account_id: str) -> GitAccount:
        async with self.db.session() as session:
            account = await session.get(GitAccount, account_id)
        if account is None:
            raise NotFound.of("git provider account", account_id)
        return account

    async def delete(self, account_id: str) -> None:
        """Forget the account and its tokens; apps linked to it are unlinked and lose the clone token it
        gave them (a disconnected account must not keep granting access through a copy)."""
        from rivetr_core.models.git import AppGitSettings

        async with self.db.session() as session:
            account = await session.get(GitAccount, account_id)
            if account is None:
                raise NotFound.of("git provider account", account_id)
            linked = (
                await session.exec(select(AppGitSettings).where(AppGitSettings.account_id == account_id))
            ).all()
            for settings in linked:
                app = await session.get(App, settings.app_id)
                if app is not None:
                    app.git_token_enc, app.git_token_user = None, None
                    session.add(app)
                settings.account_id = None
                session.add(settings)
            await session.delete(account)
            await session.commit()

    async def first_for(self, provider: str) -> GitAccount | None:
        async with self.db.session() as session:
            return (
                await session.exec(
                    select(GitAccount)
                    .where(GitAccount.provider == provider)
                    .order_by(col(GitAccount.created_at))
                )
            ).first()

    # ------------------------------------------------------------------------------------------ tokens
    def _token_dict(self, account: GitAccount) -> dict[str, Any]:
        token: dict[str, Any] = {
            "access_token": self.box.decrypt(account.access_token_enc),
            "token_type": account.token_type or "bearer",
        }
        if account.refresh_token_enc:
            token["refresh_token"] = self.box.decrypt(account.refresh_token_enc)
        expires = aware(account.expires_at)
        if expires is not None:
            token["expires_at"] = int(expires.timestamp())
        return token

    def _expired(self, account: GitAccount, leeway: float = REFRESH_LEEWAY) -> bool:
        expires = aware(account.expires_at)
        return expires is not None and expires.timestamp() - leeway <= time.time()

    async def fresh(self, account_id: str, *, leeway: float = REFRESH_LEEWAY) -> GitAccount:
        """The account with a token that is valid now (refreshed under a per-account lock if needed)."""
        account = await self.get(account_id)
        if not self._expired(account, leeway):
            return account
        lock = self._refresh_locks.setdefault(account_id, asyncio.Lock())
        async with lock:
            account = await self.get(account_id)  # another task may have refreshed meanwhile
            if not self._expired(account, leeway):
                return account
            if not account.refresh_token_enc:
                raise GitTokenExpired(
                    f"the {account.provider} token of {account.login} expired and cannot be "
                    "refreshed: connect the account again",
                    code="token_expired",
                )
            endpoints = self.endpoints(account.provider)
            try:
                async with self._client(account.provider) as client:
                    token = await client.refresh_token(
                        endpoints.token_url, refresh_token=self.box.decrypt(account.refresh_token_enc)
                    )
            except Exception as exc:
                raise GitHostFailed(
                    f"refreshing the {account.provider} token of {account.login} failed: "
                    f"{type(exc).__name__}: {getattr(exc, 'description', None) or exc}"[:500],
                    code="token_refresh_failed",
                ) from None
            async with self.db.session() as session:
                stored = await session.get(GitAccount, account_id)
                if stored is None:
                    raise NotFound.of("git provider account", account_id)
                self._apply_token(stored, dict(token))
                session.add(stored)
                await session.commit()
            log.info("refreshed the %s token of %s", account.provider, account.login)
            return stored

    async def api_client(self, account: GitAccount) -> Any:
        """An httpx client carrying the account's bearer token (refreshed first when expired)."""
        account = await self.fresh(account.id)
        return self._client(account.provider, token=self._token_dict(account))

    async def access_token(self, account_id: str, *, leeway: float = REFRESH_LEEWAY) -> tuple[str, str]:
        account = await self.fresh(account_id, leeway=leeway)
        return self.endpoints(account.provider).clone_username, self.box.decrypt(account.access_token_enc)

    async def sync_app_token(self, app_id: str, account_id: str, *, leeway: float = REFRESH_LEEWAY) -> None:
        """Put the account's current token into the app's HTTPS clone token (``apps.git_token_enc``, with the
        provider's clone user name in ``apps.git_token_user``); it is refreshed first when it expires within
        ``leeway`` seconds."""
        username, token = await self.access_token(account_id, leeway=leeway)
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            app.git_token_enc = self.box.encrypt(token)
            app.git_token_user = username
            # Earlier versions wrote the user name into the URL instead; the column carries it now.
            app.git_url = without_url_user(app.git_url, username)
            session.add(app)
            await session.commit()

    async def refresh_linked_apps(self, within: timedelta = timedelta(minutes=15)) -> int:
        """Refresh tokens expiring within ``within`` and rewrite the clone token of every app linked to
        them, so deploys started outside webhooks (API, dashboard, rollback) never clone with a dead token.
        Returns how many apps got a new token."""
        from rivetr_core.models.git import AppGitSettings

        soon = utcnow() + within
        async with self.db.session() as session:
            rows = (
                await session.exec(
                    select(AppGitSettings.app_id, GitAccount.id)
                    .join(GitAccount, col(GitAccount.id) == col(AppGitSettings.account_id))
                    .where(col(GitAccount.expires_at).is_not(None), col(GitAccount.expires_at) <= soon)
                )
            ).all()
        updated = 0
        for app_id, account_id in rows:
            try:
                await self.sync_app_token(app_id, account_id, leeway=within.total_seconds())
                updated += 1
            except Exception as exc:
                log.warning("refreshing the clone token of app %s failed: %s", app_id, exc)
        return updated

    # ------------------------------------------------------------------------------------------ browsing
    async def _call(self, account: GitAccount, what: str, fn: Any) -> Any:
        endpoints = self.endpoints(account.provider)
        try:
            async with await self.api_client(account) as client:
                return await fn(self.host_api(account.provider), client, endpoints.api_url)
        except RivetrError:  # GitApiError included: the host's own status and message
            raise
        except Exception as exc:
            raise GitHostFailed(
                f"{what} on {account.provider} failed: {type(exc).__name__}: {exc}"[:500],
                code="git_provider_error",
            ) from None

    async def repos(self, account_id: str, *, page: int, per_page: int, search: str | None) -> RepoPage:
        account = await self.get(account_id)
        return await self._call(
            account,
            "listing repositories",
            lambda api, c, url: api.list_repos(c, url, page=page, per_page=per_page, search=search),
        )  # type: ignore[no-any-return]

    async def branches(self, account_id: str, repo: str, *, page: int, per_page: int) -> list[Any]:
        account = await self.get(account_id)
        return await self._call(
            account,
            "listing branches",
            lambda api, c, url: api.list_branches(c, url, repo, page=page, per_page=per_page),
        )  # type: ignore[no-any-return]

    async def upsert_pr_comment(
        self, provider: str, account_id: str | None, repo: str, number: int, body: str, comment_id: str | None
    ) -> str | None:
        account = await self.get(account_id) if account_id else await self.first_for(provider)
        if account is None or account.provider != provider:
            return None
        return await self._call(
            account,
            "commenting",
            lambda api, c, url: api.upsert_pr_comment(  # type: ignore[no-any-return]
                c, url, repo, number, body, comment_id
            ),
        )


def without_url_user(url: str, username: str) -> str:
    """``url`` without a ``username@`` that only repeats the clone user name (no password, nothing else)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not username or parts.netloc.partition("@")[0] != username:
        return url
    host = parts.netloc.partition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


__all__ = [
    "GitAccountService",
    "GitHostFailed",
    "GitTokenExpired",
    "OAuthRefused",
    "account_json",
    "safe_return_to",
]
