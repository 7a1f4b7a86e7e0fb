"""The permission vocabulary, the role and scope tables, and :class:`Principal` (who is asking, with what grants).

A permission is a plain string naming a kind of action, not a route: a route declares the one it needs
(:mod:`.routes` for core, :func:`rivetr_core.contract.requires` for plugins). Team roles grant permissions on
the resources of their team; server roles grant the server-wide ones; an API token's scopes can only narrow what
its user's roles grant (intersection), never widen it. Which team a resource belongs to is the services' business
(another team's resource is a 404 there, not a 403 here): this layer only answers "may this principal do this
kind of thing at all".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

READ = "read"  # see anything of the team except secret values
DEPLOY = "deploy"  # deploy, rollback, restart/start/stop, cancel, take a backup, run a scheduled job now
WRITE = "write"  # create/change/delete apps, services, stacks, volumes, links, domains, env vars; restore
SECRETS_REVEAL = "secrets.reveal"  # read secret values (env vars, service credentials) in the clear
TERMINAL = "terminal"  # a shell inside a container
AUDIT = "audit"  # the audit log (of the team; of the whole server with SERVER)
MEMBERS = "members"  # invite, change and remove team members
TEAM_DELETE = "team.delete"  # delete the team or hand over its ownership
SERVER = "server"  # server-wide settings: config, plugins, cleanup, routes, certificates, global resources
ACCOUNT = "account"  # one's own account: password, sessions, own API tokens, logout

#: Every permission, with what it allows: the vocabulary a route may declare (plus :data:`PUBLIC`).
PERMISSIONS: dict[str, str] = {
    READ: "see the team's resources (secret values stay masked)",
    DEPLOY: "deploy, roll back, restart, start, stop, cancel; take backups; run scheduled jobs now",
    WRITE: "create, change and delete apps, services, stacks, volumes, links, env vars; restore backups",
    SECRETS_REVEAL: "see secret values in the clear",
    TERMINAL: "open a shell inside a container",
    AUDIT: "read the audit log",
    MEMBERS: "manage the team's members and invitations",
    TEAM_DELETE: "delete the team or transfer its ownership",
    SERVER: "server-wide settings and resources that belong to no team",
    ACCOUNT: "one's own password, sessions and API tokens",
}

#: Declared by routes that need no credential at all (login, first-run setup, auth status). It is a declaration,
#: not a grant: no principal holds it, and a public route is reachable without one.
PUBLIC = "public"

#: What a team role can grant at all (the permissions a team's ``require_2fa`` withholds).
TEAM_PERMISSIONS = frozenset({READ, DEPLOY, WRITE, SECRETS_REVEAL, TERMINAL, AUDIT, MEMBERS, TEAM_DELETE})
_TEAM_ALL = TEAM_PERMISSIONS

#: Roles per team. ``admin`` manages members too; that it cannot touch owners is a rule of the members service.
#: A developer writes secrets but never reads them back (write-only), and has no members or server rights.
TEAM_ROLES: dict[str, frozenset[str]] = {
    "owner": _TEAM_ALL,
    "admin": _TEAM_ALL - {TEAM_DELETE},
    "developer": frozenset({READ, DEPLOY, WRITE, TERMINAL}),
    "viewer": frozenset({READ}),
}

#: Server-wide roles (a user may hold one besides their team roles). Owner vs admin differ only in rules the
#: user service enforces (only an owner removes or demotes an owner), not in permissions.
SERVER_ROLES: dict[str, frozenset[str]] = {
    "owner": frozenset({SERVER, AUDIT}),
    "admin": frozenset({SERVER, AUDIT}),
}

#: What each API-token scope lets through. A token's grants are its user's grants intersected with the union
#: of its scopes, so a token never exceeds its user. Only ``admin`` reaches secrets, terminals, members,
#: server settings and the account (a leaked CI token cannot mint itself a stronger one).
SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({READ}),
    "deploy": frozenset({READ, DEPLOY}),
    "write": frozenset({READ, DEPLOY, WRITE}),
    "admin": frozenset(PERMISSIONS),
}


@lru_cache(maxsize=128)
def grants_for(
    team_role: str | None, server_role: str | None, scopes: frozenset[str] | None
) -> frozenset[str]:
    """The permissions of a principal with these roles and (for a token) scopes; ``None`` means no such role /
    not a scoped token. Every authenticated principal holds :data:`ACCOUNT` unless its scopes leave it out.
    Raises ValueError on an unknown role or scope (a bug, not bad input: callers validate input first)."""
    granted = {ACCOUNT}
    for role, table in ((team_role, TEAM_ROLES), (server_role, SERVER_ROLES)):
        if role is not None:
            if role not in table:
                raise ValueError(f"unknown role {role!r} (known: {', '.join(table)})")
            granted |= table[role]
    if scopes is not None:
        allowed: set[str] = set()
        for scope in scopes:
            if scope not in SCOPES:
                raise ValueError(f"unknown token scope {scope!r} (known: {', '.join(SCOPES)})")
            allowed |= SCOPES[scope]
        granted &= allowed
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking and what they may do, set on ``request.rivetr_authz`` (and ``websocket.rivetr_authz``)
    by the auth guard; ``request.rivetr_principal`` keeps holding :attr:`name`, which audit and others read.

    Built per request by :mod:`.principals` from a session or an API token (the user's server role, the acting
    team and the role in it, a token's scopes and restrictions); the admin token is ``Principal.full("admin")``.
    The defaults are a server owner acting in every team, so ``Principal(name)`` has every right.
    """

    #: ``"admin"``, ``"user:<username>"``, ``"token:<owner>/<name>"``: the name audit records.
    name: str
    #: Role in the team the request acts in (:data:`TEAM_ROLES`), or None for no team rights.
    team_role: str | None = "owner"
    #: Server-wide role (:data:`SERVER_ROLES`), or None.
    server_role: str | None = "owner"
    #: An API token's scopes (:data:`SCOPES`); None when not a scoped token.
    scopes: frozenset[str] | None = None
    #: The user behind the credential; None for the admin token and the tokens it made.
    user_id: str | None = None
    #: The team the request acts in; None: no single team (a server owner/admin over every team).
    team_id: str | None = None
    #: Teams whose resources are visible; None: all of them (server owners/admins, the admin token).
    team_ids: frozenset[str] | None = None
    #: A token's restriction to some apps / projects (ids); None: no restriction.
    app_ids: frozenset[str] | None = None
    project_ids: frozenset[str] | None = None
    #: The acting team requires two-factor login and the user has none: its team rights are withheld, and the
    #: check answers 403 ``two_factor_required`` instead of ``permission_denied``.
    needs_two_factor: bool = False
    #: Derived from the roles and scopes at construction; the check is one set membership test.
    grants: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grants", grants_for(self.team_role, self.server_role, self.scopes))

    @classmethod
    def full(cls, name: str) -> Principal:
        """Every right there is, over every team: the admin token's."""
        return cls(name)

    def allows(self, permission: str) -> bool:
        return permission in self.grants
