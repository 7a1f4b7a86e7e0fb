"""Who may share a domain by path (issue 22): the owners of every route key of one host.

Path routes let ``api.example.com/v1`` go to one app and ``api.example.com`` to another. Routes of one host share
its cookies (they are per host, not per path) and its certificate, so a host is shared only inside one project:
otherwise anyone who may edit an app of their own project could take ``/admin`` of another team's domain and
read its users' cookies. The dashboard's domain is shared with nobody, for the same reason.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .contract.errors import Conflict
from .routepaths import split_key

_OWNERS = sa.text(
    "SELECT d.domain, d.app_id, a.project_id, 'app' FROM app_domains d JOIN apps a ON a.id = d.app_id "
    "WHERE d.domain = :host OR d.domain LIKE :under "
    "UNION ALL SELECT s.domain, s.stack_id, t.project_id, 'stack' FROM stack_domains s "
    "JOIN stacks t ON t.id = s.stack_id WHERE s.domain = :host OR s.domain LIKE :under "
    "UNION ALL SELECT r.domain, NULL, NULL, 'manual' FROM proxy_routes r "
    "WHERE r.app_id IS NULL AND r.stack_id IS NULL AND (r.domain = :host OR r.domain LIKE :under)"
)


async def check_host_shared_in_project(
    session: Any,
    key: str,
    *,
    field: str,
    owner_id: str | None,
    project_id: str | None,
    dashboard_domain: str | None,
) -> None:
    """``Conflict`` on ``field`` when another key of ``key``'s host belongs to an app or stack of another project,
    to a manual route, or the host is the dashboard's. ``owner_id``: the app or stack being checked (its own keys
    never clash), None for a new one."""
    host, _ = split_key(key)
    if dashboard_domain and host == dashboard_domain:
        raise Conflict.on(field, f"{host} is the dashboard's", summary=f"{host!r} is the dashboard's domain")
    # Host names hold no LIKE wildcards ("_" and "%" are not allowed in them); "*" is literal in LIKE.
    rows = await session.exec(_OWNERS, params={"host": host, "under": host + "/%"})
    for other_key, other_owner, other_project, kind in rows.all():
        if other_key == key or (owner_id is not None and other_owner == owner_id):
            continue  # the same key is the caller's own uniqueness check; its own keys never clash
        if kind == "manual":
            raise Conflict.on(field, f"{host} has a manual route ({other_key})")
        if other_project != project_id:
            raise Conflict.on(
                field,
                f"{host} is used by a {kind} of another project ({other_key})",
                summary=f"the paths of {host!r} can only be shared inside one project",
            )
