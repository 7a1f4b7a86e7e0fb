"""``SshKeyService`` (``ctx.services.ssh_keys``): deploy keys for cloning over SSH.

The private key is checked (an OpenSSH or PEM key without a passphrase, of a type SSH can use), stored
encrypted with the server's secret box and never handed back: callers see the public key (to paste into the
git host) and its SHA256 fingerprint. A key cannot be deleted while an app or a compose stack clones with it
(``Conflict`` ``ssh_key_in_use``); a taken name is a ``Conflict`` on ``name``.

:class:`SshKeyOut` is a key as every face shows it; :func:`key_json` builds that JSON through it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from rivetr_core.apimodel import ApiModel
from rivetr_core.contract.errors import Conflict, ValidationFailed
from rivetr_core.db import isoformat
from rivetr_core.models.apps import App, SshKey

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery


class SshKeyOut(ApiModel):
    id: str
    name: str = Field(description="Unique among SSH keys.")
    public_key: str = Field(description="OpenSSH public key: add it to the git host as a deploy key.")
    fingerprint: str = Field(description="SHA256:<base64>, as `ssh-keygen -l` prints it.")
    created_at: str


def key_json(row: SshKey) -> dict[str, Any]:
    """A key as the API shows it: never the private half."""
    return SshKeyOut.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "public_key": row.public_key,
            "fingerprint": row.fingerprint,
            "created_at": isoformat(row.created_at),
        }
    ).model_dump(mode="json")


def public_half(private_key: str) -> tuple[str, str]:
    """(OpenSSH public key, SHA256 fingerprint) of a private key; ValueError (user message) if unusable."""
    from cryptography.hazmat.primitives import serialization

    data = private_key.strip().encode() + b"\n"
    key: Any
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError("the key is protected by a passphrase; provide it without one") from None
    except (ValueError, Exception):  # cryptography raises several types for garbage input
        raise ValueError("not an OpenSSH or PEM private key") from None
    try:
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    except (ValueError, TypeError):
        raise ValueError("this key type cannot be used for SSH") from None
    blob = base64.b64decode(public.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return public.decode(), fingerprint


class SshKeyService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def page(self, page: PageQuery) -> tuple[list[SshKey], str | None]:
        """One page of keys in creation order and the next cursor."""
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            return await keyset_page(session, select(SshKey), SshKey, page)

    async def create(self, name: str, private_key: str) -> SshKey:
        """Store a key: ``ValidationFailed`` on ``private_key`` when unusable, ``Conflict`` on a taken name."""
        try:
            public, fingerprint = public_half(private_key)
        except ValueError as exc:
            raise ValidationFailed.on("private_key", str(exc)) from None
        row = SshKey(
            name=name,
            public_key=public,
            fingerprint=fingerprint,
            private_key_enc=self.ctx.secrets.encrypt(private_key.strip() + "\n"),
        )
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            raise Conflict.on(
                "name", "already taken", summary=f"an SSH key named {name!r} already exists"
            ) from None
        return row

    async def delete(self, key_id: str) -> None:
        # Compose stacks clone with keys too (raw SQL: a server without stacks never loads that feature).
        async with self.ctx.db.session() as session:
            stacks = (
                await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT count(*) FROM stacks WHERE ssh_key_id = :id"), params={"id": key_id}
                )
            ).one()[0]
        if stacks:
            raise Conflict(
                f"SSH key is used by {stacks} stack(s)", code="ssh_key_in_use", details={"stacks": stacks}
            )
        await self.ctx.services.apps.delete_unless_used(
            SshKey,
            key_id,
            "SSH key",
            App.ssh_key_id,
            lambda key, count: (f"SSH key {key.name!r} is used by {count} app(s)", "ssh_key_in_use"),
        )
