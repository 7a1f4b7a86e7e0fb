"""``/api/ssh-keys``: deploy keys for cloning over SSH. The private key is encrypted at rest and never
returned; responses carry the public key (to paste into the git host) and its SHA256 fingerprint.

Thin handlers over :class:`~rivetr_core.services.ssh_keys.SshKeyService` (``ctx.services.ssh_keys``).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.ssh_keys import SshKeyOut, key_json

from .appschema import SshKeyIn

bp = Blueprint("ssh_keys_api", __name__, url_prefix="/api/ssh-keys")
SshKeyPage = page_model(SshKeyOut, "SshKeyPage")


@bp.get("")
@tag(["ssh-keys"])
@validate_querystring(PageQuery)
@document_response(SshKeyPage)
async def list_keys(query_args: PageQuery) -> dict[str, Any]:
    """SSH keys in creation order, a page at a time (``{"items", "next"}``); never the private key."""
    rows, next_cursor = await rivetr().services.ssh_keys.page(query_args)
    return envelope([key_json(r) for r in rows], next_cursor)


@bp.post("")
@tag(["ssh-keys"])
@validate_request(SshKeyIn)
@document_response(SshKeyOut, 201)
async def create_key(data: SshKeyIn) -> tuple[dict[str, Any], int]:
    """Store a private key (OpenSSH or PEM, no passphrase): 422 naming ``private_key`` when unusable, 409
    when the name is taken."""
    return key_json(await rivetr().services.ssh_keys.create(data.name, data.private_key)), 201


@bp.delete("/<key_id>")
@tag(["ssh-keys"])
async def delete_key(key_id: str) -> Response:
    """Refused with 409 while an app clones with this key."""
    await rivetr().services.ssh_keys.delete(key_id)
    return Response(status=204)
