"""``/audit``: the audit log as a page: who did what, to which resource, with what outcome, newest first.

Entries come from the API's own :class:`~rivetr_core.audit.recorder.AuditLog` query under the request's team
filter, so the page shows exactly what ``GET /api/audit`` answers the same person (a team's owners and admins:
their team's entries; the server's: all). Resource and team names are resolved for the whole page at once
(:mod:`rivetr_core.readmodels.audit_log`). Filters live in the URL (a view is a link); a filter change swaps the
results in place (htmx) and pushes the new URL.

The log is keyset-paged: "Older" carries the API's ``next`` cursor; "Newer" needs the cursors already walked, so
the URL keeps them (``back``, a bounded trail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from quart import abort, current_app, request, url_for

from rivetr_core.authz import AUDIT

from ..audit_names import action_label, actor_label
from ..blueprint import bp, ctx, is_htmx, render
from ..roles import page_principal

PER_PAGE = 50
#: Pages "Newer" can walk back through (beyond: back to the newest page); keeps the URL short.
TRAIL = 30
OUTCOMES = {"ok": "success", "failed": "failure"}
#: Entry target key → (read-model table, dashboard page endpoint, its URL parameter).
RESOURCE_PAGES = {
    "app_id": ("apps", "ui.app_detail", "app"),
    "service_id": ("services", "ui.service_detail", "service"),
    "stack_id": ("stacks", "ui.stack_detail", "stack"),
    "project_id": ("projects", "ui.project_detail", "project"),
    "team_id": ("teams", "ui.team_detail", "team"),
}


@dataclass
class Filters:
    user: str = ""
    action: str = ""
    resource: str = ""
    date_from: str = ""
    date_to: str = ""
    outcome: str = ""
    cursor: str = ""
    back: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        f = cls(
            user=args.get("user", "").strip(),
            action=args.get("action", "").strip(),
            resource=args.get("resource", "").strip()[:200],
            date_from=args.get("from", "").strip(),
            date_to=args.get("to", "").strip(),
            outcome=args.get("outcome", "").strip(),
            cursor=args.get("cursor", "").strip()[:512],
            back=[c[:512] for c in args.getlist("back")][-TRAIL:],
        )
        if f.outcome not in OUTCOMES:
            f.outcome = ""
        return f

    def query(self) -> dict[str, str]:
        """The filters as URL parameters (without paging)."""
        pairs = {
            "user": self.user,
            "action": self.action,
            "resource": self.resource,
            "from": self.date_from,
            "to": self.date_to,
            "outcome": self.outcome,
        }
        return {k: v for k, v in pairs.items() if v}

    def day(self, name: str, value: str) -> datetime | None:
        """A ``YYYY-MM-DD`` filter as the start of that UTC day; a bad one is reported, not applied."""
        if not value:
            return None
        try:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        except ValueError:
            self.errors[name] = "not a date (YYYY-MM-DD)"
            return None


def _link(filters: Filters, cursor: str | None, back: list[str]) -> str:
    params: list[tuple[str, str]] = list(filters.query().items())
    if cursor:
        params.append(("cursor", cursor))
    params += [("back", c) for c in back[-TRAIL:]]
    return url_for("ui.audit_log") + (f"?{urlencode(params)}" if params else "")


async def _targets(filters: Filters) -> list[str] | None:
    """What the resource filter matches: the ids of the resources with that name, and the text itself as an
    id (an entry may name a resource deleted since)."""
    if not filters.resource:
        return None
    from rivetr_core.readmodels import audit_log

    return [filters.resource, *await audit_log.ids_named(ctx().db, filters.resource)]


def _resources(target: dict[str, Any], names: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """An entry's URL ids as the page shows them: a named link where the resource still exists (and is
    visible), else the id."""
    shown = []
    for key, value in target.items():
        page = RESOURCE_PAGES.get(key)
        name = names.get(page[0], {}).get(value) if page else None
        if page and name:
            shown.append(
                {"kind": page[2], "name": name, "id": value, "href": url_for(page[1], **{key: value})}
            )
        else:
            shown.append({"kind": key.removesuffix("_id"), "name": None, "id": value, "href": None})
    return shown


async def _results(filters: Filters) -> dict[str, Any]:
    from rivetr_core.pagination import PageQuery
    from rivetr_core.readmodels import audit_log

    audit = current_app.extensions["rivetr_audit"]
    since = filters.day("from", filters.date_from)
    until = filters.day("to", filters.date_to)
    if until is not None:
        until += timedelta(days=1)  # "to" is inclusive: the whole day
    rows, next_cursor = await audit.query(
        actor=filters.user or None,
        action=filters.action or None,
        target=await _targets(filters),
        since=since,
        until=until,
        outcome=OUTCOMES.get(filters.outcome),
        page=PageQuery(limit=PER_PAGE, cursor=filters.cursor or None),
    )
    names = await audit_log.resource_names(ctx().db, (r.target for r in rows), (r.team_id for r in rows))
    entries = [
        {
            "entry": r,
            "who": actor_label(r.actor),
            "what": action_label(r.action),
            "ok": r.status < 400,
            "resources": _resources(r.target, names),
            "team": names["teams"].get(r.team_id or "", r.team_id),
            "team_href": url_for("ui.team_detail", team_id=r.team_id)
            if r.team_id in names["teams"]
            else None,
        }
        for r in rows
    ]
    trail = [*filters.back, filters.cursor]
    newer = None
    if filters.cursor:
        newer = _link(filters, filters.back[-1] if filters.back else None, filters.back[:-1])
    return {
        "entries": entries,
        "filters": filters,
        "older": _link(filters, next_cursor, trail) if next_cursor else None,
        "newer": newer,
        "newest": _link(filters, None, []),
    }


@bp.get("/audit")
async def audit_log() -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    principal = await page_principal()
    if not principal.allows(AUDIT):
        abort(403, "The audit log is for a team's owners and admins, and the server's.")
    filters = Filters.from_args(request.args)
    results = await _results(filters)
    # htmx swaps the results only (and only a 2xx: a bad date shows there as a message); a history restore
    # (back button, nothing cached) needs the whole page.
    if is_htmx() and request.headers.get("HX-History-Restore-Request") != "true":
        body, status = await render("partials/audit_rows.html", **results)
        # The address bar gets the view's canonical link (a form submits its empty fields too).
        return body, status, {"HX-Push-Url": _link(filters, filters.cursor, filters.back)}
    from rivetr_core.readmodels import audit_log as audit_readmodel

    return await render(
        "audit.html",
        status=422 if filters.errors else 200,
        nav="audit",
        choices=await audit_readmodel.filter_choices(ctx().db),
        actor_label=actor_label,
        action_label=action_label,
        **results,
    )
