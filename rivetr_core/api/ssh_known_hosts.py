"""``/api/ssh-known-hosts``: the SSH host keys clones accept, pinned per git host (``host``, ``port``).

A key is pinned the first time an app clones from a host over SSH (``source: "first_use"``); the keys of
github.com, gitlab.com and bitbucket.org are preloaded (``source: "preloaded"``). A clone from a host whose key
no longer matches fails naming both fingerprints. Deleting a host's key (after a planned rotation) lets the next
clone pin the new one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from quart import Blueprint, Response
from quart_schema import tag, validate_querystring, validate_response

from rivetr_core.context import rivetr
from rivetr_core.errors import not_found
from rivetr_core.knownhosts import KnownHostsStore, known_host_json

bp = Blueprint("ssh_known_hosts_api", __name__, url_prefix="/api/ssh-known-hosts")


class KnownHostOut(BaseModel):
    id: str
    host: str = Field(description="Host name or address, lower case (IPv6 without brackets).")
    port: int
    host_pattern: str = Field(description="The host as a known_hosts line names it: host, or [host]:port.")
    key_type: str = Field(description="ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...")
    public_key: str = Field(description="The key as a known_hosts line carries it: '<type> <base64>'.")
    fingerprint: str = Field(description="SHA256:<base64>, as `ssh-keygen -l` prints it.")
    source: Literal["first_use", "preloaded"] = Field(
        description="first_use: pinned by the first clone from the host; preloaded: the host's published key."
    )
    created_at: str
    last_used_at: str | None = Field(description="Last clone that checked this host's keys.")


class KnownHostList(BaseModel):
    items: list[KnownHostOut]
    next: str | None = Field(None, description="Always null: the list is not paged.")


class KnownHostsQuery(BaseModel):
    host: str | None = Field(None, max_length=253, description="Only this host's keys.")


def store() -> KnownHostsStore:
    return KnownHostsStore(rivetr().db)


@bp.get("")
@tag(["ssh-known-hosts"])
@validate_querystring(KnownHostsQuery)
@validate_response(KnownHostList)
async def list_known_hosts(query_args: KnownHostsQuery) -> dict[str, Any]:
    """Every pinned SSH host key, by host."""
    return {"items": [known_host_json(row) for row in await store().list(query_args.host)], "next": None}


@bp.delete("/<key_id>")
@tag(["ssh-known-hosts"])
async def delete_known_host(key_id: str) -> Response:
    """Forget a pinned key: the next clone from its host pins whatever key the host then offers."""
    if await store().delete(key_id) is None:
        raise not_found("SSH known host", key_id)
    return Response(status=204)
