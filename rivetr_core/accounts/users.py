"""User administration (``UserAdmin``): list and look users up, change a user's server role, disable, delete, end
their sessions; and one's own profile (user name).

Rules (docs/users.md): only a server owner changes, disables, resets or deletes a server owner (403
``owner_protected``); the server keeps at least one enabled owner (409 ``last_owner``); nobody disables or deletes
their own account (409 ``own_account``). Disabling or deleting a user ends their sessions at once and stops their
tokens (a deleted user's sessions, tokens, memberships and reset links go with the row: foreign keys ON DELETE
CASCADE). Who may call what at all is the route table's business (members to look users up, server to change them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict
from rivetr_core.db.engine import utcnow
from rivetr_core.models.accounts import User, UserSession
from rivetr_core.models.teams import Team, TeamMember

from .invitations import SERVER_WIDE, find_user, owner_protected, visible_teams
from .user_responses import user_admin_json

if TYPE_CHECKING:
    from rivetr_core.authz.permissions import Principal
    from rivetr_core.db import Database
    from rivetr_core.pagination import PageQuery

    from .service import AccountService


def _own_account(action: str) -> Conflict:
    return Conflict(f"you cannot {action} your own account", code="own_account")


class UserAdmin:
    def __init__(self, db: Database, accounts: AccountService) -> None:
        self.db = db
        self.accounts = accounts

    async def page(self, principal: Principal, page: PageQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of users in creation order, each with the teams (that the caller sees) and roles."""
        from rivetr_core.pagination import keyset_page

        async with self.db.session() as s:
            rows, next_cursor = await keyset_page(s, select(User), User, page)
            teams = await _teams_of(s, [u.id for u in rows], visible_teams(principal))
        return [user_admin_json(u, teams.get(u.id, [])) for u in rows], next_cursor

    async def get(self, principal: Principal, ref: str) -> dict[str, Any]:
        async with self.db.session() as s:
            user = await find_user(s, ref)
            teams = await _teams_of(s, [user.id], visible_teams(principal))
        return user_admin_json(user, teams.get(user.id, []))

    async def update(
        self,
        principal: Principal,
        actor: User | None,
        ref: str,
        *,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> dict[str, Any]:
        """Change the server role (``owner``/``admin``/``member``) and/or ``disabled``; omitted fields keep their
        value. Disabling ends the user's sessions and stops their tokens."""
        async with self.db.session() as s:
            user = await find_user(s, ref)
            was_owner = user.is_server_owner and not user.disabled
            demoting = user.is_server_owner and role not in (None, "owner")
            promoting = role == "owner" and not user.is_server_owner
            if (
                demoting or promoting or (user.is_server_owner and disabled)
            ) and principal.server_role != "owner":
                raise owner_protected()
            if disabled and actor is not None and actor.id == user.id:
                raise _own_account("disable")
            if role is not None:
                user.is_server_owner = role == "owner"
                user.role = "admin" if role == "owner" else role
            if disabled is not None:
                user.disabled = disabled
                if disabled:
                    await s.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
            user.updated_at = utcnow()
            s.add(user)
            await s.flush()
            if was_owner:
                await _keep_an_owner(s)
            await s.commit()
            teams = await _teams_of(s, [user.id], visible_teams(principal))
            shown = user_admin_json(user, teams.get(user.id, []))
        if disabled:
            self.accounts.forget_verified_tokens()
        return shown

    async def delete(self, principal: Principal, actor: User | None, ref: str) -> None:
        """Delete a user; their sessions, tokens, team memberships and reset links go with them."""
        async with self.db.session() as s:
            user = await find_user(s, ref)
            if user.is_server_owner and principal.server_role != "owner":
                raise owner_protected()
            if actor is not None and actor.id == user.id:
                raise _own_account("delete")
            was_owner = user.is_server_owner and not user.disabled
            await s.delete(user)
            await s.flush()
            if was_owner:
                await _keep_an_owner(s)
            await s.commit()
        self.accounts.forget_verified_tokens()

    async def revoke_sessions(self, principal: Principal, ref: str) -> int:
        """End every dashboard session of a user; returns how many there were."""
        async with self.db.session() as s:
            user = await find_user(s, ref)
            if user.is_server_owner and principal.server_role != "owner":
                raise owner_protected()
            result = await s.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
            await s.commit()
        return int(result.rowcount or 0)

    # ------------------------------------------------------------------------------------------- own profile
    async def me(self, user: User) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await find_user(s, user.id)
            teams = await _teams_of(s, [row.id], None)
        return user_admin_json(row, teams.get(row.id, []))

    async def rename(self, user: User, username: str) -> dict[str, Any]:
        """Change one's user name (409 when taken). Sessions and tokens stay valid: they reference the id."""
        username = self.accounts.check_username(username)
        taken = Conflict.on("username", "already taken", summary=f"user {username!r} already exists")
        try:
            async with self.db.session() as s:
                row = await find_user(s, user.id)
                clash = (await s.exec(select(User).where(User.username == username))).first()
                if clash is not None and clash.id != row.id:
                    raise taken
                row.username = username
                row.updated_at = utcnow()
                s.add(row)
                await s.commit()
        except IntegrityError:
            raise taken from None
        self.accounts.forget_verified_tokens()  # cached tokens carry the owner's old name (audit's principal)
        return await self.me(user)


async def _keep_an_owner(session: Any) -> None:
    """After a change to an enabled owner is written (so concurrent changes are counted one after the other under
    SQLite's write lock), refuse a server left without an enabled owner; the caller's transaction is rolled back.
    (A server without any owner, as before first-run setup, is not this rule's business.)"""
    owners = (
        await session.exec(
            select(sa.func.count()).select_from(User).where(col(User.is_server_owner), ~col(User.disabled))
        )
    ).one()
    if not owners:
        await session.rollback()
        raise Conflict(
            "the server would have no enabled owner left: make another user owner first", code="last_owner"
        )


async def _teams_of(
    session: Any, user_ids: list[str], visible: frozenset[str] | None
) -> dict[str, list[tuple[str, str, str]]]:
    query = (
        select(TeamMember.user_id, Team.id, Team.name, TeamMember.role)
        .join(Team, col(Team.id) == col(TeamMember.team_id))
        .where(col(TeamMember.user_id).in_(user_ids))
        .order_by(col(Team.name))
    )
    if visible is not None:
        query = query.where(col(Team.id).in_(visible))
    out: dict[str, list[tuple[str, str, str]]] = {}
    for user_id, team_id, name, role in (await session.exec(query)).all():
        out.setdefault(user_id, []).append((team_id, name, role))
    return out


__all__ = ["SERVER_WIDE", "UserAdmin"]
