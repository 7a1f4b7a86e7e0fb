"""Authorization: which principal may call which route (issue 20's "permission checks in one place").

* :mod:`.permissions` — the vocabulary (``read``, ``deploy``, ``write`` …), team roles, server roles, token
  scopes, and :class:`Principal` (a name plus its grants).
* :mod:`.routes` — core's route table: endpoint → permission. Plugins declare with
  :func:`rivetr_core.contract.requires`.
* :mod:`.enforce` — :class:`RoutePermissions`, the check the auth guard (:mod:`rivetr_core.auth`) runs after
  authentication and before the handler. An undeclared route is refused (fail closed).

docs/permissions.md is the guide.
"""

from .permissions import (
    AUDIT,
    MEMBERS,
    PUBLIC,
    SECRETS_REVEAL,
    SERVER,
    TEAM_ROLES,
    TERMINAL,
    Principal,
)

__all__ = ["AUDIT", "MEMBERS", "PUBLIC", "SECRETS_REVEAL", "SERVER", "TEAM_ROLES", "TERMINAL", "Principal"]
