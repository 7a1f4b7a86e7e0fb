"""The check itself: the matched endpoint's declared permission against the principal's grants.

:class:`RoutePermissions` resolves each endpoint once (core table, then the view's ``requires``, then the plugin
default) and caches the answer, so the check on a request is two dict/set lookups.
"""

from __future__ import annotations

import logging
from typing import Any

from rivetr_core.contract.plugin import PERMISSION_ATTRIBUTE
from rivetr_core.errors import ApiError

from .permissions import PERMISSIONS, PUBLIC, SECRETS_REVEAL, SERVER, TEAM_PERMISSIONS, Principal

log = logging.getLogger("rivetr.authz")

#: What a plugin route that does not use ``requires`` needs: plugin code can do anything the process can, so
#: until its author declares less, only the server's owners and admins may call it (safe, and today everyone).
PLUGIN_DEFAULT = SERVER

#: ``app.extensions`` keys: the names of blueprints registered by plugins, and the :class:`RoutePermissions`.
PLUGIN_BLUEPRINTS = "rivetr_plugin_blueprints"
ROUTE_PERMISSIONS = "rivetr_route_permissions"


class RoutePermissions:
    """endpoint → declared permission (None: undeclared) for one app, resolved on first use."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._resolved: dict[str, str | None] = {}

    def permission(self, endpoint: str) -> str | None:
        try:
            return self._resolved[endpoint]
        except KeyError:
            declared = self._resolved[endpoint] = self._resolve(endpoint)
            return declared

    def _resolve(self, endpoint: str) -> str | None:
        from .routes import CORE_ROUTES

        declared = CORE_ROUTES.get(endpoint)
        if declared is None:
            declared = getattr(self._app.view_functions.get(endpoint), PERMISSION_ATTRIBUTE, None)
        if declared is None and endpoint.partition(".")[0] in self._app.extensions.get(PLUGIN_BLUEPRINTS, ()):
            declared = PLUGIN_DEFAULT
        if declared is not None and declared not in PERMISSIONS and declared != PUBLIC:
            log.error("route %s declares the unknown permission %r: refused", endpoint, declared)
            return None
        if declared is None:
            log.error(
                "route %s declares no permission: refused (a bug; declare it in rivetr_core/authz/routes.py, "
                "or with rivetr_core.contract.requires in a plugin)",
                endpoint,
            )
        return declared

    def authorize(self, endpoint: str, principal: Principal | None) -> None:
        """Raise a 403 ApiError unless ``principal`` may use ``endpoint``. ``principal`` None (nobody
        identified) passes only public routes; callers refuse unauthenticated requests before this."""
        permission = self.permission(endpoint)
        if permission is None:
            raise ApiError(
                403,
                "this route declares no permission, so it is refused (a server bug: please report it)",
                code="permission_undeclared",
                details={"endpoint": endpoint},
            )
        if permission == PUBLIC or (principal is not None and permission in principal.grants):
            return
        if principal is not None and principal.needs_two_factor and permission in TEAM_PERMISSIONS:
            raise ApiError(
                403,
                "this team requires two-factor login: enable it on your profile page (/profile) to act in it",
                code="two_factor_required",
                details={"permission": permission, "team_id": principal.team_id},
            )
        raise ApiError(
            403,
            f"this credential lacks the {permission!r} permission this route needs",
            code="permission_denied",
            details={"permission": permission},
        )


def reveal_allowed(asked: bool) -> bool:
    """For a ``?reveal=true`` on a ``read`` route: False when not asked, True when the caller holds
    ``secrets.reveal`` (team owners and admins), else a 403 (a viewer or developer never sees secret values)."""
    if not asked:
        return False
    from quart import request

    principal = getattr(request, "rivetr_authz", None)
    if principal is not None and principal.allows(SECRETS_REVEAL):
        return True
    raise ApiError(
        403,
        f"this credential lacks the {SECRETS_REVEAL!r} permission revealing secret values needs",
        code="permission_denied",
        details={"permission": SECRETS_REVEAL},
    )
