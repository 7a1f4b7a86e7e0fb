"""``/settings``: API tokens, SSH keys, git providers, theme, password. Changes go through the REST API
(``/api/tokens``, ``/api/ssh-keys``, ``/api/auth/password``) from the browser with the session."""

from __future__ import annotations

from typing import Any

from rivetr_core.accounts.service import token_json

from .. import queries
from ..blueprint import accounts, bp, ctx, render


def _git_providers() -> list[dict[str, Any]]:
    """Git provider plugins installed (connecting accounts arrives with the git-providers work)."""
    try:
        return [
            {"name": r.name, "description": getattr(r, "description", "")}
            for r in ctx().plugins.git_providers()
        ]
    except Exception:  # a broken provider plugin must not take the settings page down
        return []


@bp.get("/settings")
async def settings() -> tuple[str, int]:
    return await render(
        "settings.html",
        nav="settings",
        providers=_git_providers(),
        oauth=sorted(ctx().config.oauth),
        ssh_keys=await queries.ssh_keys(ctx()),
        tokens=[token_json(t) for t in await accounts().list_tokens()],
    )


@bp.get("/settings/partials/tokens")
async def settings_tokens() -> tuple[str, int]:
    return await render(
        "partials/tokens.html", tokens=[token_json(t) for t in await accounts().list_tokens()]
    )


@bp.get("/settings/partials/ssh-keys")
async def settings_ssh_keys() -> tuple[str, int]:
    return await render("partials/ssh_keys.html", ssh_keys=await queries.ssh_keys(ctx()))
