"""``/settings``: API tokens, SSH keys, pinned SSH host keys, git providers, schedules, theme (the cleanup and the
plugins are on ``/server``: :mod:`.server`). Changes go through the REST API (``/api/tokens``, ``/api/ssh-keys``,
``/api/ssh-known-hosts``, ``/api/git-providers``) from the browser with the session; the git-provider section is
filled by ``settings.js`` from ``/api/git-providers(/available)``. Password, two-factor login and sessions are on
``/profile`` (:mod:`.profile`)."""

from __future__ import annotations

from quart import g

from rivetr_core import readmodels
from rivetr_core.accounts.service import token_json

from .. import queries
from ..blueprint import accounts, bp, ctx, render
from ..roles import page_principal


@bp.get("/settings")
async def settings() -> tuple[str, int]:
    return await render(
        "settings.html",
        nav="settings",
        ssh_keys=await queries.ssh_keys(ctx()),
        known_hosts=await _known_hosts(),
        tokens=await _tokens(),
        token_apps=await queries.list_apps(ctx()),
        schedules=await readmodels.list_schedules(ctx().db),
    )


@bp.get("/settings/partials/tokens")
async def settings_tokens() -> tuple[str, int]:
    return await render("partials/tokens.html", tokens=await _tokens())


async def _tokens() -> list[dict[str, object]]:
    """The session user's tokens; a server owner/admin sees everyone's (each row names its creator)."""
    principal = await page_principal()
    rows = await accounts().list_tokens(g.ui_session.user, everyone=principal.server_role is not None)
    return [token_json(t) for t in rows]


@bp.get("/settings/partials/ssh-keys")
async def settings_ssh_keys() -> tuple[str, int]:
    return await render("partials/ssh_keys.html", ssh_keys=await queries.ssh_keys(ctx()))


async def _known_hosts() -> list[dict[str, object]]:
    return await readmodels.known_hosts(ctx().db)


@bp.get("/settings/partials/ssh-known-hosts")
async def settings_ssh_known_hosts() -> tuple[str, int]:
    return await render("partials/ssh_known_hosts.html", known_hosts=await _known_hosts())


@bp.get("/settings/partials/schedules")
async def settings_schedules() -> tuple[str, int]:
    return await render("partials/schedules.html", schedules=await readmodels.list_schedules(ctx().db))
