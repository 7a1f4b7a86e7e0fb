"""Writing and querying audit entries, and :class:`AuditEntryOut`, an entry as the API shows it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlalchemy import String, cast, false, or_
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel
from rivetr_core.db.engine import aware, isoformat, utcnow
from rivetr_core.models.ops import AuditEntry
from rivetr_core.pagination import PageQuery, keyset_page

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.db import Database

log = logging.getLogger("rivetr.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Login-like endpoints: audited with the submitted user name as actor (the password is never read).
LOGIN_PATHS = {
    "/api/auth/login": "auth.login",
    "/login": "auth.login",
    "/api/auth/login/2fa": "auth.login.2fa",
    "/api/auth/setup": "auth.setup",
    "/setup": "auth.setup",
}


#: URL parameters that carry a credential (the one-time links of rivetr_core.api.invitations): kept out of the
#: entry's path and target, since audit readers must not be able to use a pending link.
SECRET_VIEW_ARGS = frozenset({"invitation", "token"})
REDACTED = "(redacted)"


class AuditLog:
    """Append and query. ``app.extensions["rivetr_audit"]``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, **fields: Any) -> None:
        """Append one entry; a failure is logged, never raised (auditing must not break the request)."""
        try:
            async with self.db.session() as session:
                session.add(AuditEntry(**fields))
                await session.commit()
        except Exception:
            log.exception(
                "could not write an audit entry for %s %s", fields.get("method"), fields.get("path")
            )

    async def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: int | None = None,
        outcome: Literal["success", "failure"] | None = None,
        team_id: str | None = None,
        page: PageQuery | None = None,
    ) -> tuple[list[AuditEntry], str | None]:
        """One page of the entries matching the filters, newest first (``ts`` then ``id`` descending), and the
        cursor of the next page (keyset pagination, see rivetr_core.pagination). A team-restricted request sees
        only its teams' entries whatever the filters (rivetr_core.authz.visibility). ``target``: an id, or
        several (entries naming any of them: the dashboard's search by name, which several resources may
        share); ``outcome``: failure is a status of 400 or more, as :class:`AuditEntryOut` says."""
        conditions: list[Any] = []
        if team_id:
            conditions.append(AuditEntry.team_id == team_id)
        if actor:
            conditions.append(AuditEntry.actor == actor)
        if action:
            conditions.append(col(AuditEntry.action).startswith(action, autoescape=True))
        if target:
            # Ids sit in a small JSON object; matching its text form stays portable (SQLite, PostgreSQL).
            text = cast(AuditEntry.target, String)
            wanted = [target] if isinstance(target, str) else list(target)
            conditions.append(or_(false(), *(text.contains(f'"{t}"', autoescape=True) for t in wanted if t)))
        if since:
            conditions.append(AuditEntry.ts >= aware(since))
        if until:
            conditions.append(AuditEntry.ts < aware(until))
        if status:
            conditions.append(AuditEntry.status == status)
        if outcome is not None:
            conditions.append(AuditEntry.status >= 400 if outcome == "failure" else AuditEntry.status < 400)
        async with self.db.session() as session:
            return await keyset_page(
                session,
                select(AuditEntry).where(*conditions),
                AuditEntry,
                page or PageQuery(),
                newest_first=True,
                time_attr="ts",
                id_type=int,
            )


class AuditEntryOut(ApiModel):
    id: int
    ts: str = Field(description="When the request was answered (ISO 8601, UTC).")
    actor: str = Field(description="admin, user:<name>, token:<owner>/<name>, or the name a login submitted.")
    action: str = Field(
        description="What was done: the endpoint's name (e.g. apps_api.create_app, auth.login)."
    )
    method: str
    route: str = Field(description="The route's rule, e.g. /api/apps/<app_id>.")
    path: str
    target: dict[str, Any] = Field(description="The ids in the URL, by parameter name.")
    status: int = Field(description="The response's HTTP status.")
    outcome: Literal["success", "failure"] = Field(description="failure: a status of 400 or more.")
    client: str = Field(description="Client address (behind a trusted proxy: the forwarded one).")
    request_id: str | None
    team_id: str | None = Field(
        description="The team the request acted in, or whose resource it named; null: server-wide."
    )
    changes: list[str] | None = Field(
        None,
        description="What an entry not written by a request changed: a deployment's rivetr.toml (actor "
        "'rivetr.toml at <commit>', action deployments.repo_config) lists 'port 8000 -> 8080' lines; null for "
        "a request (its body is never stored).",
    )


def entry_json(row: AuditEntry) -> dict[str, Any]:
    return AuditEntryOut.model_validate(
        {
            "id": row.id,
            "ts": isoformat(row.ts),
            "actor": row.actor,
            "action": row.action,
            "method": row.method,
            "route": row.route,
            "path": row.path,
            "target": row.target,
            "status": row.status,
            "outcome": "success" if row.status < 400 else "failure",
            "client": row.client,
            "request_id": row.request_id,
            "team_id": row.team_id,
            "changes": row.changes,
        }
    ).model_dump(mode="json")


async def _login_name() -> str | None:
    """The user name a login form or JSON body submitted (only that field is read)."""
    from quart import request

    try:
        if request.is_json:
            body = await request.get_json(silent=True)
            name = body.get("username") if isinstance(body, dict) else None
        else:
            name = (await request.form).get("username")
    except Exception:
        return None
    return str(name)[:64] if name else None


#: The dashboard's pages behind one-time links (``/invite/<token>``: creates a user, ``/reset/<token>``: sets a
#: password), audited like a login: the form's user name (or the name the view sets) is the actor.
LINK_PAGES = {"invite": "auth.invite.accept", "reset": "auth.reset"}


def _link_page_action(path: str) -> str | None:
    parts = path.split("/")
    return LINK_PAGES.get(parts[1]) if len(parts) == 3 else None


def credential_like(value: str) -> bool:
    """A one-time link's token (rvt_inv_..., rvt_rst_...), as opposed to an id that names a row."""
    from rivetr_core.accounts.credentials import INVITE_TOKEN_PREFIX, RESET_TOKEN_PREFIX

    return value.startswith((INVITE_TOKEN_PREFIX, RESET_TOKEN_PREFIX))


def install_audit(app: Quart, audit: AuditLog) -> None:
    """After every request, record it when it is a mutating API call, a login, a setup or a webhook."""
    from quart import request

    from rivetr_core.logsetup import request_id_var
    from rivetr_core.ratelimit import current_client

    from .teams import entry_team

    async def _note_team() -> None:
        # Before the handler (after the auth guard): a resource deleted by the request still names its team.
        if request.method in MUTATING and request.path.startswith("/api/"):
            principal = getattr(request, "rivetr_authz", None)
            request.rivetr_audit_team = await entry_team(audit.db, principal, request.view_args)  # type: ignore[attr-defined]

    async def _audit(response: Any) -> Any:
        path = request.path
        method = request.method
        login_action = (LOGIN_PATHS.get(path) or _link_page_action(path)) if method == "POST" else None
        if login_action is None and not (method in MUTATING and path.startswith(("/api/", "/webhooks/"))):
            return response
        principal = getattr(request, "rivetr_principal", None)
        if response.status_code == 429 and principal is None:
            # Refused before doing anything; recording each one would let a flood fill the disk.
            return response
        if login_action:
            # A login's handler may name the user (the 2FA step's body has no name) and the step: a password
            # accepted for a user with 2FA opens no session yet (auth.login.challenge).
            name = getattr(request, "rivetr_login_user", None) or await _login_name()
            action = getattr(request, "rivetr_login_action", None) or login_action
            actor = f"user:{name}" if name else "anonymous"
        else:
            actor = principal or ("webhook" if path.startswith("/webhooks/") else "anonymous")
            action = request.endpoint or f"{method.lower()}:{path}"
        route = request.url_rule.rule if request.url_rule is not None else path
        target = {k: str(v)[:200] for k, v in (request.view_args or {}).items()}
        for key in SECRET_VIEW_ARGS & target.keys():
            if credential_like(target[key]):
                path = path.replace(target[key], REDACTED)
                target[key] = REDACTED
        try:
            client = current_client(app)
        except Exception:  # the trusted-proxy list is always installed; be defensive anyway
            client = request.remote_addr or "unknown"
        await audit.record(
            ts=utcnow(),
            actor=str(actor)[:200],
            action=action[:200],
            method=method,
            route=route[:300],
            path=path[:500],
            target=target,
            status=response.status_code,
            client=(client or "unknown")[:100],
            request_id=request_id_var.get(None),
            # Refused by the guard: the team hook did not run, the principal (if any) still names its team.
            team_id=getattr(request, "rivetr_audit_team", None)
            or getattr(getattr(request, "rivetr_authz", None), "team_id", None),
        )
        return response

    app.before_request_funcs.setdefault(None, []).append(_note_team)
    app.after_request_funcs.setdefault(None, []).append(_audit)
