"""What a user needs to point a git host at one app: the webhook URLs (public addresses only), which provider the
app's repository is on, and how each host sends the secret. ``GET /api/apps/{id}/webhook`` and the app page's
Auto-deploy panel show it.

Webhook URLs are built from ``[server] external_url`` (else ``https://<[server] dashboard_domain>``, which the
proxy serves over TLS). Never from the request: the dashboard may be reached on a private address or port a git
host cannot reach, and telling users to paste that would fail silently at the host. Without either setting the
URLs are null and ``hint`` says what to set.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rivetr_core.apimodel import ApiModel

from .matching import normalize_repo_url
from .service import SECRET_KEYS

#: How each bundled provider sends the secret with a delivery (shown next to the secret).
SIGNATURES = {
    "github": "X-Hub-Signature-256 (HMAC-SHA256 of the body with the secret)",
    "gitea": "X-Gitea-Signature (HMAC-SHA256 of the body with the secret)",
    "gitlab": "X-Gitlab-Token (the secret itself, as the webhook's secret token)",
    "bitbucket": "X-Hub-Signature (HMAC-SHA256 of the body with the secret)",
}
#: Well-known hosts → provider (self-hosted servers: the linked account or the user's choice decides).
_HOSTS = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucket",
    "codeberg.org": "gitea",
}

EXTERNAL_URL_HINT = (
    "[server] external_url is not set, so Rivetr does not know the public address git hosts can reach. Set it "
    'in the config file ([server] external_url = "https://rivetr.example.com") or the environment '
    "(RIVETR_SERVER__EXTERNAL_URL) and restart the server."
)


class WebhookUrlOut(ApiModel):
    provider: str
    url: str | None = Field(
        description="The URL to give the git host; null: no public address is configured."
    )
    signature: str | None = Field(description="How the host sends the secret.")
    instance_secret_key: str | None = Field(
        description="The config key of the provider's instance-wide secret."
    )


class WebhookInfoOut(ApiModel):
    app_id: str
    external_url: str | None = Field(description="[server] external_url, as configured.")
    base_url: str | None = Field(
        description="Public base of the webhook URLs: external_url, else https://<dashboard_domain>; null when "
        "neither is set."
    )
    provider: str | None = Field(
        description="The provider of the app's repository (linked account, else the host name); null: unknown."
    )
    urls: list[WebhookUrlOut] = Field(description="One webhook URL per installed git provider.")
    hint: str | None = Field(description="What to configure when no public address is known.")
    preview_forks: str = Field(
        description="[previews] forks, the server-wide policy for pull requests from forks: approve, never, always."
    )


def public_base_url(config: Any) -> str | None:
    server = config.server
    if server.external_url:
        return str(server.external_url).rstrip("/")
    if server.dashboard_domain:
        return f"https://{server.dashboard_domain}"
    return None


def guess_provider(git_url: str, linked_provider: str | None, providers: list[str]) -> str | None:
    if linked_provider in providers:
        return linked_provider
    host = normalize_repo_url(git_url or "").partition("/")[0].partition(":")[0]
    guess = _HOSTS.get(host) or next((p for p in providers if p in host), None)
    return guess if guess in providers else None


async def webhook_info(ctx: Any, app_id: str) -> dict[str, Any]:
    """The app's :class:`WebhookInfoOut` (404 for an unknown app)."""
    webhooks = ctx.services.webhooks
    settings = await webhooks.git_settings(app_id)
    app, _ = await ctx.services.apps.get(app_id)
    linked = None
    if settings.account_id:
        linked = (await ctx.services.git_accounts.get(settings.account_id)).provider
    providers = sorted(ctx.plugins.git_providers())
    base = public_base_url(ctx.config)
    return WebhookInfoOut(
        app_id=app_id,
        external_url=str(ctx.config.server.external_url) if ctx.config.server.external_url else None,
        base_url=base,
        provider=guess_provider(app.git_url, linked, providers),
        urls=[
            WebhookUrlOut(
                provider=name,
                url=f"{base}/webhooks/{name}" if base else None,
                signature=SIGNATURES.get(name),
                instance_secret_key=SECRET_KEYS.get(name, f"[plugins.{name}] webhook_secret"),
            )
            for name in providers
        ],
        hint=None if base else EXTERNAL_URL_HINT,
        preview_forks=ctx.config.previews.forks,
    ).model_dump(mode="json")


__all__ = ["WebhookInfoOut", "guess_provider", "public_base_url", "webhook_info"]
