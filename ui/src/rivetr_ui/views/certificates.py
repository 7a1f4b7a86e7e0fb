"""``/certificates``: the TLS certificate of every domain (ACME-issued or uploaded) with its state, issuer, expiry
and last error; Renew now, Upload custom and Delete.

Rows are the API's own JSON (``ctx().services.tls.certificate_json``, never a key), so the page shows what
``GET /api/certificates`` answers. Uploading, renewing and deleting are REST calls from the browser
(``POST /api/certificates``, ``POST /api/certificates/{domain}/renew``, ``DELETE /api/certificates/{domain}``):
their checks and error messages (a key that does not match, ``acme_disabled`` ...) are exactly the API's. The
page only adds what a person needs at a glance: days left, the app serving each domain, and which app domains
have no certificate yet (offered when uploading).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quart import abort

from rivetr_core.pagination import PageQuery

from .. import queries
from ..blueprint import bp, ctx, render
from ..roles import page_principal

#: Certificates a page lists (one per domain: a few dozen in practice; the API and CLI page through more).
LISTED = 200
#: Fewer days left than this and the expiry is flagged (ACME renews at ``acme_renew_days``, 30 by default, so
#: an ACME certificate this close to its end means renewals are failing; an upload must be replaced by hand).
WARN_DAYS = 14
#: Status → badge colour (the app.css badge classes).
BADGES = {"valid": "ok", "expiring": "warn", "expired": "bad", "failed": "bad", "pending": "active"}


@dataclass(frozen=True, slots=True)
class AppRef:
    id: str
    name: str


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _days_left(not_after: datetime | None, now: datetime) -> int | None:
    # Whole days, rounded down: "0 days left" on the last day, negative once expired.
    return (not_after - now).days if not_after else None


def _wildcard(domain: str) -> str:
    # The wildcard name that would cover ``domain`` (one label deep, as TLS wildcards match).
    return "*." + domain.split(".", 1)[-1]


async def _listing() -> dict[str, Any]:
    principal = await page_principal()
    if not principal.allows("read"):  # what GET /api/certificates needs (authz/routes.py)
        abort(403, "Certificates are shown to members of a team and to the server's owners and admins.")
    service = ctx().services.tls
    rows, _next = await service.page(PageQuery(limit=LISTED))
    coverage = await service.wildcard_coverage()
    # Domain → app, for the apps this person may see (the team filter applies): certificates are server-wide,
    # the apps behind their domains are not.
    apps = await queries.list_apps(ctx())
    # A domain entry may hold a path (api.example.com/v1): certificates are per domain.
    by_domain = {domain.partition("/")[0]: AppRef(a.id, a.name) for a in apps for domain in a.domains}
    now = datetime.now(UTC)
    certificates = []
    for row in rows:
        cert = service.certificate_json(row, serves=coverage.get(row.domain))
        not_after = _parse(cert["not_after"])
        days = _days_left(not_after, now)
        certificates.append(
            {
                **cert,
                "not_after_dt": not_after,
                "issued_at_dt": _parse(cert["issued_at"]),
                "last_error_at_dt": _parse(cert["last_error_at"]),
                "next_attempt_at_dt": _parse(cert["next_attempt_at"]),
                "days_left": days,
                "warn": days is not None and days < WARN_DAYS,
                "badge": BADGES.get(cert["status"], ""),
                "app": by_domain.get(cert["domain"]),
            }
        )
    held = {c["domain"] for c in certificates}
    return {
        "certificates": certificates,
        "uncovered": sorted(d for d in by_domain if d not in held and _wildcard(d) not in held),
        "acme_active": service.manager.acme_active,
        "warn_days": WARN_DAYS,
    }


@bp.get("/certificates")
async def certificates() -> tuple[str, int]:
    return await render("certificates.html", nav="certificates", **await _listing())


@bp.get("/certificates/partials/list")
async def certificates_list() -> tuple[str, int]:
    return await render("partials/certificates.html", **await _listing())
