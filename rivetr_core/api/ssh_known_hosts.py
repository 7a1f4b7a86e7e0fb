"""``/api/ssh-known-hosts``: the SSH host keys clones accept, pinned per git host (``host``, ``port``).

A key is pinned the first time an app clones from a host over SSH (``source: "first_use"``); the keys of
github.com, gitlab.com and bitbucket.org are preloaded (``source: "preloaded"``). A clone from a host whose key
no longer matches fails naming both fingerprints. Deleting a host's key (after a planned rotation) lets the next
clone pin the new one. Thin handlers over :class:`~rivetr_core.knownhosts.KnownHostsStore`
(``ctx.services.known_hosts``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.knownhosts import KnownHostOut, known_host_json

bp = Blueprint("ssh_known_hosts_api", __name__, url_prefix="/api/ssh-known-hosts")


class KnownHostList(ApiModel):
    items: list[KnownHostOut]
    next: str | None = Field(None, description="Always null: the list is not paged.")


class KnownHostsQuery(ApiModel):
    host: str | None = Field(None, max_length=253, description="Only this host's keys.")


@bp.get("")
@tag(["ssh-known-hosts"])
@validate_querystring(KnownHostsQuery)
@document_response(KnownHostList)
async def list_known_hosts(query_args: KnownHostsQuery) -> dict[str, Any]:
    """Every pinned SSH host key, by host."""
    rows = await rivetr().services.known_hosts.list(query_args.host)
    return {"items": [known_host_json(row) for row in rows], "next": None}


@bp.delete("/<key_id>")
@tag(["ssh-known-hosts"])
async def delete_known_host(key_id: str) -> Response:
    """Forget a pinned key: the next clone from its host pins whatever key the host then offers."""
    await rivetr().services.known_hosts.delete(key_id)
    return Response(status=204)
