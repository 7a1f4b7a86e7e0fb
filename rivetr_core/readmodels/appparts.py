"""The parts of an app page and the settings page: environment variables, PR previews, SSH keys, pinned SSH host
keys. Secret values never leave here: a secret variable's value is None (the page reveals it through the API,
which checks the caller)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from rivetr_core.models.apps import AppDomain, EnvVar, SshKey

if TYPE_CHECKING:
    from rivetr_core.db import Database
    from rivetr_core.secrets import SecretBox
    from rivetr_core.services import Services

_DOMAINS = AppDomain.__table__  # type: ignore[attr-defined]
_ENV = EnvVar.__table__  # type: ignore[attr-defined]
_KEYS = SshKey.__table__  # type: ignore[attr-defined]


async def app_domains(db: Database, app_id: str) -> list[str]:
    """The app's domains in their order (the first is its primary one)."""
    stmt = select(_DOMAINS.c.domain).where(_DOMAINS.c.app_id == app_id).order_by(_DOMAINS.c.position)
    async with db.engine.connect() as conn:
        return list((await conn.execute(stmt)).scalars())


@dataclass(frozen=True, slots=True)
class EnvVarView:
    key: str
    is_secret: bool
    #: The plain value of a non-secret variable; None for a secret one.
    value: str | None
    #: ``runtime``, ``build`` or ``both`` (where the value goes at a deployment).
    scope: str = "runtime"


async def env_vars(db: Database, secrets: SecretBox, app_id: str) -> list[EnvVarView]:
    """The app's variables by key, non-secret values decrypted, secret ones masked (None)."""
    stmt = (
        select(_ENV.c.key, _ENV.c.is_secret, _ENV.c.value_enc, _ENV.c.scope)
        .where(_ENV.c.app_id == app_id)
        .order_by(_ENV.c.key)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        EnvVarView(
            key=key, is_secret=is_secret, value=None if is_secret else secrets.decrypt(value_enc), scope=scope
        )
        for key, is_secret, value_enc, scope in rows
    ]


@dataclass(frozen=True, slots=True)
class SshKeySummary:
    """A deploy key: its public half and fingerprint (never the private key)."""

    id: str
    name: str
    public_key: str
    fingerprint: str
    created_at: datetime


async def ssh_keys(db: Database) -> list[SshKeySummary]:
    """Every deploy key, by name."""
    stmt = select(_KEYS.c.id, _KEYS.c.name, _KEYS.c.public_key, _KEYS.c.fingerprint, _KEYS.c.created_at)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(_KEYS.c.name))).mappings().all()
    return [SshKeySummary(**row) for row in rows]


async def known_hosts(db: Database) -> list[dict[str, Any]]:
    """The pinned SSH host keys as ``GET /api/ssh-known-hosts`` lists them."""
    from rivetr_core.knownhosts import KnownHostsStore, known_host_json

    return [known_host_json(row) for row in await KnownHostsStore(db).list()]


async def previews(services: Services, app_id: str) -> list[dict[str, Any]]:
    """The app's pull-request previews as the API shows them (with their URL), newest PR first; [] while the
    preview service is not running."""
    service = services.get("previews")
    if service is None:
        return []
    from rivetr_core.webhooks.previews import preview_json

    return [preview_json(row, service.url_of(row.domain)) for row in await service.list_for_app(app_id)]
