"""``/api/ssh-keys``: deploy keys for cloning over SSH. The private key is encrypted at rest and never
returned; responses carry the public key (to paste into the git host) and its SHA256 fingerprint."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from rivetr_core.context import rivetr
from rivetr_core.db import isoformat
from rivetr_core.errors import ApiError, validation_error
from rivetr_core.models.apps import App, SshKey
from rivetr_core.pagination import PageQuery, envelope, keyset_page, page_model

from .apps import delete_unless_apps_use
from .appschema import SshKeyIn

bp = Blueprint("ssh_keys_api", __name__, url_prefix="/api/ssh-keys")


def key_json(row: SshKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "public_key": row.public_key,
        "fingerprint": row.fingerprint,
        "created_at": isoformat(row.created_at),
    }


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


@bp.get("")
@tag(["ssh-keys"])
@validate_querystring(PageQuery)
@document_response(page_model(dict[str, Any], "SshKeyPage"))
async def list_keys(query_args: PageQuery) -> dict[str, Any]:
    """SSH keys in creation order, a page at a time (``{"items", "next"}``); never the private key."""
    async with rivetr().db.session() as session:
        rows, next_cursor = await keyset_page(session, select(SshKey), SshKey, query_args)
    return envelope([key_json(r) for r in rows], next_cursor)


@bp.post("")
@tag(["ssh-keys"])
@validate_request(SshKeyIn)
async def create_key(data: SshKeyIn) -> tuple[dict[str, Any], int]:
    ctx = rivetr()
    try:
        public, fingerprint = public_half(data.private_key)
    except ValueError as exc:
        raise validation_error("private_key", str(exc)) from None
    row = SshKey(
        name=data.name,
        public_key=public,
        fingerprint=fingerprint,
        private_key_enc=ctx.secrets.encrypt(data.private_key.strip() + "\n"),
    )
    try:
        async with ctx.db.session() as session:
            session.add(row)
            await session.commit()
    except IntegrityError:
        raise ApiError(
            409,
            f"name: an SSH key named {data.name!r} already exists",
            details=[{"field": "name", "message": "already taken"}],
        ) from None
    return key_json(row), 201


@bp.delete("/<key_id>")
@tag(["ssh-keys"])
async def delete_key(key_id: str) -> Response:
    """Refused with 409 while an app clones with this key."""
    return await delete_unless_apps_use(
        SshKey,
        key_id,
        "SSH key",
        App.ssh_key_id,
        lambda key, count: (f"SSH key {key.name!r} is used by {count} app(s)", "ssh_key_in_use"),
    )
