"""Route table service: the DB is the source of truth, the proxy backend a replica of it.

Manual routes (``POST /api/routes``) and app routes (set by the pipeline) both go through here, so both
persist, both are restored into the proxy at start-up and both are listed with upstream health.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import ConfigDict, Field
from sqlmodel import col, select

from rivetr_core.apimodel import ApiModel

from .contract import ProxyBackend, Route, RouteStatus
from .contract.errors import Conflict, NotFound
from .db import Database, isoformat, utcnow
from .models.core import ProxyRoute, RouteSettings
from .routepaths import PREFIX_PATTERN, TARGET_PATTERN, make_key, split_key

if TYPE_CHECKING:
    from .pagination import PageQuery
    from .secrets import SecretBox

log = logging.getLogger("rivetr.routing")

#: Called after a route is stored and pushed: ``(domain, row)``, with ``row=None`` when it was removed.
RouteListener = Callable[[str, ProxyRoute | None], Awaitable[None]]


def api_upstream(host: str, port: int) -> str:
    """``host:port`` of the API as the proxy dials it: a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def dashboard_route(domain: str | None, api_address: str | None) -> ProxyRoute | None:
    """The route of ``[server] dashboard_domain`` to the API's own address (None when either is unknown).

    It comes from the configuration at every start and is never stored: removing the setting removes the route
    (the dashboard must not stay public by accident). HTTP redirects to HTTPS as soon as the proxy holds a
    certificate for it (ACME, like any app domain, or an uploaded one)."""
    if not domain or not api_address:
        return None
    return ProxyRoute(domain=domain, upstreams=[api_address], app_id=None, https_redirect=True, hsts=False)


def dashboard_domain_taken(domain: str) -> Conflict:
    return Conflict(
        f"domain {domain!r} is the dashboard's ([server] dashboard_domain)",
        code="dashboard_domain",
        details={"domain": domain},
    )


class UpstreamOut(ApiModel):
    address: str
    healthy: bool | None = Field(description="As the proxy's health probes see it; null when unknown.")
    active_requests: int | None = None
    ejected_until: str | None = Field(
        default=None,
        description="Passive health: the proxy took it out of rotation after consecutive failures until this "
        "time; null when it is in rotation (or unknown).",
    )
    ejections: int | None = Field(default=None, description="Times the proxy ejected it since it started.")


class BasicAuthOut(ApiModel):
    realm: str
    users: builtins.list[str] = Field(description="User names; hashes are never returned.")


class RedirectRule(ApiModel):
    # "from" is a Python keyword: the field is from_ in code and "from" on the wire, both ways.
    model_config = ConfigDict(defer_build=True, populate_by_name=True, serialize_by_alias=True)

    from_: str = Field(
        alias="from",
        description="Path prefix matched on a segment boundary (/old matches /old and /old/x, not /older).",
        json_schema_extra={"pattern": PREFIX_PATTERN, "maxLength": 300},
    )
    to: str = Field(
        description="A path (/new) or an http(s) URL; the rest of the path and the query follow.",
        json_schema_extra={"pattern": TARGET_PATTERN, "maxLength": 2000},
    )
    status: Literal[301, 302, 307, 308] = Field(
        default=301, description="Permanent 301/308, temporary 302/307."
    )


class RouteSettingsOut(ApiModel):
    key: str = Field(description="The route key: domain, then the path prefix unless it is /.")
    domain: str
    path_prefix: str
    strip_prefix: bool = Field(description="/v1/x reaches the app as /x (with X-Forwarded-Prefix: /v1).")
    redirect_www: str | None = Field(
        description="to-apex: www.<domain> answers 301/308 to <domain>; to-www: the apex to this www name."
    )
    redirects: builtins.list[RedirectRule]
    basic_auth: BasicAuthOut | None = Field(description="Null: no password asked.")
    compression: bool = Field(
        default=True,
        description="Responses are compressed for clients that accept it (with [proxy] compression on).",
    )
    upstream_protocol: Literal["http1", "h2c"] = Field(
        default="http1",
        description="http1: HTTP/1.1 to the app. h2c: HTTP/2 cleartext (prior knowledge) to the app, for gRPC: "
        "HTTP/2 clients (HTTPS) are forwarded stream by stream with trailers; HTTP/1.1 clients get 505.",
    )


class RouteOut(ApiModel):
    domain: str
    path_prefix: str = Field(default="/", description="Requests to the domain under this prefix come here.")
    key: str = Field(default="", description="domain + path_prefix (the domain alone for /): the route's id.")
    settings: RouteSettingsOut | None = Field(
        default=None, description="Stripping, redirects and basic auth (GET/PUT /api/routes/settings/{key})."
    )
    upstreams: builtins.list[UpstreamOut]
    app_id: str | None = Field(description="The app the route belongs to; null for a manual route.")
    stack_id: str | None = Field(
        default=None, description="The compose stack whose routed service it serves; null otherwise."
    )
    https_redirect: bool
    hsts: bool
    has_certificate: bool = Field(description="The proxy holds a certificate for the domain.")
    created_at: str
    updated_at: str


class RouteService:
    def __init__(
        self,
        db: Database,
        proxy: ProxyBackend | None,
        *,
        dashboard: ProxyRoute | None = None,
        secrets: SecretBox | None = None,
    ) -> None:
        self.db = db
        self.proxy = proxy
        #: Encrypts basic-auth users at rest; without it (tests of other features) basic auth cannot be set.
        self.secrets = secrets
        #: The dashboard's route (``[server] dashboard_domain``): listed and pushed with the stored ones, and
        #: wins over a stored route of the same domain; it cannot be changed or removed through this service.
        self.dashboard = dashboard
        self._listeners: list[RouteListener] = []

    def _check_not_dashboard(self, domain: str) -> None:
        # By host: a path route on the dashboard's domain would receive its session cookies.
        if self.dashboard is not None and split_key(domain)[0].lower() == self.dashboard.domain:
            raise dashboard_domain_taken(domain)

    def add_listener(self, listener: RouteListener) -> None:
        """Be told about every route change (the certificate manager requests certificates this way).

        Listeners run after the change is committed and pushed; they must be quick (record, wake a worker)
        and their errors are logged, never raised to whoever changed the route.
        """
        self._listeners.append(listener)

    async def _notify(self, key: str, row: ProxyRoute | None) -> None:
        """Listeners think in domains (a certificate is per domain): a path route's change is its domain's,
        and removing it while another route of the domain remains is no removal of the domain."""
        domain, prefix = split_key(key)
        if row is None or prefix != "/":
            row = await self._any_route_of(domain)
        for listener in self._listeners:
            try:
                await listener(domain, row)
            except Exception:
                log.exception("route listener failed for %s", domain)

    async def list(self) -> builtins.list[ProxyRoute]:
        async with self.db.session() as session:
            rows = list((await session.exec(select(ProxyRoute).order_by(ProxyRoute.domain))).all())
        if self.dashboard is None:
            return rows
        rows = [row for row in rows if row.domain != self.dashboard.domain]
        return sorted([*rows, self.dashboard], key=lambda row: row.domain)

    async def _any_route_of(self, domain: str) -> ProxyRoute | None:
        async with self.db.session() as session:
            query = select(ProxyRoute).where(
                sa.or_(col(ProxyRoute.domain) == domain, col(ProxyRoute.domain).startswith(domain + "/"))
            )
            return (await session.exec(query.order_by(ProxyRoute.domain))).first()

    async def get(self, domain: str) -> ProxyRoute | None:
        if self.dashboard is not None and domain == self.dashboard.domain:
            return self.dashboard
        async with self.db.session() as session:
            return await session.get(ProxyRoute, domain)

    async def set(
        self,
        domain: str,
        upstreams: builtins.list[str],
        *,
        app_id: str | None = None,
        https_redirect: bool | None = None,
        hsts: bool | None = None,
        stack_id: str | None = None,
    ) -> ProxyRoute:
        """Create or replace a route; the proxy switches atomically (old upstreams start draining).

        ``https_redirect`` / ``hsts`` = None keeps the route's current flags (a deploy switching upstreams
        does not reset them); a new route then gets the defaults: HTTP→HTTPS redirect on for app routes
        (``app_id`` set), off for manual ones, HSTS off. The proxy redirects only once it holds a
        certificate for the domain, so the default is safe before ACME has issued one.
        """
        async with self.db.session() as session:
            row = await self.stage(session, domain, upstreams, app_id, https_redirect, hsts, stack_id)
            await session.commit()
        await self.publish(row)
        return row

    async def stage(
        self,
        session: Any,
        domain: str,
        upstreams: builtins.list[str],
        app_id: str | None = None,
        https_redirect: bool | None = None,
        hsts: bool | None = None,
        stack_id: str | None = None,
    ) -> ProxyRoute:
        """:meth:`set`'s row change inside the caller's transaction, without committing or telling the proxy:
        a deployment's switch commits its routes together with the app's new current deployment, so a crash
        between the two can never leave the stored routes pointing at a container nothing tracks. Call
        :meth:`publish` with the row after the commit."""
        self._check_not_dashboard(domain)
        row = await session.get(ProxyRoute, domain)
        owned = app_id is not None or stack_id is not None
        if row is None:
            row = ProxyRoute(
                domain=domain,
                upstreams=upstreams,
                app_id=app_id,
                stack_id=stack_id,
                https_redirect=owned if https_redirect is None else https_redirect,
                hsts=bool(hsts),
            )
        else:
            row.upstreams, row.app_id, row.updated_at = list(upstreams), app_id, utcnow()
            row.stack_id = stack_id
            if https_redirect is not None:
                row.https_redirect = https_redirect
            if hsts is not None:
                row.hsts = hsts
        session.add(row)
        return row

    async def publish(self, row: ProxyRoute) -> None:
        """Push a committed route to the proxy and tell the listeners."""
        if self.proxy is not None:
            route = self._to_route(row, await self.settings_row(row.domain))
            await self._with_pages(route)
            await self.proxy.set_route(route)
        await self._notify(row.domain, row)

    async def _with_pages(
        self,
        route: Route,
        pages: dict[str, dict[str, Any]] | None = None,
        balancers: dict[str, str] | None = None,
    ) -> Route:
        """Add the app's maintenance page and error pages (:mod:`rivetr_core.apppages`) and its load balancer
        to its route."""
        if route.app_id is not None:
            fields = (pages if pages is not None else await self.app_pages(route.app_id)).get(route.app_id)
            if fields:
                route.error_pages = fields.get("error_pages", {})
                route.maintenance = fields.get("maintenance")
            if balancers is None:
                balancers = await self.app_balancers(route.app_id)
            route.load_balancer = balancers.get(route.app_id, "round_robin")
        return route

    async def app_balancers(self, app_id: str | None = None) -> dict[str, str]:
        """``{app_id: load balancer}`` of the apps that chose other than round robin (of one app if given)."""
        from .models.apps import App

        query = select(App.id, App.load_balancer).where(col(App.load_balancer) != "round_robin")
        if app_id is not None:
            query = query.where(col(App.id) == app_id)
        async with self.db.session() as session:
            return dict((await session.exec(query)).all())

    async def app_pages(self, app_id: str | None = None) -> dict[str, dict[str, Any]]:
        """``{app_id: route fields}`` of the apps with maintenance on or pages set (of one app if given)."""
        if app_id is None and not await self._any_app_pages():
            return {}  # start-up and resyncs on a server whose apps set none: no model to load for it
        from .apppages import route_fields
        from .models.app_pages import AppPages
        from .models.apps import App

        query = select(AppPages, App.name).join(App, col(App.id) == col(AppPages.app_id))
        if app_id is not None:
            query = query.where(col(AppPages.app_id) == app_id)
        async with self.db.session() as session:
            rows = (await session.exec(query)).all()
        return {row.app_id: fields for row, name in rows if (fields := route_fields(row, name))}

    async def _any_app_pages(self) -> bool:
        async with self.db.session() as session:
            found = await session.exec(sa.text("SELECT 1 FROM app_pages LIMIT 1"))  # type: ignore[call-overload]
            return found.first() is not None

    async def publish_app(self, app_id: str) -> None:
        """Push every route of an app again (its maintenance switch or pages changed). The listeners are not
        told: the routes' names and owners are unchanged."""
        if self.proxy is None:
            return
        async with self.db.session() as session:
            rows = (await session.exec(select(ProxyRoute).where(col(ProxyRoute.app_id) == app_id))).all()
        pages = await self.app_pages(app_id)
        balancers = await self.app_balancers(app_id)
        for row in rows:
            route = self._to_route(row, await self.settings_row(row.domain))
            await self.proxy.set_route(await self._with_pages(route, pages, balancers))

    async def remove(self, domain: str) -> bool:
        if self.dashboard is not None and domain == self.dashboard.domain:
            # A stored route the dashboard's shadows (an app deleted after its domain became the dashboard's):
            # forget it, but the proxy keeps serving the dashboard there.
            return await self.db.delete(ProxyRoute, domain)
        if not await self.db.delete(ProxyRoute, domain):
            return False
        if self.proxy is not None:
            host, prefix = split_key(domain)
            if prefix == "/":
                await self.proxy.remove_route(host)
            else:  # only backends with path routes get the keyword (ProxyBackend.remove_route)
                await self.proxy.remove_route(host, path_prefix=prefix)  # type: ignore[call-arg]
        await self._notify(domain, None)
        return True

    # ----------------------------------------------------------------------------- manual routes (the API)
    async def page_json(self, page: PageQuery) -> tuple[builtins.list[dict[str, Any]], str | None]:
        """A page of the routes by domain, each with its upstreams' health as the proxy sees it."""
        from .pagination import list_page

        rows, next_cursor = list_page(await self.list(), lambda r: (r.domain,), (str,), page)
        statuses = await self.statuses() if rows else {}
        settings = await self.settings_rows() if rows else {}
        return [
            route_json(
                row, statuses.get(row.domain), self.settings_json(row.domain, settings.get(row.domain))
            )
            for row in rows
        ], next_cursor

    async def set_manual(
        self,
        domain: str,
        upstreams: builtins.list[str],
        *,
        https_redirect: bool,
        hsts: bool,
        strip_prefix: bool | None = None,
        upstream_protocol: str | None = None,
    ) -> ProxyRoute:
        """Create or replace a manual route (``domain`` is the route key: ``example.com/v1`` for a path route);
        ``Conflict`` when an app owns the key (change the app). ``strip_prefix`` None keeps the setting."""
        existing = await self.get(domain)
        if existing is not None and existing.app_id:
            raise Conflict(f"domain {domain!r} belongs to an app", details={"app_id": existing.app_id})
        if existing is not None and existing.stack_id:
            raise Conflict(f"domain {domain!r} belongs to a stack", details={"stack_id": existing.stack_id})
        changes: dict[str, Any] = {}
        if strip_prefix is not None:
            changes["strip_prefix"] = strip_prefix
        if upstream_protocol is not None:
            changes["upstream_protocol"] = upstream_protocol
        if changes:
            from .routesettings import apply_changes

            self._check_not_dashboard(domain)
            async with self.db.session() as session:
                row = await session.get(RouteSettings, domain) or RouteSettings(key=domain)
                apply_changes(row, changes, domain, {}, self.secrets)
                row.updated_at = utcnow()
                session.add(row)
                await session.commit()
        return await self.set(domain, upstreams, https_redirect=https_redirect, hsts=hsts)

    async def remove_manual(self, domain: str) -> None:
        """Remove a manual route: ``NotFound``; ``Conflict`` for the dashboard's (unset ``[server]
        dashboard_domain`` instead) or an app's (remove the domain from the app)."""
        existing = await self.get(domain)
        if existing is None:
            raise NotFound.of("route", domain)
        if existing is self.dashboard:
            raise dashboard_domain_taken(existing.domain)
        if existing.app_id:
            raise Conflict(
                f"domain {domain!r} belongs to an app; remove it from the app",
                details={"app_id": existing.app_id},
            )
        if existing.stack_id:
            raise Conflict(
                f"domain {domain!r} belongs to a stack; remove it from the stack's domains",
                details={"stack_id": existing.stack_id},
            )
        await self.remove(existing.domain)

    async def restore(self) -> int:
        """Make the proxy's table exactly the stored routes (start-up, or the proxy came back).

        One atomic replace: routes deleted while the control plane was away disappear, and live traffic never
        sees a half-restored table."""
        if self.proxy is None:
            return 0
        rows = await self.list()  # with the dashboard's route
        settings = await self.settings_rows()
        pages = await self.app_pages()
        balancers = await self.app_balancers()
        await self.proxy.replace_routes(
            [
                await self._with_pages(self._to_route(row, settings.get(row.domain)), pages, balancers)
                for row in rows
            ]
        )
        return len(rows)

    async def statuses(self) -> dict[str, RouteStatus]:
        if self.proxy is None:
            return {}
        try:
            return {make_key(s.domain, s.path_prefix): s for s in await self.proxy.routes()}
        except Exception as exc:  # the API still lists routes when the proxy is down
            log.warning("proxy did not report route health: %s", exc)
            return {}

    # ------------------------------------------------------------------------------------ route settings
    async def settings_row(self, key: str) -> RouteSettings | None:
        async with self.db.session() as session:
            return await session.get(RouteSettings, key)

    async def settings_rows(self) -> dict[str, RouteSettings]:
        async with self.db.session() as session:
            return {r.key: r for r in (await session.exec(select(RouteSettings))).all()}

    def _users(self, row: RouteSettings | None) -> dict[str, str]:
        if row is None or not row.auth_users_enc or self.secrets is None:
            return {}
        import json

        users: dict[str, str] = json.loads(self.secrets.decrypt(row.auth_users_enc))
        return users

    def settings_json(self, key: str, row: RouteSettings | None) -> dict[str, Any]:
        from .routesettings import settings_out

        return settings_out(key, row, sorted(self._users(row)))

    async def get_settings(self, key: str) -> dict[str, Any]:
        return self.settings_json(key, await self.settings_row(key))

    async def put_settings(
        self, key: str, changes: dict[str, Any], *, managed_ok: bool = False
    ) -> dict[str, Any]:
        """Change the settings given (see :func:`rivetr_core.routesettings.apply_changes`), then push the
        route of ``key`` again if there is one. The key need not be routed yet (an app's domain before its
        first deployment): the settings wait for it. 409 ``managed_by_file`` when a field is one the
        ``route_settings`` of the owning app's repository file sets for ``key`` (nothing applied), unless
        ``managed_ok`` (that file's deployment, or ``rivetr apply`` once it checked its plan)."""
        from .routesettings import apply_changes

        if not managed_ok:
            from .iac.managed import refuse_managed_route

            await refuse_managed_route(self.db, key, changes)
        if self.dashboard is not None and key == self.dashboard.domain:
            raise dashboard_domain_taken(key)
        async with self.db.session() as session:
            row = await session.get(RouteSettings, key) or RouteSettings(key=key)
            apply_changes(row, changes, key, self._users(row), self.secrets)
            row.updated_at = utcnow()
            session.add(row)
            await session.commit()
            await session.refresh(row)
        route = await self.get(key)
        if route is not None and self.proxy is not None:
            await self.proxy.set_route(await self._with_pages(self._to_route(route, row)))
        return self.settings_json(key, row)

    def _to_route(self, row: ProxyRoute, settings: RouteSettings | None) -> Route:
        domain, prefix = split_key(row.domain)
        route = Route(
            domain=domain,
            upstreams=list(row.upstreams),
            https_redirect=row.https_redirect,
            hsts=row.hsts,
            app_id=row.app_id,
            path_prefix=prefix,
        )
        if settings is not None:
            route.strip_prefix = settings.strip_prefix and prefix != "/"
            route.redirect_www = settings.redirect_www if prefix == "/" else None
            route.redirects = list(settings.redirects or [])
            route.compression = settings.compression
            route.upstream_protocol = settings.upstream_protocol or "http1"
            users = self._users(settings)
            if users:
                route.auth = {"realm": settings.auth_realm or "Restricted", "users": users}
        return route


def _epoch_iso(ts: float | None) -> str | None:
    from datetime import UTC, datetime

    return None if ts is None else isoformat(datetime.fromtimestamp(ts, UTC))


def route_json(
    row: ProxyRoute, status: RouteStatus | None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A route as the API shows it, with its upstreams' health from ``status`` (None: unknown)."""
    health = {u.address: u for u in status.upstreams} if status else {}
    domain, prefix = split_key(row.domain)
    return RouteOut(
        domain=domain,
        path_prefix=prefix,
        key=row.domain,
        settings=RouteSettingsOut.model_validate(settings) if settings is not None else None,
        upstreams=[
            UpstreamOut(
                address=up,
                healthy=health[up].healthy if up in health else None,
                active_requests=health[up].active_requests if up in health else None,
                ejected_until=_epoch_iso(health[up].ejected_until) if up in health else None,
                ejections=health[up].ejections if up in health else None,
            )
            for up in row.upstreams
        ],
        app_id=row.app_id,
        stack_id=row.stack_id,
        https_redirect=row.https_redirect,
        hsts=row.hsts,
        has_certificate=status.has_certificate if status else False,
        created_at=isoformat(row.created_at) or "",
        updated_at=isoformat(row.updated_at) or "",
    ).model_dump(mode="json")
