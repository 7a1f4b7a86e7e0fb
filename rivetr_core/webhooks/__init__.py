"""Git webhooks and pull-request previews, generic over git provider plugins (core never imports one).

* :mod:`.signing` — constant-time signature helpers the provider plugins use.
* :mod:`.matching` — repository URL normalisation, branch/tag matching, skip markers.
* :mod:`.deliveries` — the delivery log (dedupe by a unique column, bounded size).
* :mod:`.settings` — per-app git settings (webhook secret, tags, preview policy, linked account).
* :mod:`.service` — :class:`~.service.WebhookService` (``ctx.services["webhooks"]``): verify → dedupe → deploy.
* :mod:`.previews` — :class:`~.previews.PreviewService` (``ctx.services["previews"]``).

``start(app, ctx)`` (in ``CORE_SERVICES``) creates the services, including the connected-accounts service
:class:`rivetr_core.gitproviders.accounts.GitAccountService` (``ctx.services["git_accounts"]``), and a
background sweeper removing previews whose base app was deleted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("rivetr.webhooks")

SWEEP_INTERVAL = 60.0


async def start(app: Any, ctx: Any) -> None:
    from rivetr_core.gitproviders.accounts import GitAccountService

    from .previews import PreviewService
    from .service import WebhookService

    ctx.services["webhooks"] = WebhookService(ctx)
    ctx.services["git_accounts"] = GitAccountService(ctx)
    await ctx.services.git_accounts.provider_settings.load()
    previews = PreviewService(ctx)
    ctx.services["previews"] = previews
    if ctx.services.get("deployments") is not None:
        await previews.recover()
    ctx.spawn(_sweep_forever(previews), "preview-sweeper")


async def _sweep_forever(previews: Any) -> None:
    """Every minute: remove previews of deleted apps, refresh expiring tokens of linked apps."""
    while True:
        await asyncio.sleep(SWEEP_INTERVAL)
        try:
            if previews.ctx.services.get("deployments") is not None:
                removed = await previews.sweep()
                if removed:
                    log.info("removed %d previews of deleted apps", removed)
            accounts = previews.ctx.services.get("git_accounts")
            if accounts is not None:
                await accounts.refresh_linked_apps()
        except Exception:
            log.warning("git sweep failed", exc_info=True)
