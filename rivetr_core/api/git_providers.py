"""Connected git accounts (OAuth) and the repository browser.

* ``GET /api/git-providers`` — connected accounts; ``GET /api/git-providers/available`` — every git provider
  with its webhook URL and whether webhooks/OAuth are configured.
* ``GET/DELETE /api/git-providers/{id}``, ``GET /api/git-providers/{id}/repos`` (``page``, ``per_page``,
  ``search``) and ``/branches?repo=owner/name``.
* ``GET/PUT/DELETE /api/git-providers/{provider}/settings``: the provider's OAuth app (client id, secret, server
  URL) stored encrypted in the database; each stored field overrides ``[oauth.<provider>]`` of the config file.
* ``POST /api/oauth/{provider}/authorize`` → ``{"authorize_url"}`` for the dashboard (fetch, then navigate);
  ``GET /oauth/{provider}/start`` redirects there directly (admin/API token, or a dashboard session with its
  CSRF token as ``?csrf_token=``);
  ``GET /oauth/{provider}/callback`` is where the provider sends the browser back (state + PKCE checked).

Thin handlers over :class:`~rivetr_core.gitproviders.accounts.GitAccountService` (``ctx.services.git_accounts``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, Response, current_app, redirect, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.web import browser_principal
from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.errors import ApiError, validation_error
from rivetr_core.gitproviders.accounts import GitAccountService
from rivetr_core.gitproviders.responses import (
    AuthorizeOut,
    CallbackOut,
    GitAccountOut,
    GitBranchOut,
    GitProviderOut,
    GitRepoOut,
    account_json,
    branch_json,
    repo_json,
)
from rivetr_core.gitproviders.settings import ProviderSettingsOut
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, decode_cursor, encode_cursor, envelope, list_page, page_model

bp = Blueprint("git_providers_api", __name__)


# <account_id:...> is rivetr_core.api.converters.AccountIdConverter (installed by create_app).


def accounts() -> GitAccountService:
    return rivetr().services.git_accounts


@bp.get("/api/git-providers")
@tag(["git providers"])
@validate_querystring(PageQuery)
@document_response(page_model(GitAccountOut, "GitAccountPage"))
async def list_accounts(query_args: PageQuery) -> dict[str, Any]:
    """Connected accounts in connection order (no tokens: who, which provider, when the token expires), a page
    at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    rows = await accounts().list_accounts()
    page, next_cursor = list_page(rows, lambda a: (a.created_at, a.id), (datetime, str), query_args)
    return envelope([account_json(a) for a in page], next_cursor)


@bp.get("/api/git-providers/available")
@tag(["git providers"])
@validate_querystring(PageQuery)
@document_response(page_model(GitProviderOut, "GitProviderPage"))
async def available_providers(query_args: PageQuery) -> dict[str, Any]:
    """Every registered git provider by name: webhook URL, whether a webhook secret and OAuth are configured,
    a page at a time (``{"items", "next"}``)."""
    providers = accounts().available(request.host_url)
    page, next_cursor = list_page(providers, lambda p: (p["provider"],), (str,), query_args)
    return envelope(page, next_cursor)


@bp.get("/api/git-providers/<account_id:account_id>")
@tag(["git providers"])
@document_response(GitAccountOut)
async def get_account(account_id: str) -> dict[str, Any]:
    return account_json(await accounts().get(account_id))


@bp.delete("/api/git-providers/<account_id:account_id>")
@tag(["git providers"])
async def delete_account(account_id: str) -> Response:
    """Forget a connected account and its tokens (apps linked to it are unlinked)."""
    await accounts().delete(account_id)
    return Response(status=204)


#: The highest page number of the git host a cursor may point to (the hosts cap their own lists too).
MAX_HOST_PAGE = 10000


class HostPageQuery(ApiModel):
    """``?limit=&cursor=`` over a git host's page-numbered list: the cursor holds the host's next page number."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(30, ge=1, le=100, description="Items per page (1-100).")
    cursor: str | None = Field(
        None, max_length=512, description="The `next` of the previous page (opaque); omit for the first page."
    )

    def host_page(self) -> int:
        if not self.cursor:
            return 1
        (number,) = decode_cursor(self.cursor, (int,))
        if not 1 < number <= MAX_HOST_PAGE:
            raise validation_error("cursor", "not a cursor this list returned (pass `next` back unchanged)")
        return int(number)


def _host_next(page: int, more: bool) -> str | None:
    return encode_cursor((page + 1,)) if more and page < MAX_HOST_PAGE else None


class ReposQuery(HostPageQuery):
    search: str | None = Field(None, max_length=200, description="Substring of the repository name.")


@bp.get("/api/git-providers/<account_id:account_id>/repos")
@responds(502)
@tag(["git providers"])
@validate_querystring(ReposQuery)
@document_response(page_model(GitRepoOut, "GitRepoPage"))
async def list_repos(account_id: str, query_args: ReposQuery) -> dict[str, Any]:
    """Repositories the account can reach, most recently updated first, a page at a time (``{"items",
    "next"}``; pass ``next`` back as ``?cursor=`` with the same ``search`` and ``limit``)."""
    number = query_args.host_page()
    page = await accounts().repos(
        account_id,
        page=number,
        per_page=query_args.limit,
        search=(query_args.search or "").strip() or None,
    )
    return envelope([repo_json(r) for r in page.repos], _host_next(number, page.has_next))


_SEGMENT = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
#: What the check below accepts, as documented (a subset: it also strips slashes and spaces around).
_REPO_PATTERN = rf"^(?:{_SEGMENT}(?:/{_SEGMENT})+|[0-9]+)$"


class BranchesQuery(HostPageQuery):
    limit: int = Field(100, ge=1, le=100, description="Items per page (1-100).")
    repo: str = Field(
        description="owner/name (GitLab: group/project path or project id).",
        json_schema_extra={"pattern": _REPO_PATTERN, "maxLength": 500},
    )

    @field_validator("repo")
    @classmethod
    def _repo(cls, v: str) -> str:
        v = v.strip().strip("/")
        if (
            not v
            or len(v) > 500
            or ".." in v
            or any(c.isspace() for c in v)
            or ("/" not in v and not v.isdigit())
        ):
            raise ValueError("must be owner/name (or a GitLab project id)")
        return v


@bp.get("/api/git-providers/<account_id:account_id>/branches")
@responds(502)
@tag(["git providers"])
@validate_querystring(BranchesQuery)
@document_response(page_model(GitBranchOut, "GitBranchPage"))
async def list_branches(account_id: str, query_args: BranchesQuery) -> dict[str, Any]:
    """A repository's branches, a page at a time (``{"items", "next"}``). The hosts do not say whether more
    follow: a full page has a ``next``, which may turn out empty."""
    number = query_args.host_page()
    branches = await accounts().branches(account_id, query_args.repo, page=number, per_page=query_args.limit)
    return envelope([branch_json(b) for b in branches], _host_next(number, len(branches) >= query_args.limit))


class AuthorizeIn(ApiModel):
    return_to: str | None = Field(None, description="Dashboard path to come back to after connecting.")


@bp.post("/api/oauth/<provider>/authorize")
@tag(["git providers"])
@validate_request(AuthorizeIn)
@document_response(AuthorizeOut)
async def authorize(provider: str, data: AuthorizeIn) -> dict[str, Any]:
    """Begin connecting an account: returns the provider's authorisation URL (state + PKCE S256)."""
    service = accounts()
    redirect_uri = service.redirect_uri(provider, request.host_url)
    url, state = await service.start(provider, redirect_uri=redirect_uri, return_to=data.return_to)
    return AuthorizeOut(authorize_url=url, state=state, redirect_uri=redirect_uri).model_dump()


@bp.get("/oauth/<provider>/start")
@responds(403)
@tag(["git providers"])
async def oauth_start(provider: str) -> Any:
    """Redirect the browser to the provider's consent page. Needs the admin token or an API token, or a
    dashboard session plus its CSRF token as ``?csrf_token=`` (403 ``csrf_failed`` without it)."""
    if await browser_principal(current_app) is None:  # type: ignore[arg-type]
        raise ApiError(
            401,
            "log in to the dashboard (or send the admin token) to connect an account",
            headers={"WWW-Authenticate": "Bearer"},
        )
    service = accounts()
    redirect_uri = service.redirect_uri(provider, request.host_url)
    url, _ = await service.start(provider, redirect_uri=redirect_uri, return_to=request.args.get("return_to"))
    return redirect(url, 302)


@bp.get("/oauth/<provider>/callback")
@tag(["git providers"])
async def oauth_callback(provider: str) -> Any:
    """The provider's redirect back: the state must be one we issued (single use, 10 minutes)."""
    service = accounts()
    redirect_uri = service.redirect_uri(provider, request.host_url)
    account, return_to = await service.complete(
        provider,
        code=request.args.get("code"),
        state=request.args.get("state"),
        redirect_uri=redirect_uri,
        error=request.args.get("error"),
    )
    if request.accept_mimetypes.best == "application/json":
        return CallbackOut.model_validate({"account": account_json(account)}).model_dump(mode="json"), 200
    target = return_to or "/"
    sep = "&" if "?" in target else "?"
    return redirect(f"{target}{sep}{urlencode({'git_connected': account.id})}", 302)


# ------------------------------------------------------------------------------------------ OAuth app settings
def _provider_settings(provider: str) -> dict[str, Any]:
    """The provider's settings view; 404 for a provider no plugin registers."""
    service = accounts()
    if provider not in rivetr().plugins.git_providers():
        raise NotFound.of("git provider", provider)
    try:
        service.host_api(provider)
        supported = True
    except NotFound:  # registered, but its plugin cannot connect accounts
        supported = False
    return service.provider_settings.view(provider, oauth_supported=supported)


class ProviderSettingsIn(ApiModel):
    """Fields left out keep their value; an empty string drops the stored value (the config file's applies)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(None, max_length=500, description="OAuth application client id.")
    client_secret: str | None = Field(
        None, max_length=500, description="OAuth application client secret (write-only, stored encrypted)."
    )
    base_url: str | None = Field(
        None,
        max_length=500,
        description="Web base URL of the server: GitHub Enterprise, self-managed GitLab, Gitea (https://...).",
    )
    api_url: str | None = Field(
        None, max_length=500, description="API base URL, when not derived from base_url."
    )
    redirect_uri: str | None = Field(
        None,
        max_length=500,
        description="Callback URL; default <[server] external_url>/oauth/<provider>/callback.",
    )


@bp.get("/api/git-providers/<provider>/settings")
@tag(["git providers"])
@document_response(ProviderSettingsOut)
async def get_provider_settings(provider: str) -> dict[str, Any]:
    """The provider's OAuth app settings in effect and where each comes from (``sources``: database or config);
    the client secret is never returned, only ``client_secret_set``."""
    return _provider_settings(provider)


@bp.put("/api/git-providers/<provider>/settings")
@responds(409)
@tag(["git providers"])
@validate_request(ProviderSettingsIn)
@document_response(ProviderSettingsOut)
async def put_provider_settings(provider: str, data: ProviderSettingsIn) -> dict[str, Any]:
    """Store OAuth app settings in the database (the secret encrypted); they override the config file's
    ``[oauth.<provider>]`` field by field. The result must have a client id and secret (422 naming the missing
    one); 409 ``oauth_unsupported`` for a provider that cannot connect accounts."""
    view = _provider_settings(provider)
    if not view["oauth_supported"]:
        raise Conflict(f"git provider {provider!r} does not support OAuth connect", code="oauth_unsupported")
    await accounts().provider_settings.update(provider, data.model_dump(exclude_unset=True))
    return _provider_settings(provider)


@bp.delete("/api/git-providers/<provider>/settings")
@tag(["git providers"])
async def delete_provider_settings(provider: str) -> Response:
    """Forget the stored settings: the config file's ``[oauth.<provider>]`` (if any) applies again."""
    _provider_settings(provider)
    await accounts().provider_settings.delete(provider)
    return Response(status=204)
